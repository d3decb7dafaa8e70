//! A process's memory map (`/proc/PID/maps`), read through procfs.
//!
//! A report reads it once and shares it (see `sections::context`): the
//! unwinder's modules, the Python detection and the greenlet version all
//! look at the same map of the same moment.

use std::sync::Arc;

use procfs::process::{MemoryMap, Process};

/// Why `/proc/PID/maps` could not be read (process gone, hidden, or no
/// permission). Cloneable, so every reader of a shared map can say it.
#[derive(Clone, Debug, thiserror::Error)]
#[error("could not read /proc/{pid}/maps: {source}")]
pub struct MapsError {
    /// The process asked about.
    pub pid: u32,
    /// What procfs reported.
    #[source]
    pub source: Arc<procfs::ProcError>,
}

/// The mappings of process `pid` now, in address order.
///
/// # Errors
///
/// When the file cannot be read or parsed.
pub fn read(pid: u32) -> Result<Vec<MemoryMap>, MapsError> {
    i32::try_from(pid)
        .map_err(|_| procfs::ProcError::NotFound(None))
        .and_then(Process::new)
        .and_then(|process| process.maps())
        .map(|maps| maps.0)
        .map_err(|source| MapsError {
            pid,
            source: Arc::new(source),
        })
}
