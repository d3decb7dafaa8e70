//! The container test's root filesystem: a minimal Debian made with
//! debootstrap, since no image registry is reachable from the test
//! machines, and podman runs a directory with `--rootfs`.
//!
//! It is built once into `target/realworld/rootfs-<suite>` and reused: the
//! build downloads and unpacks about 90 packages (70 to 92 s measured on a
//! shared 2-core machine, 206 MB), reuse costs nothing. A build goes into a
//! `.partial` directory renamed into place when complete, so an
//! interrupted one is never taken for a root.

use std::{path::PathBuf, process::Command, time::Instant};

use anyhow::{Context as _, Result};

use crate::{cmd, packages};

/// The Debian release the root holds (the test machines' own).
const SUITE: &str = "bookworm";

/// What the container test runs with: debootstrap builds the root, podman
/// runs it with Debian's runc (the only runtime that works here).
const PACKAGES: [&str; 3] = ["debootstrap", "podman", "runc"];

/// The root's directory, `target/realworld/rootfs-bookworm`; the container
/// test looks for it there.
fn path() -> PathBuf {
    cmd::workspace_root()
        .join("target/realworld")
        .join(format!("rootfs-{SUITE}"))
}

/// Installs podman and builds the root unless it is there. A failure (the
/// archive unreachable) is printed, not returned: the container test then
/// skips, saying the root is missing, and every other test still runs.
pub fn prepare_for_tests() {
    if let Err(e) = prepare() {
        eprintln!(
            "xtask: SKIP the container root ({}): {e:#}",
            path().display()
        );
    }
}

/// Installs what the container test needs and builds the root if
/// missing; returns the root's directory.
pub fn prepare() -> Result<PathBuf> {
    packages::install_missing(&PACKAGES)?;
    let root = path();
    if root.join("usr/bin/bash").exists() {
        return Ok(root);
    }
    let partial = root.with_extension("partial");
    if partial.exists() {
        std::fs::remove_dir_all(&partial)
            .with_context(|| format!("removing the unfinished {}", partial.display()))?;
    }
    let archives = packages::host_archives()?;
    let started = Instant::now();
    cmd::run(
        Command::new("debootstrap")
            .args(["--variant=minbase", SUITE])
            .arg(&partial)
            .arg(&archives.main),
    )?;
    std::fs::rename(&partial, &root)
        .with_context(|| format!("renaming {} to {}", partial.display(), root.display()))?;
    eprintln!(
        "xtask: built {} in {:.0?}",
        root.display(),
        started.elapsed()
    );
    Ok(root)
}
