//! The Green Threads section: greenlets with their suspended Python stacks
//! and asyncio tasks with their coroutine chains.

use serde::Serialize;

use super::FrameKind;

/// Every greenlet and asyncio task of a CPython process.
#[derive(Clone, Debug, Serialize)]
pub struct GreenThreads {
    /// The interpreter's version, e.g. `3.11.2`.
    pub python: String,
    /// The loaded greenlet package's version; `None` when greenlet is not
    /// loaded or its `__init__.py` could not be read.
    pub greenlet: Option<String>,
    /// Greenlets, in the garbage collector's order.
    pub greenlets: Vec<Greenlet>,
    /// asyncio tasks, in the garbage collector's order.
    pub tasks: Vec<AsyncTask>,
    /// Objects visited in the garbage collector's lists to find them.
    pub objects_walked: u64,
    /// Walks started again because the lists changed while being read.
    pub walk_restarts: usize,
    /// Time spent finding and reading them, in microseconds.
    pub elapsed_us: u64,
    /// Why some may be missing (a limit stopped the walk), if so.
    pub note: Option<String>,
}

/// One greenlet.
#[derive(Clone, Debug, Serialize)]
pub struct Greenlet {
    /// Its address in the target (Python's `id()`).
    pub address: u64,
    /// Its class, e.g. `GreenThread`.
    pub class: String,
    /// True for a thread's main greenlet.
    pub main: bool,
    /// `suspended`, `running` (its stack is its thread's, in Threads),
    /// `not_started` or `dead`.
    pub state: String,
    /// Its Python frames, innermost first; empty unless suspended.
    pub frames: Vec<GreenFrame>,
    /// Why the frames of a suspended greenlet are missing, or why its
    /// thread is not shown, if so.
    pub note: Option<String>,
    /// The OS thread it belongs to (a tid of the Threads section), when
    /// known.
    pub thread: Option<u32>,
    /// That thread's Python ident (`threading.get_ident()`, as Threads
    /// shows it), when known.
    pub python_ident: Option<u64>,
    /// True when it is the greenlet its thread runs now: its frames are
    /// that thread's Python frames, under Threads.
    pub running: bool,
    /// True for an event loop's hub (eventlet's hub greenlet, gevent's
    /// `Hub`).
    pub hub: bool,
}

/// One asyncio task.
#[derive(Clone, Debug, Serialize)]
pub struct AsyncTask {
    /// Its address in the target (Python's `id()`).
    pub address: u64,
    /// Its class, e.g. `_asyncio.Task`.
    pub class: String,
    /// Its name (`Task-3`), when set as a string.
    pub name: Option<String>,
    /// `pending`, `running`, `not_started` or `done`.
    pub state: String,
    /// One frame per coroutine in its `await` chain, innermost first.
    pub frames: Vec<GreenFrame>,
    /// The type the innermost coroutine awaits, e.g. `_asyncio.Future`.
    pub awaiting: Option<String>,
    /// Why the coroutines are missing, if they are.
    pub note: Option<String>,
}

/// One Python frame of a greenlet or task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct GreenFrame {
    /// Always [`FrameKind::Python`]: these frames are run by the
    /// interpreter.
    pub kind: FrameKind,
    /// The function's name (`co_name`).
    pub function: String,
    /// The source file, as the process sees it.
    pub file: String,
    /// The line being run, when the line table has one.
    pub line: Option<u32>,
}

/// Every goroutine of a Go process (the section's data for Go; `runtime`
/// tells the two apart in JSON).
#[derive(Clone, Debug, Serialize)]
pub struct Goroutines {
    /// Always `go`.
    pub runtime: &'static str,
    /// The Go release that built the binary, e.g. `go1.22.10`.
    pub go_version: String,
    /// Where the reader took the runtime's field offsets from: `layout:
    /// DWARF of /usr/bin/x` or `layout: table for go1.22` (and why the
    /// DWARF was not used when it is there).
    pub layout: String,
    /// The goroutines `runtime.Stack` would list, in the runtime's order.
    pub goroutines: Vec<Goroutine>,
    /// The runtime's own goroutines, left out as `runtime.Stack` does.
    pub system_goroutines: usize,
    /// Time spent reading them, in microseconds.
    pub elapsed_us: u64,
    /// Why some may be missing (a bound or the deadline), if so.
    pub note: Option<String>,
}

/// One goroutine.
#[derive(Clone, Debug, Serialize)]
pub struct Goroutine {
    /// Its id (`goid`).
    pub id: u64,
    /// The runtime's word for its state: `running`, `chan receive`, …
    pub state: String,
    /// Whole minutes it has waited, as the runtime counts them; `None`
    /// when it is not waiting.
    pub wait_minutes: Option<u64>,
    /// The OS thread it runs on (a tid of the Threads section), if any.
    pub thread: Option<u32>,
    /// The `go` statement that created it.
    pub created_by: Option<CreatedBy>,
    /// Its frames, innermost first; empty while it runs (see `thread`).
    pub frames: Vec<GoroutineFrame>,
    /// Why its frames are missing or cut, or that it is locked to its
    /// thread.
    pub note: Option<String>,
}

/// Where a goroutine was created.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CreatedBy {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its source file.
    pub file: Option<String>,
    /// Its line.
    pub line: Option<u32>,
    /// The creating goroutine's id (Go 1.21 and later record it).
    pub goroutine: Option<u64>,
}

/// One frame of a goroutine.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct GoroutineFrame {
    /// Always [`FrameKind::Go`].
    pub kind: FrameKind,
    /// The function, as the runtime prints it (`main.worker`).
    pub function: String,
    /// Its source file.
    pub file: Option<String>,
    /// Its line.
    pub line: Option<u32>,
    /// True when inlined into the next frame.
    pub inlined: bool,
}
