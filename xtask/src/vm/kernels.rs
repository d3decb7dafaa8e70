//! The kernels of the matrix: Debian's cloud kernels, resolved at run time
//! to the newest package of each series (Debian drops superseded kernel
//! packages, so no name is pinned) and cached as `target/vm/kernels/<package>/vmlinuz`.

use std::{
    fs,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};

use super::debian::{self, PrivateApt};

/// A kernel series and the Debian suite whose cloud kernel is of that series.
#[derive(Clone, Copy, Debug)]
pub struct Series {
    /// `6.1`, `6.12`.
    pub version: &'static str,
    /// The Debian suite that ships it.
    pub suite: &'static str,
}

/// The series the matrix boots: bookworm's 6.1 and trixie's 6.12.
pub const MATRIX: [Series; 2] = [
    Series {
        version: "6.1",
        suite: "bookworm",
    },
    Series {
        version: "6.12",
        suite: "trixie",
    },
];

/// The metapackage that depends on the suite's current cloud kernel.
const CLOUD_METAPACKAGE: &str = "linux-image-cloud-amd64";

/// A kernel ready to boot.
#[derive(Clone, Debug)]
pub struct Kernel {
    /// The Debian package, `linux-image-6.1.0-41-cloud-amd64`.
    pub package: String,
    /// Its bzImage.
    pub vmlinuz: PathBuf,
}

/// The newest cloud kernel of `series`, downloaded unless cached. When the
/// archive cannot be reached, the newest cached kernel of the series is used.
pub fn resolve(series: Series, vm_dir: &Path) -> Result<Kernel> {
    let apt = PrivateApt::new(vm_dir, series.suite)?;
    let package = match apt.update().and_then(|()| newest_package(&apt, series)) {
        Ok(package) => package,
        Err(e) => {
            let cached = cached_package(series, vm_dir).with_context(|| {
                format!(
                    "cannot resolve the {} kernel and none is cached: {e:#}",
                    series.version
                )
            })?;
            eprintln!("xtask: {e:#}; using the cached {cached}");
            cached
        }
    };
    let dir = kernels_dir(vm_dir).join(&package);
    let vmlinuz = dir.join("vmlinuz");
    if !vmlinuz.exists() {
        fetch_vmlinuz(&apt, &package, &dir)?;
        remove_superseded(series, vm_dir, &package);
    }
    Ok(Kernel { package, vmlinuz })
}

/// The kernel package the suite's cloud metapackage depends on.
fn newest_package(apt: &PrivateApt, series: Series) -> Result<String> {
    let prefix = format!("linux-image-{}.", series.version);
    let depends = apt.depends(CLOUD_METAPACKAGE)?;
    depends
        .iter()
        .find(|d| d.starts_with(&prefix))
        .cloned()
        .with_context(|| {
            format!(
                "{CLOUD_METAPACKAGE} in {} depends on no {prefix}* package (it depends on {depends:?})",
                series.suite
            )
        })
}

/// Downloads `package` and keeps only its `vmlinuz`, in `dir`.
fn fetch_vmlinuz(apt: &PrivateApt, package: &str, dir: &Path) -> Result<()> {
    let work = dir.with_extension("partial");
    let _ = fs::remove_dir_all(&work);
    let deb = apt.download(package, &work)?;
    debian::extract(&deb, "./boot/vmlinuz-*", &work)?;
    let image = fs::read_dir(work.join("boot"))?
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .next()
        .with_context(|| format!("{} holds no /boot/vmlinuz-*", deb.display()))?;
    fs::create_dir_all(dir)?;
    fs::rename(&image, dir.join("vmlinuz"))?;
    fs::remove_dir_all(&work)?;
    Ok(())
}

/// The newest kernel of `series` already in the cache.
fn cached_package(series: Series, vm_dir: &Path) -> Option<String> {
    let prefix = format!("linux-image-{}.", series.version);
    let mut cached: Vec<(std::time::SystemTime, String)> = fs::read_dir(kernels_dir(vm_dir))
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.path().join("vmlinuz").exists())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let modified = e.metadata().ok()?.modified().ok()?;
            name.starts_with(&prefix).then_some((modified, name))
        })
        .collect();
    cached.sort();
    cached.pop().map(|(_, name)| name)
}

/// Removes the cached kernels of `series` other than `current`.
fn remove_superseded(series: Series, vm_dir: &Path, current: &str) {
    let prefix = format!("linux-image-{}.", series.version);
    let Ok(entries) = fs::read_dir(kernels_dir(vm_dir)) else {
        return;
    };
    for entry in entries.filter_map(|e| e.ok()) {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(&prefix) && name != current {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

fn kernels_dir(vm_dir: &Path) -> PathBuf {
    vm_dir.join("kernels")
}
