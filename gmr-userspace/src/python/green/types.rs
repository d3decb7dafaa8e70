//! Naming the type objects met while walking the heap: `tp_name`, and
//! whether a type is (or derives from) one the green-thread readers want.
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

/// What an object is, as far as the green-thread readers care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `greenlet.greenlet` or a subclass (eventlet's `GreenThread`,
    /// gevent's `Greenlet`).
    Greenlet,
    /// `_asyncio.Task` or a subclass.
    Task,
    /// An instance of a class named `BaseHub` or a subclass: eventlet's
    /// hub, if the class is eventlet's (see [`super::hubs`]).
    HubCandidate,
    /// Anything else.
    Other,
}

/// `tp_name` of the type every greenlet derives from.
const GREENLET_TYPE: &str = "greenlet.greenlet";
/// `tp_name` of the C task type every asyncio task derives from.
const TASK_TYPE: &str = "_asyncio.Task";
/// `tp_name` of eventlet's hub base class (a class statement's type
/// carries its bare name).
const EVENTLET_HUB_TYPE: &str = "BaseHub";

/// Type names and kinds read from one process, cached by type address.
pub struct TypeCache {
    memory: ProcessMemory,
    names: HashMap<u64, String>,
    kinds: HashMap<u64, Kind>,
}

impl TypeCache {
    /// An empty cache for `memory`.
    pub fn new(memory: ProcessMemory) -> Self {
        TypeCache {
            memory,
            names: HashMap::new(),
            kinds: HashMap::new(),
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

    /// What objects of the type at `type_object` are, following `tp_base`.
    ///
    /// # Errors
    ///
    /// When a type in the chain cannot be read.
    pub fn kind(&mut self, type_object: u64) -> Result<Kind, ReadError> {
        if let Some(&kind) = self.kinds.get(&type_object) {
            return Ok(kind);
        }
        let mut kind = Kind::Other;
        let mut current = type_object;
        for _ in 0..MAX_BASES {
            if current == 0 {
                break;
            }
            match self.name(current)?.as_str() {
                GREENLET_TYPE => kind = Kind::Greenlet,
                TASK_TYPE => kind = Kind::Task,
                EVENTLET_HUB_TYPE => kind = Kind::HubCandidate,
                _ => {
                    current = self.memory.read_u64(current + TYPE_BASE)?;
                    continue;
                }
            }
            break;
        }
        self.kinds.insert(type_object, kind);
        Ok(kind)
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
