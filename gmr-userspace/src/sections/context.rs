//! What several sections of one report need from the process, read once
//! per report and shared: its memory map, its CPython, and the Go release
//! that built its executable.
//!
//! Threads (for the unwinder's modules and the Python stacks) and Green
//! Threads (for the interpreter and the loaded greenlet) once read the map
//! and detected Python each on their own; one read also means every section
//! describes the same moment.

use procfs::process::MemoryMap;

use crate::proc::maps::{self, MapsError};
use crate::python::{DetectError, Interpreter, PythonError};

/// The process's shared facts for one report. Read on the reporter's
/// thread right after the capture, then handed (behind an `Arc`) to the
/// sections running meanwhile.
#[derive(Debug)]
pub struct ReportContext {
    /// The process reported on.
    pub pid: u32,
    /// Its memory map, in address order.
    pub maps: Result<Vec<MemoryMap>, MapsError>,
    /// Its CPython, found in `maps`; `Ok(None)` when it runs none.
    pub python: Result<Option<Interpreter>, PythonError>,
    /// The Go release that built its executable (`go1.22.10`), from the
    /// file's build info; `None` for anything but a Go binary.
    pub go_version: Option<String>,
}

impl ReportContext {
    /// Reads the memory map of process `pid` and finds its CPython there.
    pub fn read(pid: u32) -> Self {
        let maps = maps::read(pid);
        let python = match &maps {
            Ok(maps) => Interpreter::detect(pid, maps),
            Err(error) => Err(PythonError::Detect(DetectError::Maps(error.clone()))),
        };
        let go_version = std::fs::File::open(format!("/proc/{pid}/exe"))
            .ok()
            .and_then(|file| crate::go::go_version(&object::read::ReadCache::new(file)));
        ReportContext {
            pid,
            maps,
            python,
            go_version,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::ReportContext;

    #[test]
    fn reads_the_map_once_and_finds_no_python_in_a_rust_process() {
        let context = ReportContext::read(std::process::id());
        let maps = context.maps.as_ref().expect("own maps");
        assert!(!maps.is_empty());
        assert!(matches!(context.python, Ok(None)), "{:?}", context.python);
        let gone = ReportContext::read(u32::MAX);
        let error = gone.maps.expect_err("no such process").to_string();
        assert!(
            error.starts_with("could not read /proc/4294967295/maps"),
            "{error}"
        );
        assert!(gone.python.is_err(), "the map's failure is Python's too");
        assert_eq!(
            context.go_version, None,
            "a Rust binary has no Go build info"
        );
    }
}
