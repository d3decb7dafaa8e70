//! Where CPython 3.9–3.13 keep what the green-thread readers follow beyond
//! the stack reader's [`Layout`](crate::python::Layout): the garbage
//! collector's lists, type objects, `_asyncio.Task`, coroutines, and the
//! greenlet objects (the C struct of greenlet 0.4/1.x, the C++ objects of 2.x/3.x).
//!
//! Offsets are x86_64. The interpreter and object ones come from
//! `offsetof()` compiled against each version's own headers
//! (`Include/internal/pycore_interp.h`, `pycore_gc.h`, `pycore_frame.h`,
//! `cpython/genobject.h`, `cpython/frameobject.h`); 3.13's `gc` offset is
//! read from the process's `_Py_DebugOffsets`. `_asyncio.Task` is private
//! to `Modules/_asynciomodule.c`, so its offsets follow that file's
//! `TaskObj` per version. Greenlet's follow its C++ headers
//! (`greenlet_greenlet.hpp`, later `TGreenlet.hpp`) and were checked in
//! live processes against `id(g)` and `id(g.gr_frame)`: up to greenlet
//! 3.1.0 the back-pointer to the `PyGreenlet` is the first field of the
//! `UserGreenlet`/`MainGreenlet` subclasses, right after the base
//! `Greenlet`; from 3.1.1 it is the base's first field, after the vtable.

use crate::proc::memory::ReadError;
use crate::python::Interpreter;

/// `PyTypeObject.tp_name` (a `const char *`), every version.
pub const TYPE_NAME: u64 = 24;
/// `PyTypeObject.tp_basicsize`, every version.
pub const TYPE_BASIC_SIZE: u64 = 32;

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

/// Where one greenlet release loaded into one CPython minor version keeps
/// the fields read, and how a greenlet is checked against that layout.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreenletLayout {
    /// The object holding the fields, and its check.
    pub home: FieldsHome,
    /// `stack_start`, then `stack_stop`, from the home's start.
    pub stack_state: u64,
    /// The suspended greenlet's top frame (a `PyFrameObject *`), from the
    /// home's start.
    pub top_frame: u64,
    /// Where the link from a greenlet to its thread is.
    pub thread_link: ThreadLink,
}

/// How a greenlet names the thread it belongs to: greenlet's own rule
/// (`green_statedict` in 0.4/1.x, `find_main_greenlet_in_lineage` in
/// 2.x/3.x), a started greenlet through its own field, one not started
/// through its parent, in whose thread alone it can start.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ThreadLink {
    /// greenlet 0.4.x and 1.x: once started, `PyGreenlet.run_info` is the
    /// dict of the thread state (`PyThreadState.dict`) it runs under.
    StateDict {
        /// `PyGreenlet.run_info`.
        run_info: u64,
        /// `PyGreenlet.parent`.
        parent: u64,
        /// `PyThreadState.dict` of this CPython.
        tstate_dict: u64,
    },
    /// greenlet 2.x and 3.x: a started `UserGreenlet` keeps its thread's
    /// main greenlet; a `MainGreenlet` keeps the thread's greenlet
    /// `ThreadState` (NULL once the thread ended), whose first field is
    /// the main greenlet again. Offsets from the C++ object's start.
    MainGreenlet {
        /// `UserGreenlet._main_greenlet`.
        main_greenlet: u64,
        /// `UserGreenlet._parent`.
        parent: u64,
        /// `MainGreenlet._thread_state`.
        thread_state: u64,
    },
}

/// Which object holds a greenlet's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldsHome {
    /// greenlet 0.4.x and 1.x: the `PyGreenlet` C struct itself
    /// (`greenlet.h`). It has no back-pointer, so its type must be large
    /// enough to hold the fields read, and its `parent`, at this offset,
    /// must be NULL or another greenlet.
    Object {
        /// `PyGreenlet.parent`.
        parent: u64,
    },
    /// greenlet 2.x and 3.x: the C++ `Greenlet` at `PyGreenlet.pimpl`,
    /// whose `_self` at this offset points back at the `PyGreenlet` while
    /// it lives, which tells a live implementation from a stale one, and
    /// this layout from another.
    Implementation {
        /// `_self`.
        back_pointer: u64,
    },
}

impl FieldsHome {
    /// What the check of each greenlet looks at, for the error that says
    /// most greenlets failed it.
    pub fn check(&self) -> String {
        match self {
            Self::Object { parent } => {
                format!(
                    "their type is too small for the C struct's fields, or their parent at offset {parent} is not NULL or a greenlet"
                )
            }
            Self::Implementation { back_pointer } => {
                format!("their C++ object does not point back at them at offset {back_pointer}")
            }
        }
    }
}

/// The first greenlet release with `_self` in the base `Greenlet`.
const SELF_IN_BASE: (u32, u32, u32) = (3, 1, 1);
/// The first greenlet release whose `PythonState` saves the thread
/// state's `critical_section` (on CPython 3.13 and later).
const CRITICAL_SECTION: (u32, u32, u32) = (3, 5, 3);

/// `PyGreenlet.parent` of greenlet 0.4.x and 1.x: `stack_start` and
/// `stack_stop` follow `PyObject_HEAD`; then `stack_copy`, `stack_saved`,
/// `stack_prev`, `parent`, `run_info`, `top_frame`, the same on every
/// CPython.
const C_PARENT: u64 = 56;

/// `PyGreenlet.run_info` of greenlet 0.4.x and 1.x.
const C_RUN_INFO: u64 = 64;

impl GreenletLayout {
    /// The layout of greenlet `version` (`__version__`, e.g. `2.0.2`)
    /// loaded into CPython 3.`python_minor`.
    ///
    /// # Errors
    ///
    /// When the version is not one whose layout is known here, saying so.
    pub fn of(version: &str, python_minor: u8) -> Result<Self, String> {
        let release = release_of(version)
            .ok_or_else(|| format!("greenlet {version}: cannot parse its version"))?;
        let unsupported = || {
            format!(
                "greenlet {version} on Python 3.{python_minor} is not supported \
                 (greenlet 0.4 and 1.x on Python 3.9 to 3.11, 2.0 to 3.x on Python 3.9 to 3.13 are read)"
            )
        };
        match release.0 {
            0 | 1 if (9..=11).contains(&python_minor) => {
                // `dict` follows `curexc_*`, `exc_state` and `exc_info`:
                // 3.11 dropped fields before them (`frame`, `overflowed`…).
                let tstate_dict = if python_minor <= 10 { 152 } else { 128 };
                return Ok(GreenletLayout {
                    home: FieldsHome::Object { parent: C_PARENT },
                    stack_state: 16,
                    top_frame: 72,
                    thread_link: ThreadLink::StateDict {
                        run_info: C_RUN_INFO,
                        parent: C_PARENT,
                        tstate_dict,
                    },
                });
            }
            2 | 3 if (9..=13).contains(&python_minor) => {}
            _ => return Err(unsupported()),
        }
        // Up to 3.10 `_PyErr_StackItem` holds type, value and traceback,
        // from 3.11 only the value: `Greenlet::exception_state` shrinks.
        let (stack_state, top_frame) = if python_minor <= 10 {
            (64, 112)
        } else {
            (48, 96)
        };
        // `sizeof(Greenlet)` before 3.1.1: its `PythonState` grows with
        // the thread state it saves (`cframe` from 3.10, the data stack
        // from 3.11, `cframe` gone again in 3.13).
        let mut base = match python_minor {
            9 => 128,
            10 => 144,
            11 | 12 => 160,
            _ => 152,
        };
        // 3.5.3 added `PythonState::critical_section` on CPython 3.13+
        // (after the top frame, so only the subclasses' fields move).
        if python_minor >= 13 && release >= CRITICAL_SECTION {
            base += 8;
        }
        // A `UserGreenlet` holds `_main_greenlet`, `_run_callable`,
        // `_parent` after `_self` (before 3.1.1) or after the base that
        // took `_self` (3.1.1 on): the same offsets either way. A
        // `MainGreenlet` keeps a `_self` of its own from 3.1.1, so its
        // `_thread_state` moves by one pointer.
        let self_in_base = release >= SELF_IN_BASE;
        let thread_link = ThreadLink::MainGreenlet {
            main_greenlet: base + 8,
            parent: base + 24,
            thread_state: if self_in_base { base + 16 } else { base + 8 },
        };
        if self_in_base {
            return Ok(GreenletLayout {
                home: FieldsHome::Implementation { back_pointer: 8 },
                stack_state: stack_state + 8,
                top_frame: top_frame + 8,
                thread_link,
            });
        }
        Ok(GreenletLayout {
            home: FieldsHome::Implementation { back_pointer: base },
            stack_state,
            top_frame,
            thread_link,
        })
    }
}

/// `major.minor.patch` of a version string; a missing part is 0 and a
/// pre-release suffix (`3.1.1a1`) is ignored.
fn release_of(version: &str) -> Option<(u32, u32, u32)> {
    let mut parts = version.split('.').map(|part| {
        let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
        digits.parse::<u32>().ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// Offsets for one CPython minor version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GreenLayout {
    /// `PyInterpreterState.gc`.
    pub interp_gc: u64,
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
            task_coro,
            coroutine,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::{FieldsHome, GreenletLayout, ThreadLink};

    #[test]
    fn greenlet_layout_follows_the_release() {
        // Offsets measured in live processes (id(g), id(g.gr_frame)).
        let layout = |version, minor| {
            GreenletLayout::of(version, minor).map(|l| {
                let FieldsHome::Implementation { back_pointer } = l.home else {
                    panic!("greenlet {version}: not a C++ layout: {l:?}");
                };
                (back_pointer, l.stack_state, l.top_frame)
            })
        };
        assert_eq!(layout("2.0.2", 11), Ok((160, 48, 96)));
        assert_eq!(layout("3.0.3", 10), Ok((144, 64, 112)));
        assert_eq!(layout("2.0.2", 9), Ok((128, 64, 112)));
        assert_eq!(layout("3.0.3", 12), Ok((160, 48, 96)));
        assert_eq!(layout("3.1.0", 13), Ok((152, 48, 96)));
        assert_eq!(layout("3.1.1", 11), Ok((8, 56, 104)));
        assert_eq!(layout("3.5.6", 13), Ok((8, 56, 104)));
        assert_eq!(layout("3.2.5", 9), Ok((8, 72, 120)));
        for (version, minor) in [("1.1.3", 12), ("0.4.17", 13), ("4.0.0", 12), ("3.5.6", 8)] {
            let error = GreenletLayout::of(version, minor).expect_err(version);
            assert!(error.contains(version), "{error}");
        }
    }

    #[test]
    fn the_thread_link_follows_the_release() {
        // Checked live by tests/tests/green_threads.rs: every greenlet
        // placed on the thread it reported itself in.
        let link = |version, minor| GreenletLayout::of(version, minor).unwrap().thread_link;
        assert_eq!(
            link("2.0.2", 11),
            ThreadLink::MainGreenlet {
                main_greenlet: 168,
                parent: 184,
                thread_state: 168
            }
        );
        assert_eq!(
            link("3.5.6", 11),
            ThreadLink::MainGreenlet {
                main_greenlet: 168,
                parent: 184,
                thread_state: 176
            }
        );
        assert_eq!(
            link("3.5.6", 13),
            ThreadLink::MainGreenlet {
                main_greenlet: 168,
                parent: 184,
                thread_state: 176
            }
        );
        assert_eq!(
            link("3.1.0", 13),
            ThreadLink::MainGreenlet {
                main_greenlet: 160,
                parent: 176,
                thread_state: 160
            }
        );
        assert_eq!(
            link("0.4.17", 9),
            ThreadLink::StateDict {
                run_info: 64,
                parent: 56,
                tstate_dict: 152
            }
        );
        assert_eq!(
            link("1.1.3", 11),
            ThreadLink::StateDict {
                run_info: 64,
                parent: 56,
                tstate_dict: 128
            }
        );
    }

    #[test]
    fn greenlet_0_4_and_1_x_keep_their_state_in_the_object() {
        for (version, minor) in [("0.4.17", 9), ("1.1.2", 10), ("1.1.3", 11)] {
            let layout = GreenletLayout::of(version, minor).expect(version);
            assert_eq!(layout.home, FieldsHome::Object { parent: 56 });
            assert_eq!((layout.stack_state, layout.top_frame), (16, 72));
        }
    }
}
