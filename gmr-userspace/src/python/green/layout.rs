//! Where CPython 3.9–3.13 keep what the green-thread readers follow beyond
//! the stack reader's [`Layout`](crate::python::Layout): the garbage
//! collector's lists, type objects, `_asyncio.Task`, coroutines, and the
//! greenlet C++ objects (greenlet 2.x/3.x).
//!
//! Offsets are x86_64. The interpreter and object ones come from
//! `offsetof()` compiled against each version's own headers
//! (`Include/internal/pycore_interp.h`, `pycore_gc.h`, `pycore_frame.h`,
//! `cpython/genobject.h`, `cpython/frameobject.h`); 3.13's `gc` offset is
//! read from the process's `_Py_DebugOffsets`. `_asyncio.Task` is private
//! to `Modules/_asynciomodule.c`, so its offsets follow that file's
//! `TaskObj` per version. Greenlet's follow `TGreenlet.hpp`, identical from
//! greenlet 2.0 to 3.5 up to the fields read here.

use crate::python::Interpreter;
use crate::python::memory::ReadError;

/// `PyTypeObject.tp_name` (a `const char *`), every version.
pub const TYPE_NAME: u64 = 24;
/// `PyTypeObject.tp_base`, every version.
pub const TYPE_BASE: u64 = 256;
/// `sizeof(PyGC_Head)`: an object starts this far after its GC header.
pub const GC_HEAD_SIZE: u64 = 16;
/// `PyGC_Head._gc_prev` keeps two flag bits under the pointer.
pub const GC_PREV_MASK: u64 = !0b11;
/// `_gc_runtime_state.generations`: three `gc_generation`s of 24 bytes,
/// each starting with its list head.
pub const GC_GENERATIONS: u64 = 24;
/// `sizeof(struct gc_generation)`.
pub const GC_GENERATION_SIZE: u64 = 24;
/// `_gc_runtime_state.permanent_generation` (objects frozen by `gc.freeze()`).
pub const GC_PERMANENT_GENERATION: u64 = 104;
/// `_gc_runtime_state.collecting`: non-zero while a collection moves
/// objects between lists.
pub const GC_COLLECTING: u64 = 200;

/// `PyGreenlet.pimpl`: after `PyObject_HEAD`, `weakreflist` and `dict`.
pub const GREENLET_PIMPL: u64 = 32;
/// `Greenlet::_self`, after the vtable pointer: points back at the
/// `PyGreenlet`, which tells a live implementation from a stale one.
pub const GREENLET_SELF: u64 = 8;

/// Offsets for one CPython minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreenLayout {
    /// `PyInterpreterState.gc`.
    pub interp_gc: u64,
    /// `Greenlet::stack_state` (`_stack_start`, then `stack_stop`).
    pub greenlet_stack_state: u64,
    /// `Greenlet::python_state._top_frame` (a `PyFrameObject *`).
    pub greenlet_top_frame: u64,
    /// `TaskObj.task_coro`; `task_name` follows it.
    pub task_coro: u64,
    /// How a coroutine keeps its frame.
    pub coroutine: CoroutineLayout,
}

/// Where a coroutine's frame and its awaited object are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CoroutineLayout {
    /// 3.9, 3.10: `cr_frame` points to a frame object.
    FrameObject {
        /// `PyGenObject.gi_frame`.
        gi_frame: u64,
        /// `PyFrameObject.f_valuestack`.
        valuestack: u64,
        /// How far the value stack is filled.
        stack: StackDepth,
    },
    /// 3.11+: the interpreter frame is inside the coroutine object.
    Embedded {
        /// `PyGenObject.gi_iframe`.
        iframe: u64,
        /// `PyGenObject.gi_frame_state` (an `int8_t`).
        frame_state: u64,
    },
}

/// How a suspended 3.9/3.10 frame records its value stack's top.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackDepth {
    /// 3.9 `f_stacktop`: a pointer one past the top, NULL unless
    /// suspended; `f_lasti` (an `int`) is -1 before the first run.
    TopPointer {
        /// `PyFrameObject.f_stacktop`.
        stacktop: u64,
        /// `PyFrameObject.f_lasti`.
        lasti: u64,
    },
    /// 3.10 `f_stackdepth` (an `int`), valid when `f_state` is
    /// `FRAME_SUSPENDED` (-1).
    Depth {
        /// `PyFrameObject.f_stackdepth`.
        stackdepth: u64,
        /// `PyFrameObject.f_state` (a `char`).
        state: u64,
    },
}

/// `_PyInterpreterFrame.stacktop` (an `int`, 3.11–3.13).
pub const IFRAME_STACKTOP: u64 = 64;
/// `_PyInterpreterFrame.localsplus` (3.11–3.13): the value stack follows
/// the locals in it, so `localsplus[stacktop - 1]` is its top.
pub const IFRAME_LOCALSPLUS: u64 = 72;
/// `FRAME_SUSPENDED` of a 3.10 frame object.
pub const FRAME_SUSPENDED_310: i8 = -1;
/// `gi_frame_state` of a coroutine suspended in an `await`: 3.11 and 3.12
/// `FRAME_SUSPENDED`, 3.13 `FRAME_SUSPENDED_YIELD_FROM`. 0 is running,
/// positive values are finished, lower ones not started (a coroutine
/// suspends nowhere but in an `await`).
pub const FRAME_SUSPENDED_IN_AWAIT: i8 = -1;

/// Index of `interpreter_state.gc` among the `u64` fields after the
/// cookie of 3.13's `_Py_DebugOffsets`.
const DEBUG_OFFSETS_INTERP_GC: u64 = 9;

impl GreenLayout {
    /// The layout of `interpreter`'s version.
    ///
    /// # Errors
    ///
    /// For 3.13, when `_Py_DebugOffsets` cannot be read.
    pub fn of(interpreter: &Interpreter) -> Result<Self, ReadError> {
        let minor = interpreter.version.minor;
        // Up to 3.10 `_PyErr_StackItem` holds type, value and traceback,
        // from 3.11 only the value: `Greenlet::exception_state` shrinks.
        let (greenlet_stack_state, greenlet_top_frame) =
            if minor <= 10 { (72, 120) } else { (56, 104) };
        let embedded = |iframe, frame_state| CoroutineLayout::Embedded {
            iframe,
            frame_state,
        };
        let (interp_gc, task_coro, coroutine) = match minor {
            9 => (
                616,
                152,
                CoroutineLayout::FrameObject {
                    gi_frame: 16,
                    valuestack: 64,
                    stack: StackDepth::TopPointer {
                        stacktop: 72,
                        lasti: 104,
                    },
                },
            ),
            10 => (
                616,
                160,
                CoroutineLayout::FrameObject {
                    gi_frame: 16,
                    valuestack: 64,
                    stack: StackDepth::Depth {
                        stackdepth: 80,
                        state: 108,
                    },
                },
            ),
            11 => (648, 136, embedded(80, 75)),
            12 => (112, 136, embedded(72, 67)),
            _ => {
                let field = interpreter.runtime + 8 + DEBUG_OFFSETS_INTERP_GC * 8;
                (interpreter.memory.read_u64(field)?, 120, embedded(72, 67))
            }
        };
        Ok(GreenLayout {
            interp_gc,
            greenlet_stack_state,
            greenlet_top_frame,
            task_coro,
            coroutine,
        })
    }
}
