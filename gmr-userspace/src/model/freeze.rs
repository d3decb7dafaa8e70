//! The freeze statement: whether the target's cgroup was frozen while its
//! threads were captured, for how long, or why not.

use serde::Serialize;

/// What came of a request to freeze the target's cgroup for the capture.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Freeze {
    /// The outcome.
    pub status: FreezeStatus,
    /// The cgroup v2 directory frozen (or that would have been), if known.
    pub cgroup: Option<String>,
    /// Milliseconds from writing `1` to `cgroup.freeze` to writing `0`.
    pub frozen_ms: Option<f64>,
    /// Milliseconds until `cgroup.events` said every task was frozen.
    pub settled_ms: Option<f64>,
    /// Why it was not frozen, or what else to know.
    pub note: Option<String>,
}

/// The outcomes of a freeze request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FreezeStatus {
    /// Frozen for the capture, every task stopped, then thawed.
    Frozen,
    /// Frozen and thawed, but not every task had stopped in time (or the
    /// watchdog thawed before the capture ended): some registers may be
    /// those of a running thread.
    Partly,
    /// Someone else had frozen it before; captured frozen, left frozen.
    AlreadyFrozen,
    /// Not frozen; captured while running.
    NotFrozen,
}
