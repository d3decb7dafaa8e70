//! `cargo xtask test`: builds everything, installs the test tools the
//! fixtures need, and runs every test of the workspace as root.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{build, cmd};

/// Debian packages the tests use: gcc builds the C fixtures, gdb is the
/// reference the stacks are compared with, libc6-dbg gives both sides
/// libc's full symbol names.
const TEST_PACKAGES: [&str; 3] = ["gcc", "gdb", "libc6-dbg"];

/// Runs all tests.
pub fn run() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the tests load eBPF programs and make cgroups: run them as root (sudo cargo xtask test)"
        );
    }
    let agent = build::run()?;
    install_missing_packages(&TEST_PACKAGES)?;
    cmd::run(
        Command::new("cargo")
            .current_dir(cmd::workspace_root())
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("GMR_AGENT", &agent),
    )
}

/// apt-get installs whichever of `packages` are missing.
pub fn install_missing_packages(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages
        .iter()
        .copied()
        .filter(|p| {
            !cmd::stdout(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|s| s.ends_with("installed"))
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    cmd::run(Command::new("apt-get").arg("update"))?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}
