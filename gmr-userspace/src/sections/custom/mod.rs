//! Custom sections declared per tag in the agent's configuration: a builtin
//! (open files, memory maps, limits, cgroup usage, namespaces), a file to
//! include, or a command run with a timeout. Text from files and commands is
//! masked like every other value in a report.

mod builtins;
mod command;
mod file;
mod sockets;

use std::{path::PathBuf, time::Duration};

use serde::Deserialize;

use crate::model::SectionData;

/// The builtin custom sections.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    /// Open file descriptors with their targets, sockets with their state.
    OpenFiles,
    /// Mapped files and anonymous memory, largest first.
    MemoryMaps,
    /// Resource limits (`/proc/PID/limits`).
    Limits,
    /// The process's cgroup v2 and its resource usage.
    Cgroup,
    /// Namespaces, and whether each is the host's.
    Namespaces,
}

/// Where a custom section's content comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CustomSource {
    /// A builtin.
    Builtin(Builtin),
    /// A file, as the target sees its path.
    File(PathBuf),
    /// A command (`{pid}` in an argument becomes the target's pid).
    Command {
        /// Program and arguments.
        argv: Vec<String>,
        /// How long it may run before it is killed.
        timeout: Duration,
    },
}

/// A custom section: its title and source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomSection {
    /// Banner title.
    pub title: String,
    /// What to show.
    pub source: CustomSource,
}

/// Makes a custom section's data for process `pid`.
pub fn generate(source: &CustomSource, pid: u32) -> Result<SectionData, String> {
    match source {
        CustomSource::Builtin(builtin) => builtins::generate(*builtin, pid).map(SectionData::Table),
        CustomSource::File(path) => file::include(pid, path).map(SectionData::Text),
        CustomSource::Command { argv, timeout } => {
            command::run(pid, argv, *timeout).map(SectionData::Text)
        }
    }
}
