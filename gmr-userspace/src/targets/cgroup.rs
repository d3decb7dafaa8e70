//! cgroup v2: finding the mount, resolving tag paths, and cgroup ids.
//!
//! A cgroup's id, as the kernel's `kernfs_node.id` the eBPF trigger compares
//! against, is the inode number of its directory.
//!
//! `/proc/PID/cgroup` gives paths relative to the reader's cgroup
//! namespace. An agent in a container with a cgroup namespace of its own
//! (the default of podman and containerd on cgroup v2 hosts, and what a
//! Kubernetes pod gets) sees `/` for its own cgroup and `/../..` paths for
//! the host's processes, while the mounted host hierarchy holds full
//! paths; [`cgroup_of_process`] maps one to the other through the place of
//! the agent's namespace root in the mount.

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
    let mount = cgroup2_mount()?;
    let root = namespace_root(&mount)?;
    Ok(join_normalized(root, &v2_membership(pid)?))
}

/// Process `pid`'s cgroup v2 path as its `/proc/PID/cgroup` says (relative
/// to the agent's cgroup namespace).
fn v2_membership(pid: u32) -> Result<String> {
    let path = format!("/proc/{pid}/cgroup");
    let membership = fs::read_to_string(&path).with_context(|| format!("cannot read {path}"))?;
    membership
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .map(str::to_owned)
        .with_context(|| format!("process {pid} has no cgroup v2 membership in {path}"))
}

/// Where the agent's cgroup namespace root is below `mount`: the mount
/// itself in the host's namespace; in a namespace of its own, found once
/// as the directory whose `cgroup.procs` lists the agent, less the path
/// the agent sees for itself.
fn namespace_root(mount: &Path) -> Result<&'static Path> {
    static ROOT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(root) = ROOT.get() {
        return Ok(root);
    }
    let own = v2_membership(std::process::id())?;
    let lists_us = |dir: &Path| {
        fs::read_to_string(dir.join("cgroup.procs")).is_ok_and(|procs| {
            procs
                .lines()
                .any(|l| l.trim().parse() == Ok(std::process::id()))
        })
    };
    let own_dir = if lists_us(&join_normalized(mount, &own)) {
        Some(join_normalized(mount, &own))
    } else {
        directories_listing(mount, &lists_us)
    };
    let root = own_dir
        .and_then(|dir| {
            let depth = Path::new(&own).components().count().saturating_sub(1);
            dir.ancestors().nth(depth).map(Path::to_path_buf)
        })
        .with_context(|| {
            format!(
                "the agent's own cgroup (\"{own}\" in its cgroup namespace) is not below {}",
                mount.display()
            )
        })?;
    Ok(ROOT.get_or_init(|| root))
}

/// The first directory below `root` (itself included) satisfying `wanted`.
fn directories_listing(root: &Path, wanted: &dyn Fn(&Path) -> bool) -> Option<PathBuf> {
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        if wanted(&dir) {
            return Some(dir);
        }
        if let Ok(entries) = fs::read_dir(&dir) {
            pending.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    None
}

/// `base` joined with the absolute cgroup path `path`, its `..` elements
/// (a process outside the agent's cgroup namespace) resolved.
fn join_normalized(base: &Path, path: &str) -> PathBuf {
    let mut joined = base.to_path_buf();
    for element in path.split('/').filter(|e| !e.is_empty() && *e != ".") {
        if element == ".." {
            joined.pop();
        } else {
            joined.push(element);
        }
    }
    joined
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
    fn paths_outside_the_agents_cgroup_namespace_are_resolved() {
        let root =
            Path::new("/sys/fs/cgroup/kubepods.slice/kubepods-pod1.slice/cri-containerd-a.scope");
        assert_eq!(join_normalized(root, "/"), root);
        assert_eq!(
            join_normalized(root, "/../../../system.slice/nova-api.service"),
            Path::new("/sys/fs/cgroup/system.slice/nova-api.service")
        );
        assert_eq!(
            join_normalized(Path::new("/sys/fs/cgroup"), "/system.slice/x.service"),
            Path::new("/sys/fs/cgroup/system.slice/x.service")
        );
    }

    #[test]
    fn the_agents_own_cgroup_is_found_through_its_namespace_root() {
        let Ok(mount) = cgroup2_mount() else {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        };
        let own = cgroup_of_process(std::process::id()).unwrap();
        let procs = fs::read_to_string(own.join("cgroup.procs")).unwrap();
        assert!(
            procs
                .lines()
                .any(|l| l.trim() == std::process::id().to_string()),
            "{} lists the test process",
            own.display()
        );
        assert!(own.starts_with(&mount));
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
