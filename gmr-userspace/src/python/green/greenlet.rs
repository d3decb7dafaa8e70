//! Reading one greenlet (greenlet 2.x/3.x) from outside the process: its
//! state and, when suspended, its Python frames.
//!
//! A `PyGreenlet` points to its C++ `Greenlet` (`pimpl`), which points back
//! at it (`_self`, where [`GreenletLayout`] says) while it lives. A suspended greenlet keeps its top frame
//! object in `python_state._top_frame`; from 3.12 greenlet "exposes" the
//! chain behind it, so it reads like any other frame chain. The state comes
//! from `stack_state`: `stack_stop` is -1 for a thread's main greenlet and
//! NULL before the first switch; `_stack_start` is NULL once it finished.
//!
//! The greenlet may switch while being read, so the top frame and the
//! chain are read until two reads agree.

use super::layout::{GREENLET_PIMPL, GreenletLayout};
use super::types::TypeCache;
use crate::proc::memory::ReadError;
use crate::python::Interpreter;
use crate::python::frames::{FrameReader, PythonFrame};

/// Reads of one greenlet before it is declared unreliable.
pub const ATTEMPTS: usize = 4;

/// A greenlet's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GreenletState {
    /// Switched away from, with its frames kept.
    Suspended,
    /// Running now: its frames are its thread's Python stack.
    Running,
    /// Created but never switched to.
    NotStarted,
    /// Finished.
    Dead,
}

/// One greenlet as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GreenletInfo {
    /// The `PyGreenlet`'s address (`id()` in the process).
    pub address: u64,
    /// Its class (`tp_name`), e.g. `GreenThread`.
    pub class: String,
    /// True for a thread's main greenlet.
    pub main: bool,
    /// Its state.
    pub state: GreenletState,
    /// Its Python frames, innermost first (suspended greenlets only).
    pub frames: Vec<PythonFrame>,
    /// Why the frames are missing though suspended, if they are.
    pub unreliable: Option<String>,
}

/// What one read of the greenlet's C++ object says.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Snapshot {
    stack_start: u64,
    stack_stop: u64,
    top_frame: u64,
}

/// Reads the greenlet at `address`; `None` when it has no C++ object any
/// more (being deallocated) or its object no longer points back at it.
///
/// # Errors
///
/// When the object itself cannot be read.
pub fn read_greenlet(
    interpreter: &Interpreter,
    layout: &GreenletLayout,
    types: &mut TypeCache,
    frames: &mut FrameReader<'_>,
    address: u64,
) -> Result<Option<GreenletInfo>, ReadError> {
    let memory = &interpreter.memory;
    let class = types.name_of_object(address, interpreter.layout.object_type)?;
    let pimpl = memory.read_u64(address + GREENLET_PIMPL)?;
    if pimpl == 0 || memory.read_u64(pimpl + layout.back_pointer)? != address {
        return Ok(None);
    }
    let snapshot = || -> Result<Snapshot, ReadError> {
        Ok(Snapshot {
            stack_start: memory.read_u64(pimpl + layout.stack_state)?,
            stack_stop: memory.read_u64(pimpl + layout.stack_state + 8)?,
            top_frame: memory.read_u64(pimpl + layout.top_frame)?,
        })
    };
    let mut last_reason = String::new();
    let mut main = false;
    for _ in 0..ATTEMPTS {
        let before = snapshot()?;
        main = before.stack_stop == u64::MAX;
        let state = match before {
            Snapshot { top_frame, .. } if top_frame != 0 => GreenletState::Suspended,
            Snapshot { stack_stop: 0, .. } => GreenletState::NotStarted,
            Snapshot { stack_start: 0, .. } => GreenletState::Dead,
            _ => GreenletState::Running,
        };
        let info = |frames, unreliable| GreenletInfo {
            address,
            class: class.clone(),
            main,
            state,
            frames,
            unreliable,
        };
        if state != GreenletState::Suspended {
            return Ok(Some(info(Vec::new(), None)));
        }
        match suspended_frames(interpreter, types, frames, before.top_frame) {
            Ok(chain) if snapshot()? == before => return Ok(Some(info(chain, None))),
            Ok(_) => last_reason = "it switched while being read".into(),
            Err(reason) => last_reason = reason,
        }
    }
    Ok(Some(GreenletInfo {
        address,
        class,
        main,
        state: GreenletState::Suspended,
        frames: Vec::new(),
        unreliable: Some(format!(
            "frames not shown: {last_reason} ({ATTEMPTS} attempts)"
        )),
    }))
}

/// The chain from the frame object `top_frame`, read twice to agree.
fn suspended_frames(
    interpreter: &Interpreter,
    types: &mut TypeCache,
    frames: &mut FrameReader<'_>,
    top_frame: u64,
) -> Result<Vec<PythonFrame>, String> {
    let kind = types
        .name_of_object(top_frame, interpreter.layout.object_type)
        .map_err(|e| e.to_string())?;
    if kind != "frame" {
        return Err(format!(
            "its top frame {top_frame:#x} is a {kind:?}, not a frame"
        ));
    }
    let first = interpreter
        .frame_of_frame_object(top_frame)
        .map_err(|e| e.to_string())?;
    let once = frames.read_chain(first).map_err(|e| e.to_string())?;
    let twice = frames.read_chain(first).map_err(|e| e.to_string())?;
    let key = |chain: &[PythonFrame]| {
        chain
            .iter()
            .map(|f| (f.address, f.code))
            .collect::<Vec<_>>()
    };
    if key(&once) != key(&twice) {
        return Err("its frames changed while being read".into());
    }
    Ok(once)
}

/// The version of the greenlet package process `pid` loaded (its
/// `__init__.py` says `__version__ = '3.5.6'`), found through the
/// `_greenlet` extension in its memory map; `None` when none is loaded or
/// the file cannot be read.
pub fn loaded_version(pid: u32) -> Option<String> {
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).ok()?;
    let extension = maps
        .lines()
        .filter_map(|line| line.split_whitespace().nth(5))
        .find(|path| path.contains("/greenlet/_greenlet") && path.ends_with(".so"))?;
    let package = std::path::Path::new(extension).parent()?;
    let init =
        std::fs::read_to_string(format!("/proc/{pid}/root{}/__init__.py", package.display()))
            .ok()?;
    version_in(&init)
}

/// The `__version__` a module's source assigns.
fn version_in(source: &str) -> Option<String> {
    source.lines().find_map(|line| {
        let value = line.strip_prefix("__version__")?.trim_start();
        let value = value.strip_prefix('=')?.trim();
        let quote = value.chars().next().filter(|q| *q == '\'' || *q == '"')?;
        Some(value[1..].split(quote).next()?.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::version_in;

    #[test]
    fn finds_the_package_version() {
        let source = "\"\"\"doc\"\"\"\n__all__ = []\n__version__ = '3.5.6'\n";
        assert_eq!(version_in(source).as_deref(), Some("3.5.6"));
        assert_eq!(
            version_in("__version__ = \"2.0.2\"").as_deref(),
            Some("2.0.2")
        );
        assert_eq!(version_in("version = '1'"), None);
    }
}
