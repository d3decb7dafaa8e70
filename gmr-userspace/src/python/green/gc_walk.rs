//! Finding every greenlet and asyncio task of a running interpreter by
//! walking the garbage collector's lists, from outside the process.
//!
//! Greenlets and tasks are GC-tracked containers, so each sits in one of
//! the doubly linked `PyGC_Head` lists of its interpreter's
//! `_gc_runtime_state` (three generations and the permanent one). The
//! target keeps running, so the walk is checked as it goes: every node's
//! `_gc_prev` must point back at the node before it, the list must come
//! back to its head within the object cap, and no collection may be under
//! way (`collecting`), and no node may be another list's head (a node
//! moved to another generation under the cursor leads there). Collections
//! only move objects to older generations, and the walk goes from young to
//! old, so a moved greenlet or task is met later, perhaps twice: each is
//! kept once. A walk that fails a check is started again; one
//! that keeps failing is an error, never a partial list passed off as
//! whole. The walk also stops at an object cap and a time limit, and then
//! says so. The walk itself ([`walk_heap`]) shows every object to a
//! [`Visitor`]; [`find_instances`] keeps the instances of named classes,
//! so one walk per report serves every reader of the heap (greenlets,
//! tasks and hubs for Green Threads, oslo.config's `ConfigOpts` for
//! Configuration).

use std::collections::{HashMap, HashSet};
use std::thread;
use std::time::{Duration, Instant};

use super::layout::{
    GC_COLLECTING, GC_GENERATION_SIZE, GC_GENERATIONS, GC_HEAD_SIZE, GC_PERMANENT_GENERATION,
    GC_PREV_MASK, GreenLayout,
};
use super::types::TypeCache;
use crate::proc::memory::ReadError;
use crate::python::Interpreter;

/// Walks of the lists tried before they are declared unreadable.
pub const ATTEMPTS: usize = 4;
/// Pause between attempts, so a collection under way can finish.
const RETRY_PAUSE: Duration = Duration::from_millis(5);
/// Interpreters followed at most.
const MAX_INTERPRETERS: usize = 64;
/// Size of the pages the walk reads: objects of one size class share a
/// pool of pages, so one read usually brings the next nodes along.
const PAGE: u64 = 4096;
/// Bytes read per node: `_gc_next`, `_gc_prev`, then the object's
/// `ob_refcnt` and `ob_type`.
const NODE: usize = 32;

/// How much a walk may do.
#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    /// Objects visited at most, over all lists of all interpreters.
    pub max_objects: u64,
    /// Time after which the walk stops.
    pub max_time: Duration,
}

/// The instances of the classes a walk looked for, and how it went.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Instances {
    /// The class names looked for, and the instances of each (an object
    /// of that class or a subclass, with the class carrying the name), in
    /// the lists' order.
    pub found: Vec<(&'static str, Vec<Instance>)>,
    /// Objects visited.
    pub objects: u64,
    /// Walks started again because the lists changed while being read.
    pub restarts: usize,
    /// Why the walk stopped before the end of every list, if it did.
    pub incomplete: Option<String>,
    /// How long the walk took.
    pub elapsed: Duration,
}

/// One instance found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Instance {
    /// The object's address.
    pub object: u64,
    /// The class among its type's bases (or its type) that carries the
    /// name looked for.
    pub class: u64,
}

impl Instances {
    /// The instances of the class named `name` (none when it was not
    /// looked for).
    pub fn of(&self, name: &str) -> &[Instance] {
        self.found
            .iter()
            .find(|(looked_for, _)| *looked_for == name)
            .map_or(&[], |(_, instances)| instances)
    }
}

/// Why the lists could not be walked at all.
#[derive(Debug, thiserror::Error)]
pub enum WalkError {
    /// A read failed (a freed node, a garbage pointer).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Every attempt met a list that changed while being read.
    #[error(
        "the garbage collector's lists kept changing while being read ({ATTEMPTS} attempts): {0}"
    )]
    Torn(String),
}

/// What stopped one attempt.
enum Stop {
    /// The lists changed underneath: start again.
    Torn(String),
    /// A read failed.
    Read(ReadError),
}

impl From<ReadError> for Stop {
    fn from(error: ReadError) -> Self {
        Stop::Read(error)
    }
}

/// What a walk does with each object it meets. A walk that starts again
/// calls [`Visitor::start`] first, so what an abandoned attempt found is
/// dropped.
pub trait Visitor {
    /// A new attempt begins: forget what the last one found.
    fn start(&mut self);
    /// The object at `object`, of the type at `type_object`, is live.
    ///
    /// # Errors
    ///
    /// When the object's type cannot be read: the lists are changing.
    fn visit(&mut self, object: u64, type_object: u64) -> Result<(), ReadError>;
}

/// How a walk went, whatever it looked for.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WalkOutcome {
    /// Objects visited.
    pub objects: u64,
    /// Walks started again because the lists changed while being read.
    pub restarts: usize,
    /// Why the walk stopped before the end of every list, if it did.
    pub incomplete: Option<String>,
}

/// Walks the GC lists of every interpreter of `interpreter`'s process,
/// showing each object met to `visitor`.
///
/// # Errors
///
/// When the lists cannot be read, or kept changing for [`ATTEMPTS`] walks.
pub fn walk_heap(
    interpreter: &Interpreter,
    layout: &GreenLayout,
    limits: WalkLimits,
    visitor: &mut dyn Visitor,
) -> Result<WalkOutcome, WalkError> {
    let started = Instant::now();
    let mut last_reason = String::new();
    for attempt in 0..ATTEMPTS {
        if attempt > 0 {
            thread::sleep(RETRY_PAUSE);
        }
        visitor.start();
        let mut walk = Walk {
            interpreter,
            visitor: &mut *visitor,
            limits,
            started,
            found: WalkOutcome {
                restarts: attempt,
                ..WalkOutcome::default()
            },
            pages: HashMap::new(),
        };
        match walk.all_interpreters(layout) {
            Ok(()) => return Ok(walk.found),
            Err(Stop::Torn(reason)) => last_reason = reason,
            Err(Stop::Read(error)) => return Err(error.into()),
        }
    }
    Err(WalkError::Torn(last_reason))
}

/// Collects the instances of classes named one of `names`, each kept once.
struct ClassVisitor<'a> {
    types: TypeCache,
    names: &'a [&'static str],
    found: Vec<Vec<Instance>>,
    kept: HashSet<u64>,
}

impl Visitor for ClassVisitor<'_> {
    fn start(&mut self) {
        self.found.iter_mut().for_each(Vec::clear);
        self.kept.clear();
    }

    fn visit(&mut self, object: u64, type_object: u64) -> Result<(), ReadError> {
        if let Some((index, class)) = self.types.class_among(type_object, self.names)?
            && self.kept.insert(object)
        {
            self.found[index].push(Instance { object, class });
        }
        Ok(())
    }
}

/// Walks the GC lists of every interpreter of `interpreter`'s process, once,
/// for the instances of the classes named `names` (`tp_name`: the bare name
/// for a class statement's type, `module.Name` for a C type) and their
/// subclasses, within `limits`.
///
/// # Errors
///
/// When the lists cannot be read, or kept changing for [`ATTEMPTS`] walks.
pub fn find_instances(
    interpreter: &Interpreter,
    names: &[&'static str],
    limits: WalkLimits,
) -> Result<Instances, WalkError> {
    let started = Instant::now();
    let layout = GreenLayout::of(interpreter)?;
    let mut visitor = ClassVisitor {
        types: TypeCache::new(interpreter.memory),
        names,
        found: vec![Vec::new(); names.len()],
        kept: HashSet::new(),
    };
    let outcome = walk_heap(interpreter, &layout, limits, &mut visitor)?;
    Ok(Instances {
        found: names.iter().copied().zip(visitor.found).collect(),
        objects: outcome.objects,
        restarts: outcome.restarts,
        incomplete: outcome.incomplete,
        elapsed: started.elapsed(),
    })
}

/// One attempt at walking every list.
struct Walk<'a> {
    interpreter: &'a Interpreter,
    visitor: &'a mut dyn Visitor,
    limits: WalkLimits,
    started: Instant,
    found: WalkOutcome,
    /// Pages read in this attempt (a fresh attempt reads them again).
    pages: HashMap<u64, Box<[u8]>>,
}

impl Walk<'_> {
    fn all_interpreters(&mut self, layout: &GreenLayout) -> Result<(), Stop> {
        let memory = &self.interpreter.memory;
        let python = &self.interpreter.layout;
        let mut seen = HashSet::new();
        let mut interp =
            memory.read_u64(self.interpreter.runtime + python.runtime_interpreters_head)?;
        while interp != 0 && seen.insert(interp) && seen.len() <= MAX_INTERPRETERS {
            let gc = interp + layout.interp_gc;
            self.check_not_collecting(gc)?;
            let heads = (0..3)
                .map(|generation| gc + GC_GENERATIONS + generation * GC_GENERATION_SIZE)
                .chain([gc + GC_PERMANENT_GENERATION]);
            for head in heads {
                if !self.list(head, gc)? {
                    return Ok(());
                }
            }
            self.check_not_collecting(gc)?;
            interp = memory.read_u64(interp + python.interp_next)?;
        }
        Ok(())
    }

    fn check_not_collecting(&self, gc: u64) -> Result<(), Stop> {
        match self.interpreter.memory.read_u32(gc + GC_COLLECTING)? {
            0 => Ok(()),
            _ => Err(Stop::Torn("a garbage collection was running".into())),
        }
    }

    /// Walks the list at `head` of the GC state at `gc`; false when a
    /// limit stopped the walk.
    fn list(&mut self, head: u64, gc: u64) -> Result<bool, Stop> {
        let object_type = self.interpreter.layout.object_type;
        let mut previous = head;
        let mut node = self.interpreter.memory.read_u64(head)?;
        let mut buf = [0u8; NODE];
        while node != head {
            if node == 0 || node % 8 != 0 {
                return Err(Stop::Torn(format!("node after {previous:#x} is {node:#x}")));
            }
            if (gc..gc + GC_COLLECTING).contains(&node) {
                return Err(Stop::Torn(format!(
                    "the list at {head:#x} leads into another list's head at {node:#x}"
                )));
            }
            if let Some(reason) = self.over_limit() {
                self.found.incomplete = Some(reason);
                return Ok(false);
            }
            self.read_node(node, &mut buf)?;
            let word =
                |i: usize| u64::from_le_bytes(buf[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
            let (next, back) = (word(0), word(1) & GC_PREV_MASK);
            if back != previous {
                return Err(Stop::Torn(format!(
                    "node {node:#x} links back to {back:#x}, not {previous:#x}"
                )));
            }
            let object = node + GC_HEAD_SIZE;
            let type_object = word((GC_HEAD_SIZE + object_type) as usize / 8);
            self.found.objects += 1;
            if let Err(error) = self.visitor.visit(object, type_object) {
                return Err(Stop::Torn(format!(
                    "object {object:#x} has an unreadable type: {error}"
                )));
            }
            previous = node;
            node = next;
        }
        Ok(true)
    }

    /// The first [`NODE`] bytes at `node`, through the page cache.
    fn read_node(&mut self, node: u64, buf: &mut [u8; NODE]) -> Result<(), ReadError> {
        let memory = &self.interpreter.memory;
        let (page, offset) = (node - node % PAGE, (node % PAGE) as usize);
        if offset + NODE > PAGE as usize {
            return memory.read_into(node, buf);
        }
        let bytes = match self.pages.entry(page) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                entry.insert(memory.read_bytes(page, PAGE as usize)?.into_boxed_slice())
            }
        };
        buf.copy_from_slice(&bytes[offset..offset + NODE]);
        Ok(())
    }

    fn over_limit(&self) -> Option<String> {
        if self.found.objects >= self.limits.max_objects {
            return Some(format!(
                "stopped after {} objects (the limit); objects further on were not looked at",
                self.found.objects
            ));
        }
        // Checking the clock every 4096 objects keeps it off the hot path.
        if self.found.objects.is_multiple_of(4096) && self.started.elapsed() > self.limits.max_time
        {
            return Some(format!(
                "stopped after {:?} and {} objects (the time limit); objects further on were not looked at",
                self.limits.max_time, self.found.objects
            ));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    //! Walks of a heap laid out by hand in this process's own memory, read
    //! back through `process_vm_readv` like any target's.

    use std::ffi::CString;
    use std::time::Duration;

    use super::*;
    use crate::proc::memory::ProcessMemory;
    use crate::python::layout::layout_for;
    use crate::python::{Interpreter, PythonVersion};

    /// 3.11's `_PyRuntime.interpreters.head`, in words.
    const RUNTIME_HEAD: usize = 5;
    const INTERP: usize = 100;
    /// `PyInterpreterState.gc` of 3.11 (648 bytes), in words.
    const GC: usize = INTERP + 81;
    const NODES: usize = 2000;
    const GREENLET_TYPE: usize = 1000;
    const GREEN_THREAD_TYPE: usize = 1100;
    const TASK_TYPE: usize = 1200;
    const DICT_TYPE: usize = 1300;
    /// The classes the walks look for.
    const CLASSES: [&str; 2] = ["greenlet.greenlet", "_asyncio.Task"];

    /// A fake 3.11 heap: a runtime, one interpreter, four types, and
    /// `kinds.len()` objects in generation 2.
    struct Heap {
        words: Vec<u64>,
        _names: Vec<CString>,
    }

    impl Heap {
        fn new(kinds: &[usize]) -> Heap {
            let mut heap = Heap {
                words: vec![0; 8192],
                _names: Vec::new(),
            };
            heap.words[RUNTIME_HEAD] = heap.addr(INTERP);
            for (index, name, base) in [
                (GREENLET_TYPE, "greenlet.greenlet", None),
                (GREEN_THREAD_TYPE, "GreenThread", Some(GREENLET_TYPE)),
                (TASK_TYPE, "_asyncio.Task", None),
                (DICT_TYPE, "dict", None),
            ] {
                let name = CString::new(name).unwrap();
                heap.words[index + 3] = name.as_ptr() as u64;
                heap.words[index + 32] = base.map_or(0, |b| heap.addr(b));
                heap._names.push(name);
            }
            for generation in 0..4 {
                let head = heap.head(generation);
                heap.words[head] = heap.addr(head);
                heap.words[head + 1] = heap.addr(head);
            }
            let head = heap.head(2);
            let mut previous = head;
            for (i, &kind) in kinds.iter().enumerate() {
                let node = NODES + 4 * i;
                heap.words[previous] = heap.addr(node);
                heap.words[node + 1] = heap.addr(previous) | 0b10; // a flag bit
                heap.words[node + 3] = heap.addr(kind);
                previous = node;
            }
            heap.words[previous] = heap.addr(head);
            heap.words[head + 1] = heap.addr(previous);
            heap
        }

        fn addr(&self, word: usize) -> u64 {
            self.words.as_ptr() as u64 + 8 * word as u64
        }

        /// The list head of generation 0–2, or 3 for the permanent one.
        fn head(&self, generation: usize) -> usize {
            match generation {
                3 => GC + 13,
                g => GC + 3 + 3 * g,
            }
        }

        fn interpreter(&self) -> Interpreter {
            let version = PythonVersion::new(3, 11, Some(7));
            let memory = ProcessMemory::new(std::process::id());
            Interpreter {
                version,
                binary: "test".into(),
                runtime: self.addr(0),
                code_type: 0,
                layout: layout_for(version, &memory, 0).unwrap(),
                memory,
            }
        }

        fn walk(&self, max_objects: u64) -> Result<Instances, WalkError> {
            let limits = WalkLimits {
                max_objects,
                max_time: Duration::from_secs(10),
            };
            find_instances(&self.interpreter(), &CLASSES, limits)
        }
    }

    #[test]
    fn finds_greenlets_subclasses_and_tasks() {
        let kinds = [
            DICT_TYPE,
            GREENLET_TYPE,
            GREEN_THREAD_TYPE,
            DICT_TYPE,
            TASK_TYPE,
        ];
        let heap = Heap::new(&kinds);
        let found = heap.walk(1000).unwrap();
        let object = |i: usize| heap.addr(NODES + 4 * i) + GC_HEAD_SIZE;
        let objects = |name| -> Vec<(u64, u64)> {
            found.of(name).iter().map(|i| (i.object, i.class)).collect()
        };
        let greenlet_type = heap.addr(GREENLET_TYPE);
        assert_eq!(
            objects("greenlet.greenlet"),
            vec![(object(1), greenlet_type), (object(2), greenlet_type)]
        );
        assert_eq!(
            objects("_asyncio.Task"),
            vec![(object(4), heap.addr(TASK_TYPE))]
        );
        assert!(found.of("dict").is_empty(), "not looked for");
        assert_eq!(found.objects, 5);
        assert_eq!((found.restarts, found.incomplete), (0, None));
    }

    #[test]
    fn a_broken_back_link_is_torn_not_a_short_list() {
        let mut heap = Heap::new(&[DICT_TYPE, GREENLET_TYPE, TASK_TYPE]);
        heap.words[NODES + 4 * 2 + 1] = heap.addr(NODES);
        let error = heap.walk(1000).unwrap_err().to_string();
        assert!(error.contains("kept changing"), "{error}");
        assert!(error.contains("links back to"), "{error}");
    }

    #[test]
    fn a_collection_under_way_is_waited_out_then_reported() {
        let mut heap = Heap::new(&[GREENLET_TYPE]);
        heap.words[GC + 25] = 1;
        let error = heap.walk(1000).unwrap_err().to_string();
        assert!(error.contains("garbage collection was running"), "{error}");
    }

    #[test]
    fn a_node_moved_to_another_generation_is_torn() {
        let mut heap = Heap::new(&[DICT_TYPE, GREENLET_TYPE]);
        // The last node now leads to generation 1's head, as after a move.
        heap.words[NODES + 4] = heap.addr(heap.head(1));
        let error = heap.walk(1000).unwrap_err().to_string();
        assert!(error.contains("leads into another list's head"), "{error}");
    }

    #[test]
    fn the_object_cap_stops_the_walk_and_says_so() {
        let heap = Heap::new(&[GREENLET_TYPE; 10]);
        let found = heap.walk(4).unwrap();
        assert_eq!(found.objects, 4);
        assert_eq!(found.of("greenlet.greenlet").len(), 4);
        let note = found.incomplete.expect("a note");
        assert!(note.contains("stopped after 4 objects"), "{note}");
    }

    #[test]
    fn the_time_limit_stops_the_walk_and_says_so() {
        let heap = Heap::new(&[GREENLET_TYPE; 3]);
        let limits = WalkLimits {
            max_objects: 1000,
            max_time: Duration::ZERO,
        };
        let found = find_instances(&heap.interpreter(), &CLASSES, limits).unwrap();
        let note = found.incomplete.expect("a note");
        assert!(note.contains("the time limit"), "{note}");
    }

    #[test]
    fn a_list_that_never_returns_to_its_head_is_capped() {
        let mut heap = Heap::new(&[DICT_TYPE, DICT_TYPE]);
        // The second node leads back to the first: a loop that skips the
        // head, caught where the first node's back link disagrees.
        heap.words[NODES + 4] = heap.addr(NODES);
        let error = heap.walk(1000).unwrap_err().to_string();
        assert!(error.contains("links back to"), "{error}");
    }
}
