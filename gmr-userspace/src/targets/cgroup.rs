//! cgroup v2: finding the mount, resolving tag paths, and cgroup ids.
//!
//! A cgroup's id, as the kernel's `kernfs_node.id` the eBPF trigger compares
//! against, is the inode number of its directory.

use std::{
    fs,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result, bail};

use crate::proc::{files, mountinfo};

/// A resolved cgroup directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cgroup {
    /// Absolute path of the directory.
    pub path: PathBuf,
    /// The cgroup id (the directory's inode number).
    pub id: u64,
}

/// Finds where cgroup2 is mounted, from `/proc/self/mountinfo`.
pub fn cgroup2_mount() -> Result<PathBuf> {
    let mounts = mountinfo::own_mounts().context("looking for the cgroup2 mount")?;
    mountinfo::cgroup2_mount_point(&mounts).ok_or_else(|| {
        anyhow::anyhow!(
            "no cgroup2 filesystem is mounted (see {})",
            mountinfo::OWN_MOUNTINFO
        )
    })
}

/// Resolves a tag path: absolute, or relative to the cgroup2 mount. The
/// directory must exist and lie on the cgroup2 filesystem.
pub fn resolve(tag: &Path, mount: &Path) -> Result<Cgroup> {
    let path = if tag.is_absolute() {
        tag.to_path_buf()
    } else {
        mount.join(tag)
    };
    let meta = fs::metadata(&path).with_context(|| {
        format!(
            "cgroup {} (from tag {}) does not exist",
            path.display(),
            tag.display()
        )
    })?;
    if !meta.is_dir() {
        bail!("cgroup {} is not a directory", path.display());
    }
    if !path.join("cgroup.procs").exists() || !path.starts_with(mount) {
        bail!(
            "{} is not a cgroup v2 directory (the cgroup2 mount is {})",
            path.display(),
            mount.display()
        );
    }
    Ok(Cgroup {
        path,
        id: meta.ino(),
    })
}

/// The cgroup v2 directory process `pid` belongs to (`0::` in
/// `/proc/PID/cgroup`, below the cgroup2 mount).
pub fn cgroup_of_process(pid: u32) -> Result<PathBuf> {
    let path = format!("/proc/{pid}/cgroup");
    let membership = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    let relative = membership
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .with_context(|| format!("process {pid} has no cgroup v2 membership in {path}"))?;
    Ok(cgroup2_mount()?.join(relative.trim_start_matches('/')))
}

/// Every process in the cgroup at `path` and its descendants; cgroups that
/// vanish while walked are skipped.
pub fn processes_below(path: &Path) -> Vec<u32> {
    let mut pids = Vec::new();
    let mut pending = vec![path.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if let Ok(procs) = fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(procs.lines().filter_map(|l| l.trim().parse::<u32>().ok()));
        }
        if let Ok(entries) = fs::read_dir(&dir) {
            pending.extend(
                entries
                    .filter_map(Result::ok)
                    .map(|e| e.path())
                    .filter(|p| p.is_dir()),
            );
        }
    }
    pids.sort_unstable();
    pids.dedup();
    pids
}

/// The main process of the cgroup at `path`: when systemd runs, the
/// `MainPID` of the unit the directory is named after; otherwise (or for a
/// cgroup that is no unit) the longest-running process directly in it.
pub fn main_process(path: &Path) -> Option<u32> {
    let unit = path.file_name()?.to_str()?;
    if Path::new("/run/systemd/system").exists()
        && let Some(pid) = systemd_main_pid(unit)
    {
        return Some(pid);
    }
    let procs = fs::read_to_string(path.join("cgroup.procs")).ok()?;
    procs
        .lines()
        .filter_map(|l| l.trim().parse::<u32>().ok())
        .filter_map(|pid| Some((files::start_ticks(pid)?, pid)))
        .min()
        .map(|(_, pid)| pid)
}

/// `systemctl show -p MainPID --value UNIT`, when it names a live process.
fn systemd_main_pid(unit: &str) -> Option<u32> {
    let out = std::process::Command::new("systemctl")
        .args(["show", "-p", "MainPID", "--value", unit])
        .output()
        .ok()?;
    let pid: u32 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    (pid != 0).then_some(pid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn main_process_is_the_longest_running_one() {
        let Ok(mount) = cgroup2_mount() else {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        };
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIP: making cgroups needs root");
            return;
        }
        let dir = mount.join(format!("gmr-main-{}", std::process::id()));
        fs::create_dir(&dir).unwrap();
        let mut older = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        let mut newer = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        fs::write(dir.join("cgroup.procs"), newer.id().to_string()).unwrap();
        fs::write(dir.join("cgroup.procs"), older.id().to_string()).unwrap();
        let main = main_process(&dir);
        for child in [&mut older, &mut newer] {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir(&dir);
        assert_eq!(main, Some(older.id()));
    }

    #[test]
    fn resolves_relative_and_absolute_tags_and_names_bad_ones() {
        let Ok(mount) = cgroup2_mount() else {
            eprintln!("SKIP: no cgroup2 mount on this host");
            return;
        };
        let root = resolve(Path::new("/"), &mount);
        assert!(root.is_err(), "/ is not under the cgroup2 mount");
        let same = resolve(&mount, &mount).unwrap();
        assert_eq!(same.path, mount);
        let err = resolve(Path::new("no/such/service.slice"), &mount).unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("no/such/service.slice") && msg.contains("does not exist"),
            "{msg}"
        );
    }
}
