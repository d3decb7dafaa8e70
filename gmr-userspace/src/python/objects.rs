//! Python objects in a live process's memory: `bytes` and `str` objects,
//! read through [`ProcessMemory`] and checked against their headers, since
//! a running target may tear or free them underneath.

use crate::proc::memory::{MAX_READ, ProcessMemory, ReadError};

use super::layout::UnicodeLayout;

/// Longest `str` read, in characters (function and file names).
const MAX_STR_CHARS: u64 = 4096;

/// The contents of the `bytes` object at `address`: `ob_size` at
/// `size_offset`, data at `data_offset`.
///
/// # Errors
///
/// When a read fails or the size is negative or over [`MAX_READ`].
pub fn read_bytes_object(
    memory: &ProcessMemory,
    address: u64,
    size_offset: u64,
    data_offset: u64,
) -> Result<Vec<u8>, ReadError> {
    let size = memory.read_u64(address + size_offset)?;
    if size > MAX_READ as u64 {
        return Err(ReadError::TooLarge {
            address,
            size,
            limit: MAX_READ as u64,
        });
    }
    memory.read_bytes(address + data_offset, size as usize)
}

/// The text of the `str` object at `address`.
///
/// Reads compact strings (every identifier and file name the compiler
/// makes): ASCII, and Latin-1, UCS-2 or UCS-4 data after the header.
///
/// # Errors
///
/// When a read fails, the string is not compact, or its header is
/// inconsistent (a torn or freed object).
pub fn read_str_object(
    memory: &ProcessMemory,
    address: u64,
    layout: &UnicodeLayout,
) -> Result<String, ReadError> {
    let length = memory.read_u64(address + layout.length)?;
    if length > MAX_STR_CHARS {
        return Err(ReadError::TooLarge {
            address,
            size: length,
            limit: MAX_STR_CHARS,
        });
    }
    let state = memory.read_u32(address + layout.state)?;
    let kind = (state >> 2) & 0b111;
    let compact = state & (1 << 5) != 0;
    let ascii = state & (1 << 6) != 0;
    let invalid = |what: &str| ReadError::Invalid {
        address,
        what: what.to_owned(),
    };
    if !compact {
        return Err(invalid("not a compact str object"));
    }
    let data = if ascii {
        address + layout.ascii_size
    } else {
        address + layout.compact_size
    };
    let width = match kind {
        1 => 1,
        2 => 2,
        4 => 4,
        _ => return Err(invalid(&format!("str kind {kind} is not 1, 2 or 4"))),
    };
    if ascii && width != 1 {
        return Err(invalid("ASCII str with a wide kind"));
    }
    let bytes = memory.read_bytes(data, length as usize * width)?;
    decode_str(&bytes, width).ok_or_else(|| invalid("str data is not valid text"))
}

/// Text from Latin-1 (`width` 1), UCS-2 (2) or UCS-4 (4) code units.
fn decode_str(bytes: &[u8], width: usize) -> Option<String> {
    bytes
        .chunks_exact(width)
        .map(|unit| {
            let mut code = [0u8; 4];
            code[..width].copy_from_slice(unit);
            char::from_u32(u32::from_le_bytes(code))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::decode_str;

    #[test]
    fn decodes_each_width() {
        assert_eq!(decode_str(b"wait", 1).as_deref(), Some("wait"));
        assert_eq!(decode_str(&[0xe9], 1).as_deref(), Some("é"));
        assert_eq!(decode_str(&[0x3b, 0x04], 2).as_deref(), Some("л"));
        assert_eq!(
            decode_str(&[0x0d, 0xf6, 0x01, 0x00], 4).as_deref(),
            Some("😍")
        );
        assert_eq!(decode_str(&[0x00, 0xd8], 2), None, "lone surrogate");
    }
}
