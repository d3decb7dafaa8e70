//! The Processes section: the target and its descendants as a tree.

use serde::Serialize;

/// The target and its descendants, in tree order (pre-order).
#[derive(Clone, Debug, Serialize)]
pub struct Processes {
    /// Each process with its depth below the target (the target is 0).
    pub processes: Vec<ProcessEntry>,
}

/// One process of the tree.
#[derive(Clone, Debug, Default, Serialize)]
pub struct ProcessEntry {
    /// Depth below the target (0 for the target itself).
    pub depth: u32,
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
    /// Real user id.
    pub uid: u32,
    /// Name of the real user, from the process's own `/etc/passwd` (else
    /// the host's); `None` when neither knows the uid.
    pub user: Option<String>,
    /// Effective user id.
    pub euid: u32,
    /// Name of the effective user, looked up like `user`.
    pub effective_user: Option<String>,
    /// Scheduler state letter and name, e.g. `S (sleeping)`.
    pub state: String,
    /// Process name (`comm`).
    pub comm: String,
    /// Command line, arguments joined by spaces, with secrets masked;
    /// `[comm]` for a process without one (a kernel thread, a zombie).
    pub command_line: String,
    /// True when the process wrote a title over its command line (nginx
    /// workers, postgres children): `command_line` is that title, once.
    pub command_line_rewritten: bool,
    /// Number of threads.
    pub threads: u64,
    /// Resident set size in bytes.
    pub rss_bytes: u64,
    /// Start time, RFC 3339 UTC to the second, e.g. `2026-11-26T17:48:46Z`.
    pub started_at: Option<String>,
}
