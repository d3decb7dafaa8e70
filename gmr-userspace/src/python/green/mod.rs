//! Green threads of a CPython process, read from outside it: greenlets
//! (eventlet, gevent) with their suspended Python stacks, and asyncio tasks
//! with their coroutine chains.
//!
//! [`gc_walk`] finds the objects in the garbage collector's lists,
//! [`greenlet`] and [`asyncio`] read each one; every step is bounded and
//! checked against a target that keeps running (see each module).
//! Versions read: CPython 3.9 to 3.13 (x86_64, GIL builds); greenlet 2.x
//! and 3.x (the C++ implementation), whose version is taken from the
//! package the process loaded.

pub mod asyncio;
pub mod gc_walk;
pub mod greenlet;
pub mod layout;
pub mod types;

use std::time::{Duration, Instant};

use self::asyncio::{TaskInfo, read_task};
use self::gc_walk::{WalkError, WalkLimits, find_green_objects};
use self::greenlet::{GreenletInfo, read_greenlet};
use self::layout::GreenLayout;
use self::types::TypeCache;
use super::Interpreter;
use super::frames::FrameReader;
use super::memory::ReadError;

/// Everything found.
#[derive(Clone, Debug)]
pub struct GreenThreads {
    /// The greenlet package the process loaded: its version, when found.
    pub greenlet_version: Option<String>,
    /// Every greenlet, in GC list order.
    pub greenlets: Vec<GreenletInfo>,
    /// Every asyncio task, in GC list order.
    pub tasks: Vec<TaskInfo>,
    /// Objects visited in the GC lists.
    pub objects_walked: u64,
    /// GC walks started again because the lists changed underneath.
    pub restarts: usize,
    /// Why the walk did not cover every object, if it did not.
    pub incomplete: Option<String>,
    /// How long finding and reading took.
    pub elapsed: Duration,
}

/// Why green threads could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum GreenError {
    /// A read outside any one greenlet or task failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The GC lists could not be walked.
    #[error(transparent)]
    Walk(#[from] WalkError),
    /// The greenlet package has a layout this reader does not know.
    #[error("greenlet {0} is not supported (greenlet 2.x and 3.x are read)")]
    UnsupportedGreenlet(String),
}

impl Interpreter {
    /// Every greenlet and asyncio task of the process, within `limits`.
    ///
    /// # Errors
    ///
    /// When the interpreter's lists cannot be read, or the loaded greenlet
    /// is too old; one unreadable greenlet or task only marks that one.
    pub fn green_threads(&self, limits: WalkLimits) -> Result<GreenThreads, GreenError> {
        let started = Instant::now();
        let layout = GreenLayout::of(self)?;
        let greenlet_version = greenlet::loaded_version(self.memory.pid());
        if let Some(version) = greenlet_version
            .as_ref()
            .filter(|v| !greenlet::supported(v))
        {
            return Err(GreenError::UnsupportedGreenlet(version.clone()));
        }
        let mut types = TypeCache::new(self.memory);
        let found = find_green_objects(self, &layout, &mut types, limits)?;
        let mut frames = FrameReader::new(self);
        let mut greenlets = Vec::with_capacity(found.greenlets.len());
        for &address in &found.greenlets {
            // A greenlet freed since the walk fails its read: it is gone.
            if let Ok(Some(info)) = read_greenlet(self, &layout, &mut types, &mut frames, address) {
                greenlets.push(info);
            }
        }
        let tasks = found
            .tasks
            .iter()
            .filter_map(|&address| read_task(self, &layout, &mut types, &mut frames, address).ok())
            .collect();
        Ok(GreenThreads {
            greenlet_version,
            greenlets,
            tasks,
            objects_walked: found.objects,
            restarts: found.restarts,
            incomplete: found.incomplete,
            elapsed: started.elapsed(),
        })
    }
}
