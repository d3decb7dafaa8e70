//! Which greenlets are an event loop's hub, by the libraries' own classes
//! (module included, so a class of the same name elsewhere is not taken):
//! - eventlet: the greenlet its hub object holds as `greenlet` (the hub
//!   being an instance of `eventlet.hubs.hub.BaseHub` or a subclass, one
//!   per thread that used eventlet; found in the heap walk);
//! - gevent: an instance of `gevent.hub.Hub` or a subclass, itself a
//!   greenlet.

use std::collections::{HashMap, HashSet};

use super::greenlet::GreenletInfo;
use super::types::TypeCache;
use crate::proc::memory::ReadError;
use crate::python::Interpreter;
use crate::python::heap::Heap;

/// eventlet's hub base class and its module.
const EVENTLET_HUB: (&str, &str) = ("BaseHub", "eventlet.hubs.hub");
/// gevent's hub class and its module.
const GEVENT_HUB: (&str, &str) = ("Hub", "gevent.hub");
/// eventlet's hub attribute holding its greenlet.
const EVENTLET_HUB_GREENLET: &str = "greenlet";
/// Objects the hub reads may look at: a few per hub.
const BUDGET: u64 = 10_000;

/// Sets `hub` on the greenlets of `greenlets` that are a hub, given the
/// objects `candidates` whose class is named like eventlet's hub; returns
/// what could not be read, if anything.
pub fn mark_hubs(
    interpreter: &Interpreter,
    types: &mut TypeCache,
    candidates: &[u64],
    greenlets: &mut [GreenletInfo],
) -> Option<String> {
    let Some(mut heap) = Heap::new(interpreter, BUDGET) else {
        return Some(format!(
            "hubs not marked: no object layout for Python {}",
            interpreter.version
        ));
    };
    let mut failures = Vec::new();
    let mut hubs = HashSet::new();
    let mut modules = ClassModules::default();
    for &candidate in candidates {
        match eventlet_hub_greenlet(&mut heap, types, &mut modules, candidate) {
            Ok(Some(greenlet)) => {
                hubs.insert(greenlet);
            }
            Ok(None) => {}
            Err(error) => failures.push(format!("eventlet hub {candidate:#x}: {error}")),
        }
    }
    for greenlet in greenlets.iter_mut() {
        match is_gevent_hub(&mut heap, types, &mut modules, greenlet.address) {
            Ok(gevent) => greenlet.hub = gevent || hubs.contains(&greenlet.address),
            Err(error) => failures.push(format!("greenlet {:#x}: {error}", greenlet.address)),
        }
    }
    (!failures.is_empty()).then(|| format!("hubs not told apart: {}", failures.join("; ")))
}

/// Whether a type is (or derives from) a library's class, answered once
/// per type and class.
#[derive(Default)]
struct ClassModules(HashMap<(u64, &'static str), bool>);

impl ClassModules {
    /// Whether the class named `name` in the chain of `type_object` is
    /// defined in `module`.
    fn defines(
        &mut self,
        heap: &mut Heap,
        types: &mut TypeCache,
        type_object: u64,
        (name, module): (&'static str, &str),
    ) -> Result<bool, ReadError> {
        if let Some(&answer) = self.0.get(&(type_object, name)) {
            return Ok(answer);
        }
        let answer = match types.class_named(type_object, name)? {
            Some(class) => heap.module_of_type(class)?.as_deref() == Some(module),
            None => false,
        };
        self.0.insert((type_object, name), answer);
        Ok(answer)
    }
}

/// The greenlet eventlet's hub at `object` runs in, when `object` is one.
fn eventlet_hub_greenlet(
    heap: &mut Heap,
    types: &mut TypeCache,
    modules: &mut ClassModules,
    object: u64,
) -> Result<Option<u64>, ReadError> {
    let type_object = heap.type_of(object)?;
    if !modules.defines(heap, types, type_object, EVENTLET_HUB)? {
        return Ok(None);
    }
    Ok(heap.attributes(object)?.get(EVENTLET_HUB_GREENLET).copied())
}

/// Whether the greenlet at `greenlet` is gevent's hub.
fn is_gevent_hub(
    heap: &mut Heap,
    types: &mut TypeCache,
    modules: &mut ClassModules,
    greenlet: u64,
) -> Result<bool, ReadError> {
    let type_object = heap.type_of(greenlet)?;
    modules.defines(heap, types, type_object, GEVENT_HUB)
}
