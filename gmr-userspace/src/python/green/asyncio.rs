//! Reading one asyncio task (`_asyncio.Task`) from outside the process: its
//! name and its coroutine chain.
//!
//! A pending task holds its outermost coroutine (`task_coro`). A coroutine
//! suspended in an `await` keeps the awaited object on top of its frame's
//! value stack (what `cr_await` returns), so the chain is followed from
//! coroutine to coroutine until it reaches something that is not one (a
//! future, usually). Each coroutine's own frame is the first of its chain.
//!
//! The task may resume while being read, so the chain of coroutine and
//! frame addresses is read until two reads agree; every object followed is
//! type-checked, and the chain is bounded.

use std::collections::HashSet;

use super::layout::{
    CoroutineLayout, FRAME_SUSPENDED_310, FRAME_SUSPENDED_IN_AWAIT, GreenLayout, IFRAME_LOCALSPLUS,
    IFRAME_STACKTOP, StackDepth,
};
use super::types::TypeCache;
use crate::proc::memory::ReadError;
use crate::python::Interpreter;
use crate::python::frames::{FrameReader, PythonFrame};
use crate::python::objects::read_str_object;

/// Reads of one task before it is declared unreliable.
pub const ATTEMPTS: usize = 4;
/// Coroutines followed at most in one chain.
pub const MAX_COROUTINES: usize = 256;
/// `tp_name` of coroutine objects.
const COROUTINE_TYPE: &str = "coroutine";
/// `tp_name` of `str`.
const STR_TYPE: &str = "str";
/// `tp_name` of `int`.
const INT_TYPE: &str = "int";
/// `PyLongObject.long_value.lv_tag` (3.12+): digit count above 3 bits of
/// sign; the first 30-bit digit follows it.
const LONG_TAG: u64 = 16;
/// `PyLongObject.long_value.ob_digit` (3.12+).
const LONG_DIGIT: u64 = 24;
/// `tp_name` of the iterator `await future` runs; it only wraps the future.
const FUTURE_ITER_TYPE: &str = "_asyncio.FutureIter";
/// `futureiterobject.future`, after `PyObject_HEAD` (3.9–3.13).
const FUTURE_ITER_FUTURE: u64 = 16;

/// A task's state, as its coroutines tell.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskState {
    /// Its coroutines are suspended in an `await`.
    Pending,
    /// Its outermost coroutine runs now (the chain is the thread's stack).
    Running,
    /// Its coroutine has not started yet.
    NotStarted,
    /// Its coroutine finished (or the task has none any more).
    Done,
}

/// One task as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskInfo {
    /// The task object's address (`id()` in the process).
    pub address: u64,
    /// Its class (`tp_name`), e.g. `_asyncio.Task`.
    pub class: String,
    /// Its name (`Task-3`), when it is a `str` already.
    pub name: Option<String>,
    /// Its state.
    pub state: TaskState,
    /// One frame per coroutine of the chain, innermost first.
    pub frames: Vec<PythonFrame>,
    /// The type of what the innermost coroutine awaits, when not a
    /// coroutine (`_asyncio.Future`, `_GatheringFuture`).
    pub awaiting: Option<String>,
    /// Why the frames are missing or incomplete, if they are.
    pub unreliable: Option<String>,
}

/// One read of the chain: its coroutines with their frame addresses.
#[derive(Default, PartialEq, Eq)]
struct Chain {
    /// `(coroutine, frame)` pairs, outermost first.
    links: Vec<(u64, u64)>,
    state: Option<TaskState>,
    awaiting: Option<u64>,
}

/// Reads the task at `address`.
///
/// # Errors
///
/// When the task object itself cannot be read.
pub fn read_task(
    interpreter: &Interpreter,
    layout: &GreenLayout,
    types: &mut TypeCache,
    frames: &mut FrameReader<'_>,
    address: u64,
) -> Result<TaskInfo, ReadError> {
    let memory = &interpreter.memory;
    let object_type = interpreter.layout.object_type;
    let class = types.name_of_object(address, object_type)?;
    let name_object = memory.read_u64(address + layout.task_coro + 8)?;
    let name = match name_object {
        0 => None,
        object => match types.name_of_object(object, object_type)?.as_str() {
            STR_TYPE => read_str_object(memory, object, &interpreter.layout.unicode).ok(),
            // 3.12+ keeps the task counter until the name is asked for.
            INT_TYPE if interpreter.version.minor >= 12 => {
                compact_int(interpreter, object)?.map(|n| format!("Task-{n}"))
            }
            _ => None,
        },
    };
    let mut task = TaskInfo {
        address,
        class,
        name,
        state: TaskState::Done,
        frames: Vec::new(),
        awaiting: None,
        unreliable: None,
    };
    let mut last_reason = String::new();
    for _ in 0..ATTEMPTS {
        let coro = memory.read_u64(address + layout.task_coro)?;
        let chain = match read_chain(interpreter, layout, types, coro) {
            Ok(chain) => chain,
            Err(reason) => {
                last_reason = reason;
                continue;
            }
        };
        let mut read = Vec::with_capacity(chain.links.len());
        for &(_, frame) in chain.links.iter().rev() {
            match frames.read_chain(frame) {
                Ok(mut chain) if !chain.is_empty() => read.push(chain.swap_remove(0)),
                Ok(_) => {}
                Err(error) => {
                    last_reason = format!("frame {frame:#x}: {error}");
                    break;
                }
            }
        }
        if read.len() != chain.links.len() {
            continue;
        }
        let again = read_chain(interpreter, layout, types, coro);
        if memory.read_u64(address + layout.task_coro)? != coro || again.as_ref() != Ok(&chain) {
            last_reason = "it resumed while being read".into();
            continue;
        }
        task.state = chain.state.unwrap_or(TaskState::Done);
        task.awaiting = match chain.awaiting {
            Some(object) => Some(awaited_type(interpreter, types, object)?),
            None => None,
        };
        task.frames = read;
        return Ok(task);
    }
    task.unreliable = Some(format!(
        "coroutines not shown: {last_reason} ({ATTEMPTS} attempts)"
    ));
    Ok(task)
}

/// The value of a 3.12+ `int` of at most one digit (a task counter);
/// `None` for other ints.
fn compact_int(interpreter: &Interpreter, object: u64) -> Result<Option<u64>, ReadError> {
    let tag = interpreter.memory.read_u64(object + LONG_TAG)?;
    // One digit, positive sign (sign bits 0).
    if tag >> 3 != 1 || tag & 0b11 != 0 {
        return Ok(None);
    }
    Ok(Some(u64::from(
        interpreter.memory.read_u32(object + LONG_DIGIT)?,
    )))
}

/// The type of what a coroutine awaits, looking through the iterator of
/// `await future` to the future (`_asyncio.Future`, `_GatheringFuture`).
fn awaited_type(
    interpreter: &Interpreter,
    types: &mut TypeCache,
    object: u64,
) -> Result<String, ReadError> {
    let object_type = interpreter.layout.object_type;
    let name = types.name_of_object(object, object_type)?;
    if name != FUTURE_ITER_TYPE {
        return Ok(name);
    }
    match interpreter.memory.read_u64(object + FUTURE_ITER_FUTURE)? {
        0 => Ok(name),
        future => types.name_of_object(future, object_type),
    }
}

/// Follows the coroutines from `coro` through what each awaits.
fn read_chain(
    interpreter: &Interpreter,
    layout: &GreenLayout,
    types: &mut TypeCache,
    coro: u64,
) -> Result<Chain, String> {
    let object_type = interpreter.layout.object_type;
    let mut chain = Chain::default();
    let mut seen = HashSet::new();
    let mut current = coro;
    while current != 0 {
        if !seen.insert(current) {
            return Err(format!(
                "coroutine {current:#x} awaits itself through a cycle"
            ));
        }
        if seen.len() > MAX_COROUTINES {
            return Err(format!(
                "more than {MAX_COROUTINES} coroutines in the chain"
            ));
        }
        let kind = types
            .name_of_object(current, object_type)
            .map_err(|e| e.to_string())?;
        if kind != COROUTINE_TYPE {
            if chain.links.is_empty() {
                return Err(format!("its coroutine {current:#x} is a {kind:?}"));
            }
            chain.awaiting = Some(current);
            break;
        }
        let (frame, state, awaited) =
            suspension(interpreter, layout, current).map_err(|e| e.to_string())?;
        if chain.state.is_none() {
            chain.state = Some(state);
        }
        if state == TaskState::Done {
            break;
        }
        chain.links.push((current, frame));
        current = awaited;
    }
    Ok(chain)
}

/// The coroutine's frame, its state, and what it awaits (0 for nothing).
fn suspension(
    interpreter: &Interpreter,
    layout: &GreenLayout,
    coro: u64,
) -> Result<(u64, TaskState, u64), ReadError> {
    let memory = &interpreter.memory;
    match layout.coroutine {
        CoroutineLayout::FrameObject {
            gi_frame,
            valuestack,
            stack,
        } => {
            let frame = memory.read_u64(coro + gi_frame)?;
            if frame == 0 {
                return Ok((0, TaskState::Done, 0));
            }
            let top = match stack {
                StackDepth::TopPointer { stacktop, lasti } => {
                    if (memory.read_u32(frame + lasti)? as i32) < 0 {
                        return Ok((frame, TaskState::NotStarted, 0));
                    }
                    match memory.read_u64(frame + stacktop)? {
                        0 => return Ok((frame, TaskState::Running, 0)),
                        top => top,
                    }
                }
                StackDepth::Depth { stackdepth, state } => {
                    let state = memory.read_u8(frame + state)? as i8;
                    if state != FRAME_SUSPENDED_310 {
                        return Ok((frame, frame_state(state), 0));
                    }
                    let depth = memory.read_u32(frame + stackdepth)? as u64;
                    memory.read_u64(frame + valuestack)? + depth * 8
                }
            };
            Ok((frame, TaskState::Pending, awaited_at(interpreter, top)?))
        }
        CoroutineLayout::Embedded {
            iframe,
            frame_state: state_offset,
        } => {
            let frame = coro + iframe;
            let state = memory.read_u8(coro + state_offset)? as i8;
            if state != FRAME_SUSPENDED_IN_AWAIT {
                return Ok((frame, frame_state(state), 0));
            }
            let stacktop = memory.read_u32(frame + IFRAME_STACKTOP)? as u64;
            let top = frame + IFRAME_LOCALSPLUS + stacktop * 8;
            Ok((frame, TaskState::Pending, awaited_at(interpreter, top)?))
        }
    }
}

/// The object just below `top`, the end of a suspended frame's value
/// stack: what the frame awaits.
fn awaited_at(interpreter: &Interpreter, top: u64) -> Result<u64, ReadError> {
    interpreter.memory.read_u64(top.wrapping_sub(8))
}

/// The state of a frame not suspended in an `await`: 0 runs, positive
/// values finished, negative ones (other than suspended) not started.
fn frame_state(state: i8) -> TaskState {
    match state {
        0 => TaskState::Running,
        s if s > 0 => TaskState::Done,
        _ => TaskState::NotStarted,
    }
}
