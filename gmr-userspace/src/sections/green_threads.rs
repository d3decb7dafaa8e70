//! The Green Threads section: every greenlet and asyncio task of a CPython
//! process (see `python::green`), or every goroutine of a Go process (see
//! `go::goroutines`), read from its memory while it runs.
//!
//! The section exists only for CPython and Go processes: the report leaves
//! it out for any other process, where it would have nothing to say. The
//! interpreter, Go release and memory map come from the report's shared
//! context.

use std::time::Duration;

use procfs::process::MemoryMap;

use super::context::ReportContext;
use crate::go::goroutines::{self, GoProcess};
use crate::model::{
    AsyncTask, CreatedBy, FrameKind, GoroutineFrame, Goroutines, GreenFrame, GreenThreads,
    Greenlet, SectionData,
};
use crate::python::Interpreter;
use crate::python::frames::PythonFrame;
use crate::python::green::asyncio::{TaskInfo, TaskState};
use crate::python::green::gc_walk::Instances;
use crate::python::green::greenlet::{GreenletInfo, GreenletState};

/// The section's title.
pub const TITLE: &str = "Green Threads";

/// How long the section may take, walk and frame reading together.
pub const BUDGET: Duration = Duration::from_secs(10);

/// How long reading goroutines may take before the list is cut (under
/// [`BUDGET`], so a cut list is still reported, saying where it stopped).
pub const GO_BUDGET: Duration = Duration::from_secs(8);

/// Whether the report has the section: for a CPython process, one whose
/// CPython could not be detected (the section then says why), or a Go
/// process.
pub fn applies(context: &ReportContext) -> bool {
    !matches!(context.python, Ok(None)) || context.go_version.is_some()
}

/// Builds the section for the process `context` describes.
///
/// # Errors
///
/// When its CPython could not be detected or read (see [`green_threads`]).
pub fn generate(context: &ReportContext) -> Result<SectionData, String> {
    let interpreter = match (&context.python, &context.go_version) {
        (Ok(Some(interpreter)), _) => interpreter,
        (Ok(None), Some(version)) => return go_goroutines(context, version),
        (Ok(None), None) => {
            return Err("the process runs no CPython and is no Go binary".to_owned());
        }
        (Err(error), _) => return Err(error.to_string()),
    };
    let maps = context.maps.as_ref().map_err(ToString::to_string)?;
    let instances = context.python_instances()?;
    green_threads(interpreter, instances, maps).map(SectionData::GreenThreads)
}

/// Every goroutine of the Go process `context` describes, built by Go
/// release `version`, within [`GO_BUDGET`].
fn go_goroutines(context: &ReportContext, version: &str) -> Result<SectionData, String> {
    let maps = context.maps.as_ref().map_err(ToString::to_string)?;
    let found = GoProcess::open(context.pid, version, maps)
        .and_then(|process| process.goroutines(GO_BUDGET))
        .map_err(|e| e.to_string())?;
    Ok(SectionData::Goroutines(Goroutines {
        runtime: "go",
        go_version: found.version,
        layout: found.layout,
        goroutines: found.goroutines.into_iter().map(goroutine).collect(),
        system_goroutines: found.system,
        elapsed_us: u64::try_from(found.elapsed.as_micros()).unwrap_or(u64::MAX),
        note: found.incomplete,
    }))
}

fn goroutine(found: goroutines::Goroutine) -> crate::model::Goroutine {
    let note = match (found.locked, found.note) {
        (true, Some(note)) => Some(format!("locked to its thread; {note}")),
        (true, None) => Some("locked to its thread".to_owned()),
        (false, note) => note,
    };
    crate::model::Goroutine {
        id: found.id,
        state: found.state,
        wait_minutes: found.wait_minutes,
        thread: found.thread,
        created_by: found.created_by.map(|c| CreatedBy {
            function: c.function,
            file: c.file,
            line: c.line,
            goroutine: c.goroutine,
        }),
        frames: found
            .frames
            .into_iter()
            .map(|frame| GoroutineFrame {
                kind: FrameKind::Go,
                function: frame.function,
                file: frame.file,
                line: frame.line,
                inlined: frame.inlined,
            })
            .collect(),
        note,
    }
}

/// Builds the section for the process `interpreter` runs in, whose memory
/// map is `maps`, from the report's heap walk (`instances`).
///
/// # Errors
///
/// When its greenlet package is not one this reader knows or verifies.
pub fn green_threads(
    interpreter: &Interpreter,
    instances: &Instances,
    maps: &[MemoryMap],
) -> Result<GreenThreads, String> {
    let found = interpreter
        .green_threads(instances, maps)
        .map_err(|e| e.to_string())?;
    let walk_note = match (found.incomplete, found.restarts) {
        (Some(reason), _) => Some(reason),
        (None, 0) => None,
        (None, restarts) => Some(format!(
            "the garbage collector's lists changed while being read; walked again {restarts} time(s)"
        )),
    };
    let note = joined([walk_note, found.hub_note]);
    Ok(GreenThreads {
        python: interpreter.version.to_string(),
        greenlet: found.greenlet_version,
        greenlets: found.greenlets.into_iter().map(greenlet).collect(),
        tasks: found.tasks.into_iter().map(task).collect(),
        objects_walked: found.objects_walked,
        walk_restarts: found.restarts,
        elapsed_us: u64::try_from(found.elapsed.as_micros()).unwrap_or(u64::MAX),
        note,
    })
}

fn greenlet(info: GreenletInfo) -> Greenlet {
    let state = match info.state {
        GreenletState::Suspended => "suspended",
        GreenletState::Running => "running",
        GreenletState::NotStarted => "not_started",
        GreenletState::Dead => "dead",
    };
    Greenlet {
        address: info.address,
        class: info.class,
        main: info.main,
        state: state.to_owned(),
        frames: info.frames.into_iter().map(frame).collect(),
        note: joined([info.unreliable, info.thread_note]),
        thread: info.thread.and_then(|thread| thread.tid),
        python_ident: info.thread.map(|thread| thread.ident),
        running: info.current,
        hub: info.hub,
    }
}

/// The notes given, joined with `; `; `None` when there are none.
fn joined<const N: usize>(notes: [Option<String>; N]) -> Option<String> {
    let notes: Vec<String> = notes.into_iter().flatten().collect();
    (!notes.is_empty()).then(|| notes.join("; "))
}

fn task(info: TaskInfo) -> AsyncTask {
    let state = match info.state {
        TaskState::Pending => "pending",
        TaskState::Running => "running",
        TaskState::NotStarted => "not_started",
        TaskState::Done => "done",
    };
    AsyncTask {
        address: info.address,
        class: info.class,
        name: info.name,
        state: state.to_owned(),
        frames: info.frames.into_iter().map(frame).collect(),
        awaiting: info.awaiting,
        note: info.unreliable,
    }
}

fn frame(frame: PythonFrame) -> GreenFrame {
    GreenFrame {
        kind: FrameKind::Python,
        function: frame.function,
        file: frame.file,
        line: frame.line,
    }
}

#[cfg(test)]
mod tests {
    use super::applies;
    use crate::sections::context::ReportContext;

    #[test]
    fn left_out_for_a_process_without_python() {
        // The test binary is Rust: no CPython to read.
        assert!(!applies(&ReportContext::read(std::process::id())));
    }
}
