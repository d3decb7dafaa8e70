//! Process and thread ids as the target sees them and as the agent sees
//! them.
//!
//! A process in a container lives in a pid namespace of its own: its tools
//! (`ps` inside the container, CPython's `threading.get_native_id()`) show
//! ids in that namespace, while the agent, the capture and `/proc` name it
//! by its ids in the agent's. The `NSpid:` line of
//! `/proc/PID/task/TID/status` lists both, outermost (the namespace of the
//! agent's `/proc`) first and the target's own last; a single entry means
//! the process shares the agent's namespace. This module is the one reader
//! of that line, through `procfs`.

use std::collections::HashMap;
use std::ffi::OsStr;

use procfs::process::{Process, Status, Task};

/// Where process `pid` sits in its own pid namespace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NamespacePid {
    /// Its id in its own pid namespace (the last `NSpid`), which equals
    /// `pid` when it shares the agent's namespace.
    pub ns_pid: Option<u32>,
    /// The inode number of its pid namespace (`/proc/PID/ns/pid`, what
    /// `lsns` and `ls -l /proc/PID/ns` show).
    pub namespace: Option<u64>,
}

impl NamespacePid {
    /// Reads process `pid`'s; a field that cannot be read (the process
    /// exited, a kernel before 4.1 without `NSpid`) is `None`.
    pub fn read(pid: u32) -> Self {
        let process = i32::try_from(pid).ok().and_then(|p| Process::new(p).ok());
        let Some(process) = process else {
            return Self {
                ns_pid: None,
                namespace: None,
            };
        };
        Self {
            ns_pid: process.status().ok().as_ref().and_then(own_id),
            namespace: process
                .namespaces()
                .ok()
                .and_then(|all| all.0.get(OsStr::new("pid")).map(|ns| ns.identifier)),
        }
    }
}

/// The threads of one process: their ids in its own pid namespace and in
/// the agent's, both ways.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceTids {
    to_agent: HashMap<u32, u32>,
    to_namespace: HashMap<u32, u32>,
}

impl NamespaceTids {
    /// Reads the mapping of process `pid`'s threads: listing its tasks is
    /// enough when it shares the agent's pid namespace, each thread's
    /// status is read only below it.
    pub fn read(pid: u32) -> Self {
        Self::read_if_nested(pid).unwrap_or_else(|| Self::shared(pid))
    }

    /// Reads the mapping only for a process in a pid namespace below the
    /// agent's; `None` when it shares the agent's, where every thread's id
    /// is its own. Each thread's status file costs about 0.2 ms (0.38 s
    /// for the 2,005 threads of a parked fixture), too much to spend on
    /// learning nothing.
    pub fn read_if_nested(pid: u32) -> Option<Self> {
        let levels = crate::proc::files::status(pid)
            .and_then(|status| status.nspid)
            .map(|ids| ids.len());
        (levels != Some(1)).then(|| Self::nested(pid))
    }

    /// The threads of a process in the agent's pid namespace, each its
    /// own id, from the listing of its tasks alone.
    fn shared(pid: u32) -> Self {
        Self::from_pairs(tasks(pid).map(|(tid, _)| (tid, tid)).collect())
    }

    /// The threads of a process in a nested pid namespace, from each
    /// thread's `NSpid`; a thread whose status cannot be read (it just
    /// exited) is left out.
    fn nested(pid: u32) -> Self {
        Self::from_pairs(
            tasks(pid)
                .filter_map(|(tid, task)| {
                    let own = own_id(&task.status().ok()?).unwrap_or(tid);
                    Some((own, tid))
                })
                .collect(),
        )
    }

    /// The mapping from `(own id, agent's id)` pairs.
    fn from_pairs(pairs: Vec<(u32, u32)>) -> Self {
        NamespaceTids {
            to_agent: pairs.iter().copied().collect(),
            to_namespace: pairs.iter().map(|&(own, tid)| (tid, own)).collect(),
        }
    }

    /// The agent's id of the thread the target calls `tid`.
    pub fn to_agent(&self, tid: u32) -> Option<u32> {
        self.to_agent.get(&tid).copied()
    }

    /// The target's own id of the thread the agent calls `tid`.
    pub fn to_namespace(&self, tid: u32) -> Option<u32> {
        self.to_namespace.get(&tid).copied()
    }

    /// True when the target has a thread it calls `tid`.
    pub fn contains(&self, tid: u32) -> bool {
        self.to_agent.contains_key(&tid)
    }
}

/// The tasks of process `pid`, each with its id in the agent's namespace
/// (none when they cannot be listed).
fn tasks(pid: u32) -> impl Iterator<Item = (u32, Task)> {
    i32::try_from(pid)
        .ok()
        .and_then(|p| Process::new(p).ok())
        .and_then(|process| process.tasks().ok())
        .into_iter()
        .flatten()
        .filter_map(|task| {
            let task = task.ok()?;
            Some((u32::try_from(task.tid).ok()?, task))
        })
}

/// The innermost id of a status file's `NSpid:` line.
fn own_id(status: &Status) -> Option<u32> {
    let last = *status.nspid.as_ref()?.last()?;
    u32::try_from(last).ok()
}

#[cfg(test)]
mod tests {
    use super::{NamespacePid, NamespaceTids, own_id};
    use procfs::FromRead as _;

    /// This process's real status file with its `NSpid:` line replaced
    /// by `nspid` (a whole line, or nothing to drop it).
    fn status(nspid: &str) -> procfs::process::Status {
        let real = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
        let text: String = real
            .lines()
            .map(|line| {
                if line.starts_with("NSpid:") {
                    nspid.to_owned()
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        procfs::process::Status::from_read(text.as_bytes()).expect("a valid status file")
    }

    #[test]
    fn innermost_id_of_nspid() {
        assert_eq!(own_id(&status("NSpid:\t4242\t7\n")), Some(7));
        assert_eq!(own_id(&status("NSpid:\t4242\n")), Some(4242));
        assert_eq!(own_id(&status("")), None);
    }

    #[test]
    fn own_threads_map_to_themselves() {
        let pid = std::process::id();
        let tids = NamespaceTids::read(pid);
        assert_eq!(tids.to_agent(pid), Some(pid));
        assert_eq!(tids.to_namespace(pid), Some(pid));
        assert!(tids.contains(pid));
    }

    #[test]
    fn threads_are_read_only_below_the_agents_namespace() {
        assert_eq!(NamespaceTids::read_if_nested(std::process::id()), None);
    }

    #[test]
    fn a_process_in_a_new_pid_namespace_is_pid_1_there() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIP: a new pid namespace needs root");
            return;
        }
        let mut unshare = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--kill-child", "sleep", "60"])
            .spawn()
            .expect("start unshare");
        let children = format!("/proc/{0}/task/{0}/children", unshare.id());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let child = loop {
            let listed = std::fs::read_to_string(&children).unwrap_or_default();
            if let Ok(pid) = listed.trim().parse::<u32>() {
                break pid;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "unshare forked no child"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        };
        let own = NamespacePid::read(child);
        let tids = NamespaceTids::read_if_nested(child);
        let _ = unshare.kill();
        let _ = unshare.wait();
        assert_eq!(own.ns_pid, Some(1));
        assert_ne!(
            own.namespace,
            NamespacePid::read(std::process::id()).namespace
        );
        let tids = tids.expect("a nested namespace's threads are read");
        assert_eq!(tids.to_namespace(child), Some(1));
        assert_eq!(tids.to_agent(1), Some(child));
    }

    #[test]
    fn own_process_is_in_its_own_namespace_under_its_own_id() {
        let own = NamespacePid::read(std::process::id());
        assert_eq!(own.ns_pid, Some(std::process::id()));
        let inode = std::fs::metadata("/proc/self/ns/pid").map(|m| {
            use std::os::unix::fs::MetadataExt as _;
            m.ino()
        });
        assert_eq!(own.namespace, inode.ok());
    }
}
