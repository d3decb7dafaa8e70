//! Where CPython 3.9–3.13 (x86_64) keep the fields of the built-in objects
//! the heap reader decodes, from `offsetof()` compiled against each
//! version's own headers (`cpython/object.h`, `longintrepr.h`,
//! `cpython/dictobject.h`, `pycore_dict.h`; 3.9 and 3.10 keep
//! `PyDictKeysObject` private in `Objects/dict-common.h`).

/// `PyTypeObject.tp_flags`, every version.
pub const TYPE_FLAGS: u64 = 168;
/// `PyTypeObject.tp_dict`, every version.
pub const TYPE_DICT: u64 = 264;
/// `PyTypeObject.tp_dictoffset`, every version.
pub const TYPE_DICT_OFFSET: u64 = 288;
/// `PyVarObject.ob_size` (lists, tuples, 3.9–3.11 ints).
pub const VAR_SIZE: u64 = 16;
/// `PyListObject.ob_item` and `PyTupleObject.ob_item`.
pub const ITEMS: u64 = 24;
/// `PyFloatObject.ob_fval`.
pub const FLOAT_VALUE: u64 = 16;
/// The digits of an int (after `ob_size`, or after 3.12's `lv_tag`).
pub const LONG_DIGITS: u64 = 24;
/// `PyDictObject.ma_used`.
pub const DICT_USED: u64 = 16;
/// `PyDictObject.ma_keys`.
pub const DICT_KEYS: u64 = 32;
/// `PyDictObject.ma_values` (split tables).
pub const DICT_VALUES: u64 = 40;

/// `Py_TPFLAGS_INLINE_VALUES` (3.13): the instance's values follow it.
pub const FLAG_INLINE_VALUES: u64 = 1 << 2;
/// `Py_TPFLAGS_MANAGED_DICT` (3.11+): the dict lives before the object.
pub const FLAG_MANAGED_DICT: u64 = 1 << 4;
/// `Py_TPFLAGS_LONG_SUBCLASS`.
pub const FLAG_LONG: u64 = 1 << 24;
/// `Py_TPFLAGS_LIST_SUBCLASS`.
pub const FLAG_LIST: u64 = 1 << 25;
/// `Py_TPFLAGS_TUPLE_SUBCLASS`.
pub const FLAG_TUPLE: u64 = 1 << 26;
/// `Py_TPFLAGS_BYTES_SUBCLASS`.
pub const FLAG_BYTES: u64 = 1 << 27;
/// `Py_TPFLAGS_UNICODE_SUBCLASS`.
pub const FLAG_UNICODE: u64 = 1 << 28;
/// `Py_TPFLAGS_DICT_SUBCLASS`.
pub const FLAG_DICT: u64 = 1 << 29;

/// What changed between versions in ints, dicts and instance dicts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HeapLayout {
    /// 3.12+: an int's size and sign are in `lv_tag`, not `ob_size`.
    pub long_tag: bool,
    /// The dict keys object of 3.9/3.10 or of 3.11+.
    pub keys: KeysLayout,
    /// Where an instance's attributes are.
    pub instance: InstanceDict,
    /// `PyHeapTypeObject.ht_cached_keys`: the keys shared by a class's
    /// instances whose values are kept apart from a dict.
    pub cached_keys: u64,
    /// `PyFunctionObject.func_globals`: the dict of the module that
    /// defined the function.
    pub function_globals: u64,
    /// Bytes before the first value of a `PyDictValues` (3.13's
    /// `capacity`, `size`, `embedded`, `valid` bytes).
    pub values_header: u64,
}

/// The two shapes of `PyDictKeysObject`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeysLayout {
    /// 3.9, 3.10: `dk_size` at 8, `dk_nentries` at 32, indices at 40,
    /// index width from the size; entries `{hash, key, value}`.
    Sized,
    /// 3.11+: `dk_log2_size` at 8, `dk_log2_index_bytes` at 9, `dk_kind`
    /// at 10, `dk_nentries` at 24, indices at 32; entries
    /// `{hash, key, value}`, or `{key, value}` for str-only keys.
    Log2,
}

/// Where an instance of a class keeps its `__dict__`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InstanceDict {
    /// 3.9, 3.10: at `tp_dictoffset` from the object.
    Offset,
    /// 3.11: the dict 3 words before the object, or values 4 words before.
    ManagedPair,
    /// 3.12: a dict or tagged values pointer 3 words before the object.
    ManagedTagged,
    /// 3.13: a dict 3 words before the object, else values inline after
    /// `tp_basicsize`.
    InlineValues,
}

impl HeapLayout {
    /// The layout of CPython 3.`minor`, if it is 9 to 13.
    pub fn of(minor: u8) -> Option<Self> {
        let (long_tag, keys, instance, cached_keys, values_header) = match minor {
            9 => (false, KeysLayout::Sized, InstanceDict::Offset, 864, 0),
            10 => (false, KeysLayout::Sized, InstanceDict::Offset, 872, 0),
            11 => (false, KeysLayout::Log2, InstanceDict::ManagedPair, 872, 0),
            12 => (true, KeysLayout::Log2, InstanceDict::ManagedTagged, 880, 0),
            13 => (true, KeysLayout::Log2, InstanceDict::InlineValues, 880, 8),
            _ => return None,
        };
        // 3.10 moved `func_code` after the fields functions share with
        // frames, `func_globals` first.
        let function_globals = if minor == 9 { 24 } else { 16 };
        Some(HeapLayout {
            long_tag,
            keys,
            instance,
            cached_keys,
            function_globals,
            values_header,
        })
    }
}
