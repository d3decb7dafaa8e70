//! The entries of a `dict`, and the attributes of an instance, read from
//! a live process: combined tables, split tables (values kept apart from
//! the keys a class's instances share), and 3.11–3.13's managed and inline
//! instance dicts. A dict read while it changes is read again until two
//! reads of its header agree around the entries.

use super::layout::{
    DICT_KEYS, DICT_USED, DICT_VALUES, FLAG_INLINE_VALUES, FLAG_MANAGED_DICT, HeapLayout,
    InstanceDict, KeysLayout, TYPE_DICT_OFFSET, TYPE_FLAGS,
};
use crate::proc::memory::{ProcessMemory, ReadError};
use crate::python::green::layout::TYPE_BASIC_SIZE;

/// Most entries read from one dict: oslo's largest (a service's options)
/// hold a few hundred.
pub const MAX_ENTRIES: u64 = 1 << 14;
/// Reads of a dict tried before it is declared changing.
const ATTEMPTS: usize = 4;
/// `log2` of the largest table accepted.
const MAX_LOG2_SIZE: u8 = 20;

/// `(key, value)` object addresses, in the table's order.
pub type Entries = Vec<(u64, u64)>;

/// The entries of the dict object at `dict`.
///
/// # Errors
///
/// When a read fails, the table is inconsistent, or it kept changing.
pub fn dict_entries(
    memory: &ProcessMemory,
    layout: &HeapLayout,
    dict: u64,
) -> Result<Entries, ReadError> {
    let header = |memory: &ProcessMemory| -> Result<[u64; 3], ReadError> {
        Ok([
            memory.read_u64(dict + DICT_USED)?,
            memory.read_u64(dict + DICT_KEYS)?,
            memory.read_u64(dict + DICT_VALUES)?,
        ])
    };
    for _ in 0..ATTEMPTS {
        let before = header(memory)?;
        let [used, keys, values] = before;
        let entries = table_entries(memory, layout, keys, values)?;
        if header(memory)? != before {
            continue;
        }
        // A combined table holds exactly `ma_used` live entries; a split
        // one may miss some of the shared keys.
        if values == 0 && entries.len() as u64 != used {
            continue;
        }
        return Ok(entries);
    }
    Err(ReadError::Invalid {
        address: dict,
        what: format!("dict kept changing while read ({ATTEMPTS} attempts)"),
    })
}

/// The attributes of the object at `object`, whose type is at
/// `type_object`: its instance dict's entries, wherever this version keeps
/// them; empty when it has none.
///
/// # Errors
///
/// When a read fails or the dict is inconsistent.
pub fn instance_entries(
    memory: &ProcessMemory,
    layout: &HeapLayout,
    object: u64,
    type_object: u64,
) -> Result<Entries, ReadError> {
    let flags = memory.read_u64(type_object + TYPE_FLAGS)?;
    let cached_keys = || memory.read_u64(type_object + layout.cached_keys);
    let managed = flags & FLAG_MANAGED_DICT != 0;
    let before = object.wrapping_sub(24);
    match layout.instance {
        InstanceDict::Offset => at_dict_offset(memory, layout, object, type_object),
        _ if !managed => at_dict_offset(memory, layout, object, type_object),
        InstanceDict::ManagedPair => match memory.read_u64(before)? {
            0 => match memory.read_u64(object.wrapping_sub(32))? {
                0 => Ok(Vec::new()),
                values => table_entries(memory, layout, cached_keys()?, values),
            },
            dict => dict_entries(memory, layout, dict),
        },
        InstanceDict::ManagedTagged => match memory.read_u64(before)? {
            0 => Ok(Vec::new()),
            // 3.12 stores the values pointer minus one (`dorv.values + 1`).
            tagged if tagged & 1 == 1 => table_entries(memory, layout, cached_keys()?, tagged + 1),
            dict => dict_entries(memory, layout, dict),
        },
        InstanceDict::InlineValues => match memory.read_u64(before)? {
            0 if flags & FLAG_INLINE_VALUES != 0 => {
                let values = object + memory.read_u64(type_object + TYPE_BASIC_SIZE)?;
                // `PyDictValues.valid`: false once a dict took the values.
                if memory.read_u8(values + 3)? == 0 {
                    return Ok(Vec::new());
                }
                table_entries(memory, layout, cached_keys()?, values)
            }
            0 => Ok(Vec::new()),
            dict => dict_entries(memory, layout, dict),
        },
    }
}

/// The dict at the type's `tp_dictoffset`, as 3.9 and 3.10 keep every
/// instance dict and later versions those of unmanaged classes.
fn at_dict_offset(
    memory: &ProcessMemory,
    layout: &HeapLayout,
    object: u64,
    type_object: u64,
) -> Result<Entries, ReadError> {
    let offset = memory.read_u64(type_object + TYPE_DICT_OFFSET)? as i64;
    if offset <= 0 {
        return Err(ReadError::Invalid {
            address: object,
            what: format!("its type keeps no instance dict at a fixed offset ({offset})"),
        });
    }
    match memory.read_u64(object + offset as u64)? {
        0 => Ok(Vec::new()),
        dict => dict_entries(memory, layout, dict),
    }
}

/// The live entries of the keys object at `keys`, with values from the
/// split `values` when it is not 0.
fn table_entries(
    memory: &ProcessMemory,
    layout: &HeapLayout,
    keys: u64,
    values: u64,
) -> Result<Entries, ReadError> {
    let invalid = |what: String| ReadError::Invalid {
        address: keys,
        what,
    };
    let (entries_at, entry_size, nentries, key_at) = match layout.keys {
        KeysLayout::Sized => {
            let size = memory.read_u64(keys + 8)?;
            if !size.is_power_of_two() || size > 1 << MAX_LOG2_SIZE {
                return Err(invalid(format!("dict size {size}")));
            }
            let width = match size {
                0..=0xff => 1,
                0x100..=0xffff => 2,
                _ => 4,
            };
            let nentries = memory.read_u64(keys + 32)?;
            (keys + 40 + size * width, 24, nentries, 8)
        }
        KeysLayout::Log2 => {
            let head = memory.read_bytes(keys + 8, 3)?;
            let (log2_size, log2_index_bytes, kind) = (head[0], head[1], head[2]);
            if log2_size > MAX_LOG2_SIZE || log2_index_bytes > MAX_LOG2_SIZE + 3 {
                return Err(invalid(format!("dict log2 size {log2_size}")));
            }
            let nentries = memory.read_u64(keys + 24)?;
            // `DICT_KEYS_GENERAL` (0) entries carry the hash.
            let (size, key_at) = if kind == 0 { (24, 8) } else { (16, 0) };
            (
                keys + 32 + (1u64 << log2_index_bytes),
                size,
                nentries,
                key_at,
            )
        }
    };
    if nentries > MAX_ENTRIES {
        return Err(invalid(format!("{nentries} entries (limit {MAX_ENTRIES})")));
    }
    let bytes = memory.read_bytes(entries_at, (nentries * entry_size) as usize)?;
    let split = if values == 0 {
        None
    } else {
        Some(memory.read_bytes(values + layout.values_header, (nentries * 8) as usize)?)
    };
    let word = |bytes: &[u8], at: usize| {
        u64::from_le_bytes(bytes[at..at + 8].try_into().expect("8 bytes"))
    };
    let mut entries = Vec::new();
    for index in 0..nentries as usize {
        let entry = index * entry_size as usize;
        let key = word(&bytes, entry + key_at);
        let value = match &split {
            Some(values) => word(values, index * 8),
            None => word(&bytes, entry + key_at + 8),
        };
        if key != 0 && value != 0 {
            entries.push((key, value));
        }
    }
    Ok(entries)
}
