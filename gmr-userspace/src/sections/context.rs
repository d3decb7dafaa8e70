//! What several sections of one report need from the process, read once
//! per report and shared: its memory map, its CPython, the Go release that
//! built its executable, and the CPython heap's instances of the classes
//! Green Threads and Configuration look for (one walk of the garbage
//! collector's lists, made by whichever asks first).
//!
//! Threads (for the unwinder's modules and the Python stacks) and Green
//! Threads (for the interpreter and the loaded greenlet) once read the map
//! and detected Python each on their own; one read also means every section
//! describes the same moment.

use std::sync::OnceLock;
use std::time::Duration;

use procfs::process::MemoryMap;

use super::configuration::OSLO_CONFIG_CLASS;
use crate::proc::maps::{self, MapsError};
use crate::python::green::gc_walk::{Instances, WalkLimits, find_instances};
use crate::python::{DetectError, Interpreter, PythonError, green};

/// How much of the heap one report walks: a few hundred thousand objects
/// take well under a second; the cap keeps a huge heap from holding the
/// report, well inside the deadlines of the sections waiting for it (10 s
/// each), so Configuration still shows the files when the walk fails.
pub const HEAP_WALK_LIMITS: WalkLimits = WalkLimits {
    max_objects: 4_000_000,
    max_time: Duration::from_secs(5),
};

/// The classes whose instances the report's sections read from the heap:
/// greenlets, asyncio tasks and eventlet hubs (Green Threads), oslo.config's
/// `ConfigOpts` (Configuration).
const HEAP_CLASSES: [&str; 4] = [
    green::CLASSES[0],
    green::CLASSES[1],
    green::CLASSES[2],
    OSLO_CONFIG_CLASS,
];

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
    /// The heap walk's result, once made (see [`Self::python_instances`]).
    heap: OnceLock<Result<Instances, String>>,
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
            heap: OnceLock::new(),
        }
    }

    /// The instances of [`HEAP_CLASSES`] in the process's CPython heap,
    /// walked once within [`HEAP_WALK_LIMITS`] by the first section that
    /// asks; a section asking meanwhile waits for that walk (within its own
    /// deadline).
    ///
    /// # Errors
    ///
    /// When the process runs no CPython that could be read, or its heap
    /// could not be walked (every asker gets the same reason).
    pub fn python_instances(&self) -> Result<&Instances, String> {
        let interpreter = match &self.python {
            Ok(Some(interpreter)) => interpreter,
            Ok(None) => return Err("the process runs no CPython".to_owned()),
            Err(error) => return Err(error.to_string()),
        };
        self.heap
            .get_or_init(|| {
                find_instances(interpreter, &HEAP_CLASSES, HEAP_WALK_LIMITS)
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(Clone::clone)
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
