//! Every Python thread state of a process, each with its OS thread id,
//! whether it holds the GIL, and its Python stack read consistently.
//!
//! A thread that holds the GIL keeps running while its chain is read, so
//! each chain is read twice and the two compared (frame and code
//! addresses); a chain that keeps changing after [`ATTEMPTS`] reads, or
//! fails a check, is reported as unreliable with the reason, without
//! frames.

use std::collections::{HashMap, HashSet};

use super::Interpreter;
use super::frames::{FrameReader, PythonFrame};
use super::layout::{CurrentFrame, GilLayout};
use super::native_tid::PthreadTids;
use crate::proc::memory::ReadError;
use crate::proc::pid_namespace::NamespaceTids;

/// Interpreters followed at most.
const MAX_INTERPRETERS: usize = 256;
/// Thread states followed at most per interpreter.
const MAX_THREADS: usize = 1 << 16;
/// Reads of one chain before it is declared unreliable.
pub const ATTEMPTS: usize = 4;

/// One Python thread state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonThread {
    /// The OS thread id in the agent's pid namespace, when it could be
    /// found (a thread that just exited has none).
    pub native_tid: Option<u32>,
    /// `thread_id`: the thread's `pthread_t`.
    pub pthread_id: u64,
    /// The `PyThreadState` address.
    pub thread_state: u64,
    /// Whether it holds the GIL; `None` when that cannot be told.
    pub holds_gil: Option<bool>,
    /// Its Python frames, innermost first (empty when unreliable).
    pub frames: Vec<PythonFrame>,
    /// Why `frames` could not be read, when they could not.
    pub unreliable: Option<String>,
}

/// The GIL's state as read from the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GilState {
    /// Held by the thread state at this address.
    HeldBy(u64),
    /// Not held.
    Free,
    /// Could not be read consistently.
    Unknown,
}

impl Interpreter {
    /// Every thread state of every interpreter, with its Python stack.
    ///
    /// # Errors
    ///
    /// When the interpreter or thread state lists cannot be read; a single
    /// thread's stack failing only marks that thread unreliable.
    pub fn threads(&self) -> Result<Vec<PythonThread>, ReadError> {
        // A thread exiting meanwhile frees its state: walk the list again.
        let mut attempt = 1;
        loop {
            match self.threads_once() {
                Err(_) if attempt < ATTEMPTS => attempt += 1,
                read => return read,
            }
        }
    }

    /// One walk of the thread states for [`Self::threads`].
    fn threads_once(&self) -> Result<Vec<PythonThread>, ReadError> {
        let states = self.thread_states()?;
        let mut gils = HashMap::new();
        for &(interp, _) in &states {
            gils.entry(interp).or_insert_with(|| self.gil_state(interp));
        }
        let memory = &self.memory;
        let layout = &self.layout;
        let pthread_ids = states
            .iter()
            .map(|&(_, tstate)| memory.read_u64(tstate + layout.tstate_thread_id))
            .collect::<Result<Vec<_>, _>>()?;
        let tasks = NamespaceTids::read(memory.pid());
        let native_ids = match layout.tstate_native_thread_id {
            Some(offset) => states
                .iter()
                .map(|&(_, tstate)| Ok(Some(memory.read_u64(tstate + offset)? as u32)))
                .collect::<Result<Vec<_>, ReadError>>()?,
            None => vec![None; states.len()],
        };
        let live = |id: &Option<u32>| id.filter(|&tid| tasks.contains(tid));
        let pthread_tids = native_ids.iter().any(|id| live(id).is_none()).then(|| {
            let known: Vec<(u64, u32)> = pthread_ids
                .iter()
                .zip(&native_ids)
                .filter_map(|(&pthread_id, id)| live(id).map(|tid| (pthread_id, tid)))
                .collect();
            if known.is_empty() {
                PthreadTids::calibrate(memory, &pthread_ids, &tasks)
            } else {
                PthreadTids::calibrate_known(memory, &known)
            }
        });
        let mut reader = FrameReader::new(self);
        states
            .iter()
            .zip(pthread_ids)
            .zip(native_ids)
            .map(|((&(interp, tstate), pthread_id), native_id)| {
                let own_tid = live(&native_id).or_else(|| {
                    pthread_tids
                        .as_ref()
                        .and_then(|tids| tids.tid_of(memory, pthread_id))
                });
                let native_tid = own_tid.and_then(|tid| tasks.to_agent(tid));
                let (frames, unreliable) = match self.consistent_stack(&mut reader, tstate) {
                    Ok(frames) => (frames, None),
                    Err(reason) => (Vec::new(), Some(reason)),
                };
                Ok(PythonThread {
                    native_tid,
                    pthread_id,
                    thread_state: tstate,
                    holds_gil: match gils[&interp] {
                        GilState::HeldBy(holder) => Some(holder == tstate),
                        GilState::Free => Some(false),
                        GilState::Unknown => None,
                    },
                    frames,
                    unreliable,
                })
            })
            .collect()
    }

    /// `(interpreter, thread state)` pairs, main interpreter last as
    /// CPython links them (newest first).
    fn thread_states(&self) -> Result<Vec<(u64, u64)>, ReadError> {
        let memory = &self.memory;
        let layout = &self.layout;
        let mut states = Vec::new();
        let mut seen = HashSet::new();
        let mut interp = memory.read_u64(self.runtime + layout.runtime_interpreters_head)?;
        for _ in 0..MAX_INTERPRETERS {
            if interp == 0 || !seen.insert(interp) {
                break;
            }
            let mut tstate = memory.read_u64(interp + layout.interp_threads_head)?;
            for _ in 0..MAX_THREADS {
                if tstate == 0 || !seen.insert(tstate) {
                    break;
                }
                let owner = memory.read_u64(tstate + layout.tstate_interp)?;
                if owner != interp {
                    return Err(ReadError::Invalid {
                        address: tstate,
                        what: format!(
                            "a thread state of interpreter {owner:#x} in the list of {interp:#x} \
                             (a thread exited while the list was read)"
                        ),
                    });
                }
                states.push((interp, tstate));
                tstate = memory.read_u64(tstate + layout.tstate_next)?;
            }
            interp = memory.read_u64(interp + layout.interp_next)?;
        }
        Ok(states)
    }

    /// The innermost frame of the thread state at `tstate`.
    fn current_frame(&self, tstate: u64) -> Result<u64, ReadError> {
        match self.layout.tstate_frame {
            CurrentFrame::Direct(offset) => self.memory.read_u64(tstate + offset),
            CurrentFrame::ViaCFrame {
                cframe,
                current_frame,
            } => match self.memory.read_u64(tstate + cframe)? {
                0 => Ok(0),
                cframe => self.memory.read_u64(cframe + current_frame),
            },
        }
    }

    /// The stack of `tstate`, read until two reads in a row agree.
    fn consistent_stack(
        &self,
        reader: &mut FrameReader<'_>,
        tstate: u64,
    ) -> Result<Vec<PythonFrame>, String> {
        let mut previous: Option<Vec<PythonFrame>> = None;
        let mut last_error = None;
        for _ in 0..ATTEMPTS {
            let read = self
                .current_frame(tstate)
                .map_err(|e| e.to_string())
                .and_then(|first| reader.read_chain(first).map_err(|e| e.to_string()));
            match read {
                Ok(frames) => {
                    if previous.as_deref().is_some_and(|p| same_frames(p, &frames)) {
                        return Ok(frames);
                    }
                    previous = Some(frames);
                }
                Err(error) => {
                    previous = None;
                    last_error = Some(error);
                }
            }
        }
        Err(match last_error {
            Some(error) if previous.is_none() => {
                format!("Python stack unreadable (the thread was running?): {error}")
            }
            _ => {
                format!("Python stack kept changing over {ATTEMPTS} reads (the thread was running)")
            }
        })
    }

    /// The holder of the GIL `interp` runs under: two consecutive reads
    /// that agree, within [`ATTEMPTS`] reads.
    fn gil_state(&self, interp: u64) -> GilState {
        let read = || -> Result<GilState, ReadError> {
            let memory = &self.memory;
            let (locked, holder) = match self.layout.gil {
                GilLayout::InRuntime { locked, holder } => {
                    (self.runtime + locked, self.runtime + holder)
                }
                GilLayout::PerInterpreter {
                    pointer,
                    locked,
                    holder,
                } => {
                    let gil = memory.read_u64(interp + pointer)?;
                    if gil == 0 {
                        return Ok(GilState::Unknown);
                    }
                    (gil + locked, gil + holder)
                }
            };
            Ok(match memory.read_u32(locked)? {
                0 => GilState::Free,
                1 => GilState::HeldBy(memory.read_u64(holder)?),
                _ => GilState::Unknown,
            })
        };
        // The GIL changes hands every few milliseconds between busy threads:
        // a handover between two reads is retried, not reported as unknown.
        let mut previous = read();
        for _ in 1..ATTEMPTS {
            let current = read();
            if let (Ok(first), Ok(second)) = (&previous, &current)
                && first == second
            {
                return *second;
            }
            previous = current;
        }
        GilState::Unknown
    }
}

/// True when two reads of a chain show the same frames running the same
/// code (lines may differ: the innermost frame moves on by itself).
fn same_frames(a: &[PythonFrame], b: &[PythonFrame]) -> bool {
    a.len() == b.len()
        && a.iter()
            .zip(b)
            .all(|(a, b)| a.address == b.address && a.code == b.code)
}
