//! Reading one greenlet (greenlet 0.4.x to 3.x) from outside the process:
//! its state, when suspended its Python frames, and how it names its thread.
//!
//! greenlet 0.4.x and 1.x keep a greenlet's state in the `PyGreenlet` C
//! struct itself, checked by its type's size and its `parent` being NULL or
//! another greenlet.
//! From 2.0 a `PyGreenlet` points to its C++ `Greenlet` (`pimpl`), which
//! points back at it (`_self`, where [`GreenletLayout`] says) while it
//! lives. A suspended greenlet keeps its top frame object (`top_frame`, in
//! 2.x/3.x `python_state._top_frame`); from 3.12 greenlet "exposes" the
//! chain behind it, so it reads like any other frame chain. The state has
//! the same meaning in every release: `stack_stop` is -1 for a thread's
//! main greenlet and NULL before the first switch; `stack_start` is NULL
//! once it finished.
//!
//! The greenlet may switch while being read, so the top frame and the
//! chain are read until two reads agree. Each greenlet's link to its
//! thread ([`Lineage`]) and an address on its thread's stack are read
//! beside, for [`super::owners`] to place it.

use procfs::process::{MMapPath, MemoryMap};

use super::layout::{FieldsHome, GREENLET_PIMPL, GreenletLayout, TYPE_BASIC_SIZE, ThreadLink};
use super::types::{GREENLET_TYPE, TypeCache};
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
    /// How it names its thread, as read.
    pub lineage: Lineage,
    /// An address on its thread's C stack, if it has one: where a started
    /// greenlet's stack slice ends (`stack_stop`, its first switch's
    /// frame), or where a main greenlet last switched away (`stack_start`).
    pub stack_mark: Option<u64>,
    /// The OS thread it belongs to, once worked out (see [`super::owners`]).
    pub thread: Option<OwnerThread>,
    /// True when it is the greenlet its thread runs now.
    pub current: bool,
    /// True for an event loop's hub greenlet (see [`super::hubs`]).
    pub hub: bool,
    /// Why its thread is not shown, or is shown without its running
    /// greenlet, when so.
    pub thread_note: Option<String>,
}

/// The OS thread a greenlet belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerThread {
    /// Its OS thread id in the agent's pid namespace, when known.
    pub tid: Option<u32>,
    /// Its Python ident (`threading.get_ident()`, the `pthread_t`).
    pub ident: u64,
}

/// How a greenlet names its thread, as read from it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lineage {
    /// Started, greenlet 0.4/1.x: the dict of its thread's thread state.
    StateDict(u64),
    /// Started `UserGreenlet`, greenlet 2.x/3.x: its thread's main
    /// greenlet.
    MainGreenlet(u64),
    /// A `MainGreenlet`, greenlet 2.x/3.x: its thread's greenlet
    /// `ThreadState`, 0 once the thread ended.
    Main {
        /// The `ThreadState`'s address.
        thread_state: u64,
    },
    /// Not started (or its link cleared): its parent, 0 for none.
    Parent(u64),
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
    let Some(home) = state_home(interpreter, layout, types, address)? else {
        return Ok(None);
    };
    let snapshot = || -> Result<Snapshot, ReadError> {
        Ok(Snapshot {
            stack_start: memory.read_u64(home + layout.stack_state)?,
            stack_stop: memory.read_u64(home + layout.stack_state + 8)?,
            top_frame: memory.read_u64(home + layout.top_frame)?,
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
        let info = |frames, unreliable| -> Result<GreenletInfo, ReadError> {
            Ok(GreenletInfo {
                address,
                class: class.clone(),
                main,
                state,
                frames,
                unreliable,
                lineage: lineage(interpreter, layout, address, home, before)?,
                stack_mark: stack_mark(before),
                thread: None,
                current: false,
                hub: false,
                thread_note: None,
            })
        };
        if state != GreenletState::Suspended {
            return info(Vec::new(), None).map(Some);
        }
        match suspended_frames(interpreter, types, frames, before.top_frame) {
            Ok(chain) if snapshot()? == before => return info(chain, None).map(Some),
            Ok(_) => last_reason = "it switched while being read".into(),
            Err(reason) => last_reason = reason,
        }
    }
    let now = snapshot()?;
    Ok(Some(GreenletInfo {
        address,
        class,
        main,
        state: GreenletState::Suspended,
        frames: Vec::new(),
        unreliable: Some(format!(
            "frames not shown: {last_reason} ({ATTEMPTS} attempts)"
        )),
        lineage: lineage(interpreter, layout, address, home, now)?,
        stack_mark: stack_mark(now),
        thread: None,
        current: false,
        hub: false,
        thread_note: None,
    }))
}

/// How the greenlet at `address`, whose fields are at `home` and read
/// `snapshot`, names its thread.
fn lineage(
    interpreter: &Interpreter,
    layout: &GreenletLayout,
    address: u64,
    home: u64,
    snapshot: Snapshot,
) -> Result<Lineage, ReadError> {
    let memory = &interpreter.memory;
    let started = snapshot.stack_stop != 0;
    Ok(match layout.thread_link {
        ThreadLink::StateDict {
            run_info, parent, ..
        } => match memory.read_u64(address + run_info)? {
            dict if started && dict != 0 => Lineage::StateDict(dict),
            _ => Lineage::Parent(memory.read_u64(address + parent)?),
        },
        ThreadLink::MainGreenlet { thread_state, .. } if snapshot.stack_stop == u64::MAX => {
            Lineage::Main {
                thread_state: memory.read_u64(home + thread_state)?,
            }
        }
        ThreadLink::MainGreenlet {
            main_greenlet,
            parent,
            ..
        } => match memory.read_u64(home + main_greenlet)? {
            0 => Lineage::Parent(memory.read_u64(home + parent)?),
            main => Lineage::MainGreenlet(main),
        },
    })
}

/// The address on its thread's stack that `snapshot` holds, if any: a
/// main greenlet's `stack_start` once it switched away (1 before), any
/// other started greenlet's `stack_stop`.
fn stack_mark(snapshot: Snapshot) -> Option<u64> {
    match snapshot {
        Snapshot {
            stack_stop: u64::MAX,
            stack_start,
            ..
        } => (stack_start > 1).then_some(stack_start),
        Snapshot { stack_stop: 0, .. } => None,
        Snapshot { stack_stop, .. } => Some(stack_stop),
    }
}

/// Where the state of the greenlet at `address` is, once it passes its
/// layout's check: the object itself (greenlet 0.4/1.x, whose type must be
/// large enough for the fields and whose parent must be NULL or a greenlet) or its C++ object (2.x/3.x, which must point
/// back at it); `None` when the check fails.
fn state_home(
    interpreter: &Interpreter,
    layout: &GreenletLayout,
    types: &mut TypeCache,
    address: u64,
) -> Result<Option<u64>, ReadError> {
    let memory = &interpreter.memory;
    match layout.home {
        FieldsHome::Object { parent } => {
            let own_type = memory.read_u64(address + interpreter.layout.object_type)?;
            if memory.read_u64(own_type + TYPE_BASIC_SIZE)? < layout.top_frame + 8 {
                return Ok(None);
            }
            let parent = memory.read_u64(address + parent)?;
            let parent_is_greenlet = parent == 0 || {
                let parent_type = memory.read_u64(parent + interpreter.layout.object_type)?;
                types.class_named(parent_type, GREENLET_TYPE)?.is_some()
            };
            Ok(parent_is_greenlet.then_some(address))
        }
        FieldsHome::Implementation { back_pointer } => {
            let pimpl = memory.read_u64(address + GREENLET_PIMPL)?;
            let points_back = pimpl != 0 && memory.read_u64(pimpl + back_pointer)? == address;
            Ok(points_back.then_some(pimpl))
        }
    }
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

/// The version of the greenlet package process `pid` loaded, found through
/// its extension in the process's memory map `maps`; `None` when none is
/// loaded or its version cannot be read.
///
/// From 1.0 the extension is `greenlet/_greenlet*.so` and the package's
/// `__init__.py` says `__version__ = '3.5.6'`; 0.4.x is a single module,
/// `greenlet*.so`, beside its installed metadata directory
/// (`greenlet-0.4.17.dist-info`, or `.egg-info` for a distribution's own
/// build), which names the version.
pub fn loaded_version(pid: u32, maps: &[MemoryMap]) -> Option<String> {
    let extension = maps.iter().find_map(|map| match &map.pathname {
        MMapPath::Path(path) => {
            // A package upgraded under the process still names its package.
            let shown = path.to_str()?;
            let shown = shown.strip_suffix(" (deleted)").unwrap_or(shown);
            Some(std::path::Path::new(shown)).filter(|path| is_greenlet_extension(path))
        }
        _ => None,
    })?;
    let dir = extension.parent()?;
    let in_root = |path: &std::path::Path| format!("/proc/{pid}/root{}", path.display());
    if dir.file_name()? == "greenlet" {
        let init = std::fs::read_to_string(in_root(&dir.join("__init__.py"))).ok()?;
        return version_in(&init);
    }
    let names = std::fs::read_dir(in_root(dir)).ok()?;
    let names: Vec<String> = names
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .collect();
    version_in_metadata_names(names.iter().map(String::as_str))
}

/// True for greenlet's extension module: `greenlet/_greenlet*.so` (1.0 and
/// later) or `greenlet*.so` (0.4.x).
fn is_greenlet_extension(path: &std::path::Path) -> bool {
    let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
        return false;
    };
    let in_package = path
        .parent()
        .and_then(|dir| dir.file_name())
        .is_some_and(|dir| dir == "greenlet");
    let module = if in_package { "_greenlet" } else { "greenlet" };
    name.ends_with(".so")
        && name
            .strip_prefix(module)
            .is_some_and(|rest| rest.starts_with('.'))
}

/// The version that the one `greenlet-VERSION.dist-info` or `.egg-info`
/// among `names` carries; `None` when there is none or several.
fn version_in_metadata_names<'a>(names: impl Iterator<Item = &'a str>) -> Option<String> {
    let mut versions = names.filter_map(|name| {
        let rest = name.strip_prefix("greenlet-")?;
        let version = rest
            .strip_suffix(".dist-info")
            .or_else(|| rest.strip_suffix(".egg-info"))?;
        // An egg-info may carry a Python tag: `greenlet-0.4.17-py3.9.egg-info`.
        Some(version.split('-').next()?.to_owned())
    });
    let version = versions.next()?;
    versions.next().is_none().then_some(version)
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
    use std::path::Path;

    use super::{is_greenlet_extension, version_in, version_in_metadata_names};

    #[test]
    fn knows_the_extension_of_every_release() {
        for path in [
            "/usr/lib/python3/dist-packages/greenlet/_greenlet.cpython-311-x86_64-linux-gnu.so",
            "/srv/venv/lib/python3.9/site-packages/greenlet.cpython-39-x86_64-linux-gnu.so",
            "/usr/lib64/python3.9/site-packages/greenlet.so",
        ] {
            assert!(is_greenlet_extension(Path::new(path)), "{path}");
        }
        for path in [
            "/usr/lib/python3/dist-packages/greenlet/platform.so",
            "/usr/lib/python3/dist-packages/greenlets.so",
            "/usr/lib/python3/dist-packages/gevent/_greenlet.cpython-311-x86_64-linux-gnu.so",
        ] {
            assert!(!is_greenlet_extension(Path::new(path)), "{path}");
        }
    }

    #[test]
    fn finds_a_single_module_release_by_its_metadata() {
        let version = |names: &[&str]| version_in_metadata_names(names.iter().copied());
        assert_eq!(
            version(&[
                "six.py",
                "greenlet-0.4.17.dist-info",
                "greenlet.cpython-39-x86_64-linux-gnu.so"
            ])
            .as_deref(),
            Some("0.4.17")
        );
        assert_eq!(
            version(&["greenlet-0.4.17-py3.9.egg-info"]).as_deref(),
            Some("0.4.17")
        );
        assert_eq!(
            version(&["greenlet-0.4.17.dist-info", "greenlet-1.1.3.dist-info"]),
            None
        );
        assert_eq!(version(&["eventlet-0.33.3.dist-info"]), None);
    }

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
