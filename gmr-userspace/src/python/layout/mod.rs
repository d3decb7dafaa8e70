//! Where CPython keeps what a stack reader needs, per version: offsets
//! into `_PyRuntime`, interpreter and thread states, frames, code objects
//! and strings.
//!
//! One module per minor version. 3.9 to 3.12 carry offsets taken from that
//! version's own headers (`Include/internal/pycore_*.h`, `cpython/*.h`,
//! x86_64); 3.13 reads them from the `_Py_DebugOffsets` table CPython
//! keeps at the start of `_PyRuntime`, so they come from the process.

mod v3_10;
mod v3_11;
mod v3_12;
pub mod v3_13;
mod v3_9;

use super::PythonVersion;
use crate::proc::memory::{ProcessMemory, ReadError};

/// Offsets (in bytes) of everything the stack reader follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `_PyRuntime.interpreters.head`.
    pub runtime_interpreters_head: u64,
    /// `PyInterpreterState.next`.
    pub interp_next: u64,
    /// `PyInterpreterState.tstate_head` (`threads.head` from 3.11).
    pub interp_threads_head: u64,
    /// `PyThreadState.next`.
    pub tstate_next: u64,
    /// `PyThreadState.interp`: checked against the interpreter whose list
    /// is walked, to tell a state freed mid-walk from a live one.
    pub tstate_interp: u64,
    /// `PyThreadState.thread_id` (the `pthread_t`).
    pub tstate_thread_id: u64,
    /// `PyThreadState.native_thread_id` (3.11+; the kernel's tid).
    pub tstate_native_thread_id: Option<u64>,
    /// How to get from a thread state to its innermost frame.
    pub tstate_frame: CurrentFrame,
    /// The frames in a thread's chain.
    pub frame: FrameLayout,
    /// `PyFrameObject.f_frame` (3.11+): the interpreter frame a frame
    /// object (as greenlets keep) stands for.
    pub frame_object_iframe: Option<u64>,
    /// Code objects.
    pub code: CodeLayout,
    /// `str` objects.
    pub unicode: UnicodeLayout,
    /// `PyVarObject.ob_size` of a `bytes` object.
    pub bytes_size: u64,
    /// `PyBytesObject.ob_sval`.
    pub bytes_data: u64,
    /// `PyObject.ob_type`.
    pub object_type: u64,
    /// Where the GIL's state is.
    pub gil: GilLayout,
}

/// From a thread state to its innermost frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CurrentFrame {
    /// A pointer in the thread state (`frame` up to 3.10,
    /// `current_frame` from 3.13).
    Direct(u64),
    /// Through `cframe` (3.11, 3.12): `tstate->cframe->current_frame`.
    ViaCFrame {
        /// `PyThreadState.cframe`.
        cframe: u64,
        /// `_PyCFrame.current_frame`.
        current_frame: u64,
    },
}

/// What a frame is and where its fields are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrameLayout {
    /// `f_back` (frame objects) or `previous` (interpreter frames).
    pub previous: u64,
    /// `f_code`, or `f_executable` (3.13).
    pub code: u64,
    /// Where the frame's position in its bytecode is.
    pub position: Position,
    /// `_PyInterpreterFrame.owner` (3.11+).
    pub owner: Option<u64>,
    /// `_PyInterpreterFrame.is_entry` (3.11 only): the first frame an
    /// eval-loop call ran.
    pub is_entry: Option<u64>,
}

impl FrameLayout {
    /// Bytes from a frame's start that hold every field used.
    pub fn span(&self) -> usize {
        let position = match self.position {
            Position::LastiBytes(offset) | Position::LastiUnits(offset) => offset + 4,
            Position::PrevInstr(offset) | Position::InstrPtr(offset) => offset + 8,
        };
        [
            self.previous + 8,
            self.code + 8,
            position,
            self.owner.map_or(0, |offset| offset + 1),
            self.is_entry.map_or(0, |offset| offset + 1),
        ]
        .into_iter()
        .max()
        .unwrap_or(0) as usize
    }
}

/// `owner` of a frame that only marks the C stack entering the eval loop
/// (3.12+ `FRAME_OWNED_BY_CSTACK`).
pub const FRAME_OWNED_BY_CSTACK: u8 = 3;

/// How a frame records the instruction it is at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Position {
    /// `f_lasti`, an `int` counting bytes (3.9).
    LastiBytes(u64),
    /// `f_lasti`, an `int` counting 2-byte code units (3.10).
    LastiUnits(u64),
    /// `prev_instr`, a pointer to the last instruction run (3.11, 3.12).
    PrevInstr(u64),
    /// `instr_ptr`, a pointer to the instruction running (3.13).
    InstrPtr(u64),
}

/// Fields of a code object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CodeLayout {
    /// `co_filename`.
    pub filename: u64,
    /// `co_name`.
    pub name: u64,
    /// `co_qualname` (3.11+).
    pub qualname: Option<u64>,
    /// `co_firstlineno` (an `int`).
    pub firstlineno: u64,
    /// `co_lnotab` (3.9) or `co_linetable`.
    pub linetable: u64,
    /// How the line table is encoded.
    pub line_format: LineFormat,
    /// `co_code_adaptive` (3.11+): where the bytecode starts, inline.
    pub code_adaptive: Option<u64>,
}

/// Line table encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineFormat {
    /// 3.9 `co_lnotab`: (byte delta, line delta) pairs.
    Lnotab,
    /// 3.10 `co_linetable`: (byte delta, line delta or -128) pairs.
    LineTable310,
    /// 3.11+ location table.
    Locations,
}

/// Fields of `PyASCIIObject` and its compact forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UnicodeLayout {
    /// `length`, in code points.
    pub length: u64,
    /// `state`, the bit field with `kind`, `compact` and `ascii`.
    pub state: u64,
    /// `sizeof(PyASCIIObject)`: compact ASCII data follows it.
    pub ascii_size: u64,
    /// `sizeof(PyCompactUnicodeObject)`: other compact data follows it.
    pub compact_size: u64,
}

/// Where the GIL's `locked` flag and `last_holder` thread state are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilLayout {
    /// In `_PyRuntime.ceval.gil` (up to 3.11): offsets from `_PyRuntime`.
    InRuntime {
        /// `locked`, an `int`.
        locked: u64,
        /// `last_holder`, a thread state pointer.
        holder: u64,
    },
    /// Behind the main interpreter's `ceval.gil` pointer (3.12+).
    PerInterpreter {
        /// `PyInterpreterState.ceval.gil`.
        pointer: u64,
        /// `_gil_runtime_state.locked`.
        locked: u64,
        /// `_gil_runtime_state.last_holder`.
        holder: u64,
    },
}

/// Why no layout is known for a process.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Not one of the versions with a layout module.
    #[error("Python {0} is not supported (stacks are read for 3.9 to 3.13)")]
    Unsupported(PythonVersion),
    /// The 3.13 debug offsets could not be read.
    #[error("cannot read _Py_DebugOffsets: {0}")]
    Read(#[from] ReadError),
    /// The 3.13 debug offsets are not what this reader understands.
    #[error("_Py_DebugOffsets: {0}")]
    DebugOffsets(String),
}

/// The layout of `version`, reading `_Py_DebugOffsets` at `runtime` for
/// 3.13.
///
/// # Errors
///
/// For an unsupported version, or unreadable or unexpected debug offsets.
pub fn layout_for(
    version: PythonVersion,
    memory: &ProcessMemory,
    runtime: u64,
) -> Result<Layout, LayoutError> {
    match (version.major, version.minor) {
        (3, 9) => Ok(v3_9::layout()),
        (3, 10) => Ok(v3_10::layout()),
        (3, 11) => Ok(v3_11::layout()),
        (3, 12) => Ok(v3_12::layout()),
        (3, 13) => v3_13::layout(memory, runtime, version),
        _ => Err(LayoutError::Unsupported(version)),
    }
}

/// `str` objects from 3.9 to 3.11, which still carry `wstr`.
const UNICODE_WITH_WSTR: UnicodeLayout = UnicodeLayout {
    length: 16,
    state: 32,
    ascii_size: 48,
    compact_size: 72,
};

/// `str` objects from 3.12, without `wstr`.
const UNICODE_WITHOUT_WSTR: UnicodeLayout = UnicodeLayout {
    length: 16,
    state: 32,
    ascii_size: 40,
    compact_size: 56,
};
