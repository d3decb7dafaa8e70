//! The agent binary as shipped outside the .deb (the QEMU initramfs, the
//! OCI image): the shared libraries it loads and a copy without debug
//! sections (58 MiB → 8 MiB).

use std::{
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// The shared libraries `binary` loads, with the dynamic loader, as paths
/// the loader will look them up by.
pub fn shared_libraries(binary: &Path) -> Result<Vec<PathBuf>> {
    let text = cmd::stdout(Command::new("ldd").arg(binary))
        .with_context(|| format!("ldd {} failed", binary.display()))?;
    let libraries: Vec<PathBuf> = text.lines().filter_map(library_path).collect();
    if !libraries
        .iter()
        .any(|l| l.to_string_lossy().contains("ld-linux"))
    {
        bail!("ldd {} names no dynamic loader:\n{text}", binary.display());
    }
    Ok(libraries)
}

/// The path in one `ldd` line: `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)`
/// or `/lib64/ld-linux-x86-64.so.2 (0x…)`; none for the vDSO.
fn library_path(line: &str) -> Option<PathBuf> {
    let line = line.trim();
    let path = line.split_once(" => ").map_or(line, |(_, path)| path);
    let path = path.split(" (").next()?;
    path.starts_with('/').then(|| PathBuf::from(path))
}

/// Writes `binary` without its debug sections to `stripped`.
pub fn strip_debug(binary: &Path, stripped: &Path) -> Result<()> {
    cmd::run(
        Command::new("objcopy")
            .arg("--strip-debug")
            .arg(binary)
            .arg(stripped),
    )
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::library_path;

    #[test]
    fn reads_library_paths_from_ldd_lines() {
        assert_eq!(
            library_path("\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f60fba1e000)"),
            Some(PathBuf::from("/lib/x86_64-linux-gnu/libc.so.6"))
        );
        assert_eq!(
            library_path("\t/lib64/ld-linux-x86-64.so.2 (0x00007f60fc2f5000)"),
            Some(PathBuf::from("/lib64/ld-linux-x86-64.so.2"))
        );
        assert_eq!(library_path("\tlinux-vdso.so.1 (0x00007f60fc2f3000)"), None);
    }
}
