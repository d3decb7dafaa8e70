//! Green threads of a CPython process, read from outside it: greenlets
//! (eventlet, gevent) with their suspended Python stacks, and asyncio tasks
//! with their coroutine chains.
//!
//! [`gc_walk`] finds the objects in the garbage collector's lists (one
//! walk per report, shared with Configuration's),
//! [`greenlet`] and [`asyncio`] read each one, [`owners`] places each
//! greenlet on its OS thread and marks the one each thread runs, [`hubs`]
//! marks eventlet's and gevent's hubs; every step is bounded and checked
//! against a target that keeps running (see each module).
//! Versions read: CPython 3.9 to 3.13 (x86_64, GIL builds); greenlet 0.4.x
//! and 1.x (the C implementation, on CPython 3.9 to 3.11) and 2.x and 3.x
//! (the C++ implementation), whose layout is chosen by the version
//! of the package the process loaded and checked on every greenlet: when
//! most greenlets fail the check, the layout is wrong and the whole read
//! fails, naming the version, rather than reporting too few greenlets.

pub mod asyncio;
pub mod gc_walk;
pub mod greenlet;
pub mod hubs;
pub mod layout;
pub mod owners;
pub mod types;

use std::time::{Duration, Instant};

use procfs::process::MemoryMap;

use self::asyncio::{TaskInfo, read_task};
use self::gc_walk::Instances;
use self::greenlet::{GreenletInfo, read_greenlet};
use self::layout::{GreenLayout, GreenletLayout};
use self::types::{EVENTLET_HUB_TYPE, GREENLET_TYPE, TASK_TYPE, TypeCache};
use super::Interpreter;
use super::frames::FrameReader;
use crate::proc::memory::ReadError;

/// The classes whose instances the green-thread reader needs from the
/// heap walk (see [`gc_walk::find_instances`]).
pub const CLASSES: [&str; 3] = [GREENLET_TYPE, TASK_TYPE, EVENTLET_HUB_TYPE];

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
    /// Why some hubs may not be marked, if so.
    pub hub_note: Option<String>,
    /// How long the heap walk and reading took.
    pub elapsed: Duration,
}

/// Why green threads could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum GreenError {
    /// A read outside any one greenlet or task failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The greenlet package has a layout this reader does not know.
    #[error("{0}")]
    UnsupportedGreenlet(String),
    /// Greenlet objects were found but the package's version was not, so
    /// no layout can be chosen.
    #[error(
        "{0} greenlet object(s) found, but the version of the greenlet package could not be read from the process's memory map"
    )]
    UnknownGreenlet(usize),
    /// Most greenlets failed the layout's check: the chosen layout is
    /// not the one this greenlet build has.
    #[error(
        "greenlet {version} on Python 3.{python_minor}: {failed} of {total} greenlet object(s) failed the layout check ({check}); this build's layout is not the one read"
    )]
    LayoutMismatch {
        /// The greenlet package's version.
        version: String,
        /// The interpreter's minor version.
        python_minor: u8,
        /// Greenlets that failed the check or could not be read.
        failed: usize,
        /// Greenlet objects found.
        total: usize,
        /// What the check looked at.
        check: String,
    },
}

impl Interpreter {
    /// Every greenlet and asyncio task of the process, from the heap
    /// walk's `instances` of [`CLASSES`]; `maps` (the process's memory map)
    /// tells which greenlet it loaded.
    ///
    /// # Errors
    ///
    /// When the loaded greenlet's layout is unknown or fails its check on
    /// most greenlets; one unreadable greenlet or task only marks that one.
    pub fn green_threads(
        &self,
        instances: &Instances,
        maps: &[MemoryMap],
    ) -> Result<GreenThreads, GreenError> {
        let started = Instant::now();
        let layout = GreenLayout::of(self)?;
        let greenlet_version = greenlet::loaded_version(self.memory.pid(), maps);
        let greenlet_layout = greenlet_version
            .as_deref()
            .map(|version| GreenletLayout::of(version, self.version.minor))
            .transpose()
            .map_err(GreenError::UnsupportedGreenlet)?;
        let mut types = TypeCache::new(self.memory);
        let objects = |name| instances.of(name).iter().map(|i| i.object);
        let found_greenlets: Vec<u64> = objects(GREENLET_TYPE).collect();
        let hub_candidates: Vec<u64> = objects(EVENTLET_HUB_TYPE).collect();
        let mut frames = FrameReader::new(self);
        let mut greenlets = Vec::with_capacity(found_greenlets.len());
        let mut hub_note = None;
        if let Some(greenlet_layout) = greenlet_layout {
            for &address in &found_greenlets {
                // A greenlet freed since the walk fails its read: it is gone.
                let read = read_greenlet(self, &greenlet_layout, &mut types, &mut frames, address);
                if let Ok(Some(info)) = read {
                    greenlets.push(info);
                }
            }
            let (total, failed) = (
                found_greenlets.len(),
                found_greenlets.len() - greenlets.len(),
            );
            if failed * 2 > total {
                return Err(GreenError::LayoutMismatch {
                    version: greenlet_version.unwrap_or_default(),
                    python_minor: self.version.minor,
                    failed,
                    total,
                    check: greenlet_layout.home.check(),
                });
            }
            self.place_greenlets(&greenlet_layout, &mut greenlets, maps);
            hub_note = hubs::mark_hubs(self, &mut types, &hub_candidates, &mut greenlets);
        } else if !found_greenlets.is_empty() {
            return Err(GreenError::UnknownGreenlet(found_greenlets.len()));
        }
        let tasks = objects(TASK_TYPE)
            .filter_map(|address| read_task(self, &layout, &mut types, &mut frames, address).ok())
            .collect();
        Ok(GreenThreads {
            greenlet_version,
            greenlets,
            tasks,
            objects_walked: instances.objects,
            restarts: instances.restarts,
            incomplete: instances.incomplete.clone(),
            hub_note,
            elapsed: instances.elapsed + started.elapsed(),
        })
    }

    /// Places each of `greenlets` on its OS thread (see [`owners`]), from
    /// the thread states read now; when they cannot be read, each
    /// greenlet says so.
    fn place_greenlets(
        &self,
        layout: &GreenletLayout,
        greenlets: &mut [GreenletInfo],
        maps: &[MemoryMap],
    ) {
        match self.threads() {
            Ok(threads) => {
                owners::assign(&self.memory, layout.thread_link, greenlets, &threads, maps);
            }
            Err(error) => {
                for greenlet in greenlets {
                    greenlet.thread_note = Some(format!(
                        "thread not shown: the Python thread states could not be read: {error}"
                    ));
                }
            }
        }
    }
}
