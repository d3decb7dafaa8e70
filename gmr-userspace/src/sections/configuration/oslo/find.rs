//! Finding oslo.config's `ConfigOpts` objects in a live CPython heap, by
//! walking the garbage collector's lists for instances of a class named
//! `ConfigOpts` (or a subclass) defined in `oslo_config.cfg`.

use std::collections::HashMap;
use std::time::Duration;

use crate::proc::memory::{ProcessMemory, ReadError};
use crate::python::Interpreter;
use crate::python::green::gc_walk::{Visitor, WalkLimits, walk_heap};
use crate::python::green::layout::{GreenLayout, TYPE_BASE};
use crate::python::green::types::TypeCache;
use crate::python::heap::Heap;

/// The class oslo.config's global `CONF` is an instance of.
const CLASS: &str = "ConfigOpts";
/// The module defining it.
const MODULE: &str = "oslo_config.cfg";
/// The module's global instance.
const GLOBAL: &str = "CONF";
/// `tp_base` links followed at most.
const MAX_BASES: usize = 32;
/// How much the walk may do: well inside the section's deadline, so the
/// files are still shown when a heap is too large to walk.
const LIMITS: WalkLimits = WalkLimits {
    max_objects: 4_000_000,
    max_time: Duration::from_secs(3),
};

/// Instances of classes named [`CLASS`], by address, with the class that
/// carries the name (the object's type or one of its bases).
struct Finder {
    memory: ProcessMemory,
    types: TypeCache,
    classes: HashMap<u64, Option<u64>>,
    found: Vec<(u64, u64)>,
}

impl Finder {
    /// The class named [`CLASS`] in `type_object`'s chain of bases.
    fn named_class(&mut self, type_object: u64) -> Result<Option<u64>, ReadError> {
        if let Some(&class) = self.classes.get(&type_object) {
            return Ok(class);
        }
        let mut class = None;
        let mut current = type_object;
        for _ in 0..MAX_BASES {
            if current == 0 {
                break;
            }
            if self.types.name(current)? == CLASS {
                class = Some(current);
                break;
            }
            current = self.memory.read_u64(current + TYPE_BASE)?;
        }
        self.classes.insert(type_object, class);
        Ok(class)
    }
}

impl Visitor for Finder {
    fn start(&mut self) {
        self.found.clear();
    }

    fn visit(&mut self, object: u64, type_object: u64) -> Result<(), ReadError> {
        if let Some(class) = self.named_class(type_object)? {
            self.found.push((object, class));
        }
        Ok(())
    }
}

/// What the heap holds of oslo.config.
pub(super) struct Found {
    /// Every `ConfigOpts` instance, by address.
    pub(super) objects: Vec<u64>,
    /// `oslo_config.cfg.CONF`, the global one services use, when found
    /// through the class's module globals.
    pub(super) global: Option<u64>,
    /// Why the walk stopped early, if it did.
    pub(super) incomplete: Option<String>,
}

/// The `ConfigOpts` instances of `interpreter`'s process; classes of that
/// name from other modules are left out.
///
/// # Errors
///
/// When the heap cannot be walked.
pub(super) fn config_opts(interpreter: &Interpreter, heap: &mut Heap) -> Result<Found, String> {
    let layout = GreenLayout::of(interpreter).map_err(|e| e.to_string())?;
    let mut finder = Finder {
        memory: interpreter.memory,
        types: TypeCache::new(interpreter.memory),
        classes: HashMap::new(),
        found: Vec::new(),
    };
    let outcome = walk_heap(interpreter, &layout, LIMITS, &mut finder)
        .map_err(|e| format!("cannot walk the Python heap: {e}"))?;
    let mut found = Found {
        objects: Vec::new(),
        global: None,
        incomplete: outcome.incomplete,
    };
    let mut modules = HashMap::new();
    for (object, class) in finder.found {
        let module = match modules.get(&class) {
            Some(module) => module,
            None => modules
                .entry(class)
                .or_insert(heap.module_of_type(class).map_err(|e| e.to_string())?),
        };
        if module.as_deref() != Some(MODULE) {
            continue;
        }
        if found.global.is_none() {
            found.global = heap
                .module_global_of_class(class, "__init__", GLOBAL)
                .map_err(|e| e.to_string())?;
        }
        found.objects.push(object);
    }
    Ok(found)
}
