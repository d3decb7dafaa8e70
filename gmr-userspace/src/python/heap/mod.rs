//! Python objects of a live process read from outside: `None`, `bool`,
//! `int`, `float`, `str`, `bytes`, `list`, `tuple`, `dict` and instance
//! attributes, on CPython 3.9–3.13, through `process_vm_readv` while the
//! process runs.
//!
//! The process may change or free what is read, so the reader is bounded
//! and checks as it goes: a budget of objects per [`Heap`], a depth and
//! item cap per value, loop detection along the path being read, dicts
//! re-read until their header is stable ([`dict`]), and sizes checked
//! before anything is allocated. What cannot be read becomes
//! [`Value::Unreadable`] with why, never a guess.

pub mod dict;
pub mod layout;
mod value;

use std::collections::HashMap;

pub use self::layout::HeapLayout;
use self::layout::{
    FLAG_BYTES, FLAG_DICT, FLAG_LIST, FLAG_LONG, FLAG_TUPLE, FLAG_UNICODE, FLOAT_VALUE, ITEMS,
    LONG_DIGITS, TYPE_DICT, TYPE_FLAGS, VAR_SIZE,
};
pub use self::value::Value;
use super::Interpreter;
use super::green::layout::TYPE_BASE;
use super::green::types::TypeCache;
use super::objects::{read_bytes_object, read_str_object};
use crate::proc::memory::ReadError;

/// Deepest nesting read (a list of dicts of lists …).
const MAX_DEPTH: usize = 6;
/// Most items read from one list, tuple or dict value.
const MAX_ITEMS: u64 = 4096;
/// `tp_base` links followed at most.
const MAX_BASES: usize = 32;
/// Most 30-bit digits of an int read (an `i128` holds four).
const MAX_DIGITS: u64 = 4;

/// A reader of one process's objects, with a budget of objects.
pub struct Heap<'a> {
    interpreter: &'a Interpreter,
    layout: HeapLayout,
    types: TypeCache,
    budget: u64,
}

impl<'a> Heap<'a> {
    /// A reader of `interpreter`'s objects that reads at most `budget`
    /// objects, or `None` for a version without a [`HeapLayout`].
    pub fn new(interpreter: &'a Interpreter, budget: u64) -> Option<Self> {
        Some(Heap {
            interpreter,
            layout: HeapLayout::of(interpreter.version.minor)?,
            types: TypeCache::new(interpreter.memory),
            budget,
        })
    }

    /// The `tp_name` of the type at `type_object`.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    pub fn type_name(&mut self, type_object: u64) -> Result<String, ReadError> {
        self.types.name(type_object)
    }

    /// The type object of the object at `object`.
    ///
    /// # Errors
    ///
    /// When it cannot be read.
    pub fn type_of(&self, object: u64) -> Result<u64, ReadError> {
        self.interpreter
            .memory
            .read_u64(object + self.interpreter.layout.object_type)
    }

    /// The attributes of the object at `object`, by name (keys that are
    /// not `str` are left out).
    ///
    /// # Errors
    ///
    /// When its dict cannot be read.
    pub fn attributes(&mut self, object: u64) -> Result<HashMap<String, u64>, ReadError> {
        let type_object = self.type_of(object)?;
        let entries =
            dict::instance_entries(&self.interpreter.memory, &self.layout, object, type_object)?;
        self.by_name(entries)
    }

    /// The entries of the dict at `dict` whose keys are `str`, by name.
    ///
    /// # Errors
    ///
    /// When the dict cannot be read.
    pub fn str_dict(&mut self, dict: u64) -> Result<HashMap<String, u64>, ReadError> {
        let entries = dict::dict_entries(&self.interpreter.memory, &self.layout, dict)?;
        self.by_name(entries)
    }

    /// The entries of the dict at `dict`, as addresses.
    ///
    /// # Errors
    ///
    /// When the dict cannot be read.
    pub fn dict(&mut self, dict: u64) -> Result<dict::Entries, ReadError> {
        self.spend(dict)?;
        dict::dict_entries(&self.interpreter.memory, &self.layout, dict)
    }

    /// The item addresses of the list at `list` (at most [`MAX_ITEMS`]).
    ///
    /// # Errors
    ///
    /// When it is not a list or cannot be read.
    pub fn list_items(&mut self, list: u64) -> Result<Vec<u64>, ReadError> {
        self.spend(list)?;
        let memory = self.interpreter.memory;
        let flags = memory.read_u64(self.type_of(list)? + TYPE_FLAGS)?;
        if flags & FLAG_LIST == 0 {
            return Err(ReadError::Invalid {
                address: list,
                what: "not a list".to_owned(),
            });
        }
        let size = memory.read_u64(list + VAR_SIZE)?;
        if size > MAX_ITEMS {
            return Err(ReadError::TooLarge {
                address: list,
                size,
                limit: MAX_ITEMS,
            });
        }
        let bytes = memory.read_bytes(memory.read_u64(list + ITEMS)?, size as usize * 8)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|item| u64::from_le_bytes(item.try_into().expect("8 bytes")))
            .collect())
    }

    /// The global `name` of the module that defined the class at
    /// `type_object`, found through its method `method`'s globals.
    ///
    /// # Errors
    ///
    /// When a dict on the way cannot be read.
    pub fn module_global_of_class(
        &mut self,
        type_object: u64,
        method: &str,
        name: &str,
    ) -> Result<Option<u64>, ReadError> {
        let dict = self.interpreter.memory.read_u64(type_object + TYPE_DICT)?;
        if dict == 0 {
            return Ok(None);
        }
        let Some(&function) = self.str_dict(dict)?.get(method) else {
            return Ok(None);
        };
        let globals = self
            .interpreter
            .memory
            .read_u64(function + self.layout.function_globals)?;
        if globals == 0 {
            return Ok(None);
        }
        Ok(self.str_dict(globals)?.get(name).copied())
    }

    /// `__module__` of the class at `type_object`, if its dict has a `str`
    /// one.
    ///
    /// # Errors
    ///
    /// When the type's dict cannot be read.
    pub fn module_of_type(&mut self, type_object: u64) -> Result<Option<String>, ReadError> {
        let dict = self.interpreter.memory.read_u64(type_object + TYPE_DICT)?;
        if dict == 0 {
            return Ok(None);
        }
        let entries = self.str_dict(dict)?;
        match entries.get("__module__") {
            Some(&module) => Ok(self.value(module).as_str().map(str::to_owned)),
            None => Ok(None),
        }
    }

    /// The attribute `name` of the class of `object` or of the first of
    /// its bases (`tp_base`) that has it, as class-level settings such as
    /// `multi = True` are kept.
    ///
    /// # Errors
    ///
    /// When a type or its dict cannot be read.
    pub fn class_attribute(&mut self, object: u64, name: &str) -> Result<Option<u64>, ReadError> {
        let mut class = self.type_of(object)?;
        for _ in 0..MAX_BASES {
            if class == 0 {
                break;
            }
            let dict = self.interpreter.memory.read_u64(class + TYPE_DICT)?;
            if dict != 0
                && let Some(&value) = self.str_dict(dict)?.get(name)
            {
                return Ok(Some(value));
            }
            class = self.interpreter.memory.read_u64(class + TYPE_BASE)?;
        }
        Ok(None)
    }

    fn by_name(&mut self, entries: dict::Entries) -> Result<HashMap<String, u64>, ReadError> {
        let mut named = HashMap::new();
        for (key, value) in entries {
            if let Value::Str(name) = self.value_at_depth(key, MAX_DEPTH - 1, &mut Vec::new()) {
                named.insert(name, value);
            }
        }
        Ok(named)
    }

    /// The value of the object at `object`.
    pub fn value(&mut self, object: u64) -> Value {
        self.value_at_depth(object, 0, &mut Vec::new())
    }

    fn spend(&mut self, object: u64) -> Result<(), ReadError> {
        if self.budget == 0 {
            return Err(ReadError::Invalid {
                address: object,
                what: "the report's budget of objects read is spent".to_owned(),
            });
        }
        self.budget -= 1;
        Ok(())
    }

    fn value_at_depth(&mut self, object: u64, depth: usize, path: &mut Vec<u64>) -> Value {
        if depth >= MAX_DEPTH {
            return Value::Unreadable(format!("nested deeper than {MAX_DEPTH}"));
        }
        if path.contains(&object) {
            return Value::Unreadable("refers to itself".to_owned());
        }
        path.push(object);
        let value = self
            .decode(object, depth, path)
            .unwrap_or_else(|error| Value::Unreadable(error.to_string()));
        path.pop();
        value
    }

    fn decode(
        &mut self,
        object: u64,
        depth: usize,
        path: &mut Vec<u64>,
    ) -> Result<Value, ReadError> {
        self.spend(object)?;
        let memory = self.interpreter.memory;
        let python = &self.interpreter.layout;
        let type_object = self.type_of(object)?;
        let name = self.types.name(type_object)?;
        let flags = memory.read_u64(type_object + TYPE_FLAGS)?;
        let too_many = |size: u64| ReadError::TooLarge {
            address: object,
            size,
            limit: MAX_ITEMS,
        };
        Ok(match name.as_str() {
            "NoneType" => Value::None,
            "bool" => Value::Bool(self.int(object)? != 0),
            "float" => Value::Float(f64::from_bits(memory.read_u64(object + FLOAT_VALUE)?)),
            _ if flags & FLAG_LONG != 0 => Value::Int(self.int(object)?),
            _ if flags & FLAG_UNICODE != 0 => {
                Value::Str(read_str_object(&memory, object, &python.unicode)?)
            }
            _ if flags & FLAG_BYTES != 0 => Value::Bytes(read_bytes_object(
                &memory,
                object,
                python.bytes_size,
                python.bytes_data,
            )?),
            _ if flags & (FLAG_LIST | FLAG_TUPLE) != 0 => {
                let size = memory.read_u64(object + VAR_SIZE)?;
                if size > MAX_ITEMS {
                    return Err(too_many(size));
                }
                let items = if flags & FLAG_LIST != 0 {
                    memory.read_u64(object + ITEMS)?
                } else {
                    object + ITEMS
                };
                let bytes = memory.read_bytes(items, size as usize * 8)?;
                let values = bytes
                    .chunks_exact(8)
                    .map(|item| {
                        let item = u64::from_le_bytes(item.try_into().expect("8 bytes"));
                        self.value_at_depth(item, depth + 1, path)
                    })
                    .collect();
                if flags & FLAG_LIST != 0 {
                    Value::List(values)
                } else {
                    Value::Tuple(values)
                }
            }
            _ if flags & FLAG_DICT != 0 => {
                let entries = dict::dict_entries(&memory, &self.layout, object)?;
                if entries.len() as u64 > MAX_ITEMS {
                    return Err(too_many(entries.len() as u64));
                }
                Value::Dict(
                    entries
                        .into_iter()
                        .map(|(key, value)| {
                            (
                                self.value_at_depth(key, depth + 1, path),
                                self.value_at_depth(value, depth + 1, path),
                            )
                        })
                        .collect(),
                )
            }
            _ => Value::Object { type_name: name },
        })
    }

    /// The int at `object` (at most [`MAX_DIGITS`] digits).
    fn int(&self, object: u64) -> Result<i128, ReadError> {
        let memory = &self.interpreter.memory;
        let word = memory.read_u64(object + VAR_SIZE)?;
        let (digits, negative) = if self.layout.long_tag {
            // 3.12 `lv_tag`: digit count above 3 bits, sign 0 (+), 1 (0), 2 (-).
            (word >> 3, word & 3 == 2)
        } else {
            let size = word as i64;
            (size.unsigned_abs(), size < 0)
        };
        if digits > MAX_DIGITS {
            return Err(ReadError::TooLarge {
                address: object,
                size: digits,
                limit: MAX_DIGITS,
            });
        }
        let bytes = memory.read_bytes(object + LONG_DIGITS, digits as usize * 4)?;
        let magnitude = bytes.chunks_exact(4).rev().fold(0i128, |total, digit| {
            let digit = u32::from_le_bytes(digit.try_into().expect("4 bytes")) & 0x3fff_ffff;
            (total << 30) | i128::from(digit)
        });
        Ok(if negative { -magnitude } else { magnitude })
    }
}

#[cfg(test)]
mod live_tests;
