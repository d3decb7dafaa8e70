//! Thread ids as the target sees them and as the agent sees them.
//!
//! CPython records a thread's id in its own pid namespace (a container's),
//! while the capture names threads by their ids in the agent's. Each
//! thread's `/proc/PID/task/TID/status` lists both on its `NSpid:` line,
//! outermost (the agent's, as /proc is the agent's) first and the
//! target's own last.

use std::collections::HashMap;
use std::fs;

/// The threads of one process: their ids in its own pid namespace, mapped
/// to ids in the agent's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NamespaceTids {
    to_agent: HashMap<u32, u32>,
}

impl NamespaceTids {
    /// Reads the mapping of process `pid`'s threads; a thread whose status
    /// cannot be read (it just exited) is left out.
    pub fn read(pid: u32) -> Self {
        let Ok(tasks) = fs::read_dir(format!("/proc/{pid}/task")) else {
            return NamespaceTids::default();
        };
        let to_agent = tasks
            .filter_map(|task| {
                let tid = task.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
                let status = fs::read_to_string(format!("/proc/{pid}/task/{tid}/status")).ok()?;
                Some((own_tid(&status).unwrap_or(tid), tid))
            })
            .collect();
        NamespaceTids { to_agent }
    }

    /// The agent's id of the thread the target calls `tid`.
    pub fn to_agent(&self, tid: u32) -> Option<u32> {
        self.to_agent.get(&tid).copied()
    }

    /// True when the target has a thread it calls `tid`.
    pub fn contains(&self, tid: u32) -> bool {
        self.to_agent.contains_key(&tid)
    }
}

/// The innermost id on a status file's `NSpid:` line.
fn own_tid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("NSpid:"))?
        .split_whitespace()
        .last()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::{NamespaceTids, own_tid};

    #[test]
    fn innermost_id_of_nspid() {
        assert_eq!(own_tid("Name:\tx\nNSpid:\t4242\t7\nNSsid:\t1\n"), Some(7));
        assert_eq!(own_tid("NSpid:\t4242\n"), Some(4242));
        assert_eq!(own_tid("Name:\tx\n"), None);
    }

    #[test]
    fn own_threads_map_to_themselves() {
        let pid = std::process::id();
        let tids = NamespaceTids::read(pid);
        assert_eq!(tids.to_agent(pid), Some(pid));
        assert!(tids.contains(pid));
    }
}
