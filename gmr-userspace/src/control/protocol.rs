//! The control protocol: one JSON request line, one JSON response line.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::safety::disposition::SignalSafety;

/// What a client asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Request {
    /// Report on a target: a pid, a tag name, or a cgroup path.
    Trigger {
        /// The target as the user typed it.
        target: String,
    },
    /// Describe the tags, their processes and trigger files.
    List,
}

/// The agent's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Response {
    /// What happened for each process of the target.
    Triggered {
        /// One outcome per process.
        outcomes: Vec<Outcome>,
    },
    /// The agent's tags.
    Listing {
        /// One entry per tag.
        tags: Vec<TagStatus>,
    },
    /// The request could not be served.
    Error {
        /// Why.
        message: String,
    },
}

/// What became of the request for one process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    /// The process.
    pub pid: u32,
    /// Report files written, when a report was made.
    pub files: Vec<PathBuf>,
    /// Why there is no new report (merged, too soon, failed), if there is none.
    pub note: Option<String>,
}

/// One tag as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagStatus {
    /// Tag name.
    pub name: String,
    /// Its cgroup directories (one per pod for a namespace tag).
    pub cgroups: Vec<PathBuf>,
    /// Its processes.
    pub processes: Vec<ProcessStatus>,
    /// Its trigger file, if any.
    pub trigger_file: Option<PathBuf>,
    /// The newest report written for it by this agent, if any.
    pub last_report: Option<PathBuf>,
}

/// One process of a tag as `list` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessStatus {
    /// Process id.
    pub pid: u32,
    /// Process name.
    pub comm: String,
    /// Whether the trigger signal is safe to send to it.
    pub signal_safety: SignalSafety,
    /// That, in words: e.g. `handles SIGUSR2`, or what to use instead.
    pub signal_note: String,
}
