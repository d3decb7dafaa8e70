//! The Threads section: every OS thread with its kernel and user stacks.

use serde::Serialize;

/// Every OS thread of the process.
#[derive(Clone, Debug, Serialize)]
pub struct Threads {
    /// One entry per thread, in the kernel's order (main thread first).
    pub threads: Vec<Thread>,
    /// Why the list may be incomplete (the process exited during capture).
    pub note: Option<String>,
    /// The CPython interpreter the process runs, if it runs one.
    pub python: Option<PythonRuntime>,
    /// Why Python stacks are missing or incomplete, if they are.
    pub python_note: Option<String>,
}

/// The CPython interpreter of a process.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PythonRuntime {
    /// Its version, e.g. `3.11.2` (`3.9` when only the file name says).
    pub version: String,
    /// The binary holding the interpreter (executable or `libpython`).
    pub binary: String,
}

/// One OS thread with its stacks.
#[derive(Clone, Debug, Serialize)]
pub struct Thread {
    /// Thread id in the agent's pid namespace (the host's).
    pub tid: u32,
    /// Thread id in the process's own pid namespace (a container's), equal
    /// to `tid` when it shares the agent's; `None` when unknown (the thread
    /// exited before it was read).
    pub ns_tid: Option<u32>,
    /// Thread name.
    pub name: String,
    /// State letter and word, e.g. `S (sleeping)`.
    pub state: String,
    /// True when it was on a CPU during capture (registers may be a tick old).
    pub on_cpu: bool,
    /// Kernel frames, innermost first.
    pub kernel_stack: Vec<KernelFrame>,
    /// Why the kernel stack is missing, if it is.
    pub kernel_stack_note: Option<String>,
    /// User frames, innermost first (inlined frames expanded).
    pub user_stack: Vec<UserFrame>,
    /// Why the user stack ends early or is missing, if it does.
    pub user_stack_note: Option<String>,
    /// The thread's Python frames alone, innermost first; `None` when the
    /// thread runs no Python.
    pub python_frames: Option<Vec<UserFrame>>,
    /// Why the Python frames are missing, or how they were merged into the
    /// user stack when that was not clean.
    pub python_note: Option<String>,
    /// Whether it holds the GIL; `None` when unknown or not Python.
    pub holds_gil: Option<bool>,
    /// The Python thread ident (`threading.get_ident()`, the `pthread_t`
    /// CPython keeps in the thread state): what Python's and oslo's logs
    /// and oslo's report print for this thread, so they can be matched to
    /// its OS tid. `None` when the thread runs no Python.
    pub python_ident: Option<u64>,
}

impl Thread {
    /// Thread `tid` named `name` in state `state`, in the agent's pid
    /// namespace, with no stacks and no Python side yet: what the other
    /// fields add to.
    pub fn new(tid: u32, name: impl Into<String>, state: impl Into<String>) -> Self {
        Self {
            tid,
            ns_tid: Some(tid),
            name: name.into(),
            state: state.into(),
            on_cpu: false,
            kernel_stack: Vec::new(),
            kernel_stack_note: None,
            user_stack: Vec::new(),
            user_stack_note: None,
            python_frames: None,
            python_note: None,
            holds_gil: None,
            python_ident: None,
        }
    }
}

/// What a user frame is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FrameKind {
    /// Machine code.
    #[default]
    Native,
    /// A Python function run by the interpreter.
    Python,
    /// Code a runtime compiled at run time, named by its perf map.
    Jit,
    /// A Go function of a goroutine's stack, named by `.gopclntab`.
    Go,
}

/// One kernel frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelFrame {
    /// Return address (or pc for the innermost frame).
    pub address: u64,
    /// `symbol+0xoff` (with ` [module]` in a module), when kallsyms knows it.
    pub function: Option<String>,
}

/// One user frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserFrame {
    /// Native, Python or JIT.
    pub kind: FrameKind,
    /// Program counter (innermost) or return address; for a Python frame,
    /// the frame's address in the target.
    pub address: u64,
    /// Function name, demangled.
    pub function: Option<String>,
    /// Path of the mapped file holding the address.
    pub module: Option<String>,
    /// Offset of the address in that file's address space.
    pub module_offset: Option<u64>,
    /// Source file, when debug info has it.
    pub file: Option<String>,
    /// Source line, when debug info has it.
    pub line: Option<u32>,
    /// True for a frame that was inlined into the next one.
    pub inlined: bool,
    /// True for a function a tail call removed from the machine stack,
    /// rebuilt from DWARF call sites: it ran, but has no frame of its own.
    pub tail_call: bool,
    /// The source line's text, for Python frames whose file is readable.
    pub source: Option<String>,
}
