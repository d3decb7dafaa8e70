//! Throwaway cgroup v2 groups that take their processes with them.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Distinguishes the groups one test process creates.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// How long `Drop` waits for killed processes to leave the group.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the cgroup v2 hierarchy is mounted, from `/proc/self/mountinfo`
/// (e.g. `/sys/fs/cgroup`, or `/sys/fs/cgroup/unified` on hybrid hosts).
#[track_caller]
pub fn cgroup2_mount() -> PathBuf {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap_or_else(|e| panic!("read /proc/self/mountinfo: {e}"));
    mountinfo
        .lines()
        .find_map(cgroup2_mount_point)
        .unwrap_or_else(|| panic!("no cgroup2 filesystem in /proc/self/mountinfo"))
}

/// The mount point of one mountinfo line if its filesystem type is `cgroup2`.
fn cgroup2_mount_point(line: &str) -> Option<PathBuf> {
    let (mount_fields, fs_fields) = line.split_once(" - ")?;
    if fs_fields.split(' ').next()? != "cgroup2" {
        return None;
    }
    let mount_point = mount_fields.split(' ').nth(4)?;
    Some(PathBuf::from(unescape_octal(mount_point)))
}

/// Undoes mountinfo's `\ooo` escaping of spaces, tabs, newlines and backslashes.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], escaped) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cgroup v2 directory `<mount>/gmr-test-<pid>-<n>`. Dropping it kills
/// every process still inside, waits for them to leave, and removes it.
#[derive(Debug)]
pub struct TestCgroup {
    path: PathBuf,
}

impl TestCgroup {
    /// Creates a new, uniquely named, empty group under [`cgroup2_mount`].
    #[track_caller]
    pub fn create() -> TestCgroup {
        let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        let path = cgroup2_mount().join(format!("gmr-test-{}-{n}", std::process::id()));
        std::fs::create_dir(&path)
            .unwrap_or_else(|e| panic!("create cgroup {}: {e}", path.display()));
        TestCgroup { path }
    }

    /// The group's directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The group's id: its directory's inode number, which is what
    /// `bpf_get_current_cgroup_id()` returns for tasks inside it.
    #[track_caller]
    pub fn id(&self) -> u64 {
        std::fs::metadata(&self.path)
            .unwrap_or_else(|e| panic!("stat {}: {e}", self.path.display()))
            .ino()
    }

    /// Moves process `pid` (all its threads) into the group.
    #[track_caller]
    pub fn add_process(&self, pid: u32) {
        let procs = self.path.join("cgroup.procs");
        std::fs::write(&procs, pid.to_string())
            .unwrap_or_else(|e| panic!("add pid {pid} to {}: {e}", procs.display()));
    }

    /// The processes currently in the group.
    #[track_caller]
    pub fn processes(&self) -> Vec<u32> {
        self.read_processes()
            .unwrap_or_else(|e| panic!("read {}/cgroup.procs: {e}", self.path.display()))
    }

    fn read_processes(&self) -> std::io::Result<Vec<u32>> {
        let text = std::fs::read_to_string(self.path.join("cgroup.procs"))?;
        Ok(text
            .lines()
            .filter_map(|line| line.trim().parse().ok())
            .collect())
    }

    /// Kills everything in the group: `cgroup.kill` where the kernel has it,
    /// otherwise SIGKILL to each listed process.
    fn kill_all(&self) {
        let kill_file = self.path.join("cgroup.kill");
        if kill_file.exists() && std::fs::write(&kill_file, "1").is_ok() {
            return;
        }
        for pid in self.read_processes().unwrap_or_default() {
            // A stale pid only yields ESRCH.
            let _ = crate::syscalls::send_signal(pid, crate::syscalls::Signal::KILL);
        }
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        if !self.path.exists() {
            return;
        }
        self.kill_all();
        let deadline = Instant::now() + DRAIN_TIMEOUT;
        let is_empty = || self.read_processes().map_or(true, |pids| pids.is_empty());
        while !is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        while let Err(e) = std::fs::remove_dir(&self.path) {
            if Instant::now() >= deadline {
                eprintln!(
                    "warning: could not remove cgroup {}: {e}",
                    self.path.display()
                );
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_cgroup2_in_hybrid_mountinfo() {
        let line = "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw";
        assert_eq!(
            cgroup2_mount_point(line),
            Some(PathBuf::from("/sys/fs/cgroup/unified"))
        );
        let v1 = "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu";
        assert_eq!(cgroup2_mount_point(v1), None);
    }

    #[test]
    fn finds_cgroup2_with_optional_fields_and_escapes() {
        let line =
            "30 23 0:26 / /sys/fs/cgroup\\040x rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate";
        assert_eq!(
            cgroup2_mount_point(line),
            Some(PathBuf::from("/sys/fs/cgroup x"))
        );
    }
}
