//! Finding oslo.config's `ConfigOpts` objects in a live CPython heap: the
//! instances of a class named `ConfigOpts` (or a subclass) that the
//! report's heap walk found, kept when the class is defined in
//! `oslo_config.cfg`.

use std::collections::HashMap;

use crate::python::green::gc_walk::Instances;
use crate::python::heap::Heap;

/// The class oslo.config's global `CONF` is an instance of.
pub(crate) const CLASS: &str = "ConfigOpts";
/// The module defining it.
const MODULE: &str = "oslo_config.cfg";
/// The module's global instance.
const GLOBAL: &str = "CONF";

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

/// The `ConfigOpts` instances among the heap walk's `instances` of
/// [`CLASS`]; classes of that name from other modules are left out.
///
/// # Errors
///
/// When a class's module cannot be read.
pub(super) fn config_opts(heap: &mut Heap, instances: &Instances) -> Result<Found, String> {
    let mut found = Found {
        objects: Vec::new(),
        global: None,
        incomplete: instances.incomplete.clone(),
    };
    let mut modules = HashMap::new();
    for instance in instances.of(CLASS) {
        let (object, class) = (instance.object, instance.class);
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
