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
    /// Why the frames of a suspended greenlet are missing, if they are.
    pub note: Option<String>,
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
