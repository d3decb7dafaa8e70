//! The Threads section: every OS thread with its kernel and user stacks.

use serde::Serialize;

/// Every OS thread of the process.
#[derive(Clone, Debug, Serialize)]
pub struct Threads {
    /// One entry per thread, in the kernel's order (main thread first).
    pub threads: Vec<Thread>,
    /// Why the list may be incomplete (the process exited during capture).
    pub note: Option<String>,
}

/// One OS thread with its stacks.
#[derive(Clone, Debug, Serialize)]
pub struct Thread {
    /// Thread id.
    pub tid: u32,
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
}

/// One kernel frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelFrame {
    /// Return address (or pc for the innermost frame).
    pub address: u64,
    /// `symbol+0xoff`, when kallsyms knows it.
    pub function: Option<String>,
}

/// One user frame.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UserFrame {
    /// Program counter (innermost) or return address.
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
}
