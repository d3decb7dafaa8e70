//! The guest's initramfs: static busybox, the agent with the shared
//! libraries it links (as `ldd` finds them on the host), `/dev/console`
//! and `/init`, the guest test script. The agent goes in without its debug
//! sections (58 MiB → 8 MiB) and the archive uncompressed: unpacking in an
//! emulated CPU is what costs.

use std::{
    collections::BTreeSet,
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::{
    cpio::Archive,
    debian::{self, PrivateApt},
};
use crate::binary;

/// The guest's `/init`: mounts, probes, runs the guard tests, prints sentinel lines.
const INIT_SCRIPT: &str = include_str!("init.sh");

/// Writes `<vm_dir>/initramfs.cpio` holding `agent` and returns its path.
pub fn build(vm_dir: &Path, agent: &Path) -> Result<PathBuf> {
    let busybox = busybox(vm_dir)?;
    let mut archive = Archive::default();
    for dir in ["bin", "dev", "proc", "sys", "tmp", "run", "etc"] {
        archive.dir(dir);
    }
    archive.char_device("dev/console", 0o600, 5, 1);
    archive.file("init", 0o755, INIT_SCRIPT.as_bytes());
    archive.file("bin/busybox", 0o755, &read(&busybox)?);
    archive.file("bin/gmr-agent", 0o755, &read(&strip_debug(vm_dir, agent)?)?);
    let mut dirs = BTreeSet::new();
    for lib in binary::shared_libraries(agent)? {
        let path = lib.to_str().context("a library path that is not UTF-8")?;
        for parent in lib
            .ancestors()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            let parent = parent.to_str().unwrap_or_default();
            if !parent.is_empty() && parent != "/" && dirs.insert(parent.to_owned()) {
                archive.dir(parent);
            }
        }
        archive.file(path, 0o755, &read(&lib)?);
    }
    let path = vm_dir.join("initramfs.cpio");
    fs::write(&path, archive.finish()).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}

/// A copy of `binary` without debug sections, in `vm_dir`.
fn strip_debug(vm_dir: &Path, binary: &Path) -> Result<PathBuf> {
    let stripped = vm_dir.join("gmr-agent.stripped");
    binary::strip_debug(binary, &stripped)?;
    Ok(stripped)
}

/// Static busybox from bookworm's `busybox-static`, cached in `vm_dir`.
fn busybox(vm_dir: &Path) -> Result<PathBuf> {
    let path = vm_dir.join("busybox");
    if path.exists() {
        return Ok(path);
    }
    let apt = PrivateApt::new(vm_dir, "bookworm")?;
    apt.update()?;
    let work = vm_dir.join("busybox.partial");
    let _ = fs::remove_dir_all(&work);
    let deb = apt.download("busybox-static", &work)?;
    debian::extract(&deb, "./bin/busybox", &work)?;
    fs::rename(work.join("bin/busybox"), &path)
        .with_context(|| format!("{} holds no /bin/busybox", deb.display()))?;
    fs::remove_dir_all(&work)?;
    Ok(path)
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).with_context(|| format!("reading {}", path.display()))
}
