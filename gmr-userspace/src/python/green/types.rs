//! Naming the type objects met while walking the heap: `tp_name`, and
//! whether a type is (or derives from) a class a heap reader wants.
//!
//! A heap holds tens of thousands of objects but only a few hundred types,
//! so each type is read once per report and cached.

use std::collections::HashMap;

use super::layout::{TYPE_BASE, TYPE_NAME};
use crate::proc::memory::{ProcessMemory, ReadError};

/// `tp_name`s longer than this are cut: real ones are short dotted names.
const MAX_NAME: usize = 256;
/// `tp_base` links followed at most; deeper hierarchies are not greenlets.
const MAX_BASES: usize = 32;

/// `tp_name` of the type every greenlet derives from.
pub const GREENLET_TYPE: &str = "greenlet.greenlet";
/// `tp_name` of the C task type every asyncio task derives from.
pub const TASK_TYPE: &str = "_asyncio.Task";
/// `tp_name` of eventlet's hub base class (a class statement's type
/// carries its bare name; [`super::hubs`] checks its module).
pub const EVENTLET_HUB_TYPE: &str = "BaseHub";

/// Type names and the classes types derive from, read from one process,
/// cached by type address.
pub struct TypeCache {
    memory: ProcessMemory,
    names: HashMap<u64, String>,
    classes: HashMap<u64, Option<(usize, u64)>>,
}

impl TypeCache {
    /// An empty cache for `memory`.
    pub fn new(memory: ProcessMemory) -> Self {
        TypeCache {
            memory,
            names: HashMap::new(),
            classes: HashMap::new(),
        }
    }

    /// The `tp_name` of the type at `type_object`.
    ///
    /// # Errors
    ///
    /// When the type or its name cannot be read.
    pub fn name(&mut self, type_object: u64) -> Result<String, ReadError> {
        if let Some(name) = self.names.get(&type_object) {
            return Ok(name.clone());
        }
        let pointer = self.memory.read_u64(type_object + TYPE_NAME)?;
        let name = read_c_string(&self.memory, pointer)?;
        self.names.insert(type_object, name.clone());
        Ok(name)
    }

    /// Which of `names` the type at `type_object` is or derives from (the
    /// first met following `tp_base`), as an index into `names`, with the
    /// class that carries the name. Answers are cached per type, so one
    /// cache is asked with one `names`.
    ///
    /// # Errors
    ///
    /// When a type in the chain cannot be read.
    pub fn class_among(
        &mut self,
        type_object: u64,
        names: &[&str],
    ) -> Result<Option<(usize, u64)>, ReadError> {
        if let Some(&class) = self.classes.get(&type_object) {
            return Ok(class);
        }
        let mut class = None;
        let mut current = type_object;
        for _ in 0..MAX_BASES {
            if current == 0 {
                break;
            }
            let name = self.name(current)?;
            if let Some(index) = names.iter().position(|n| *n == name) {
                class = Some((index, current));
                break;
            }
            current = self.memory.read_u64(current + TYPE_BASE)?;
        }
        self.classes.insert(type_object, class);
        Ok(class)
    }

    /// The class named `name` among the type at `type_object` and its
    /// bases (`tp_base`), if any.
    ///
    /// # Errors
    ///
    /// When a type in the chain cannot be read.
    pub fn class_named(&mut self, type_object: u64, name: &str) -> Result<Option<u64>, ReadError> {
        let mut current = type_object;
        for _ in 0..MAX_BASES {
            if current == 0 {
                break;
            }
            if self.name(current)? == name {
                return Ok(Some(current));
            }
            current = self.memory.read_u64(current + TYPE_BASE)?;
        }
        Ok(None)
    }

    /// The type name of the object at `object` (`ob_type` at `type_offset`).
    ///
    /// # Errors
    ///
    /// When the object or its type cannot be read.
    pub fn name_of_object(&mut self, object: u64, type_offset: u64) -> Result<String, ReadError> {
        let type_object = self.memory.read_u64(object + type_offset)?;
        self.name(type_object)
    }
}

/// The NUL-terminated string at `address`, read a page at a time so a name
/// near the end of a mapping is still read; at most [`MAX_NAME`] bytes.
fn read_c_string(memory: &ProcessMemory, address: u64) -> Result<String, ReadError> {
    const PAGE: u64 = 4096;
    let mut bytes = Vec::new();
    let mut at = address;
    while bytes.len() < MAX_NAME {
        let chunk = (PAGE - at % PAGE).min((MAX_NAME - bytes.len()) as u64) as usize;
        let read = memory.read_bytes(at, chunk)?;
        if let Some(end) = read.iter().position(|&b| b == 0) {
            bytes.extend_from_slice(&read[..end]);
            return Ok(String::from_utf8_lossy(&bytes).into_owned());
        }
        bytes.extend_from_slice(&read);
        at += chunk as u64;
    }
    Err(ReadError::Invalid {
        address,
        what: format!("type name longer than {MAX_NAME} bytes"),
    })
}
