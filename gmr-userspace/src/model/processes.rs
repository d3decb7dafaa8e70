//! The Processes section: the target and its descendants as a tree.

use serde::Serialize;

/// The target and its descendants, in tree order (pre-order).
#[derive(Clone, Debug, Serialize)]
pub struct Processes {
    /// Each process with its depth below the target (the target is 0).
    pub processes: Vec<ProcessEntry>,
}

/// One process of the tree.
#[derive(Clone, Debug, Serialize)]
pub struct ProcessEntry {
    /// Depth below the target (0 for the target itself).
    pub depth: u32,
    /// Process id.
    pub pid: u32,
    /// Parent process id.
    pub ppid: u32,
}
