//! Reading a live Python process's memory with `process_vm_readv`: plain
//! values, `bytes` objects and `str` objects, every read bounded in size.
//!
//! The target is never stopped or attached to, so whatever is read may be
//! changing underneath; callers validate what they read (see `frames.rs`).

use std::io;

use super::layout::UnicodeLayout;
use crate::unwind::read_memory;

/// Largest single read: a line table or a file name is far smaller, so a
/// larger size read from the target means a torn or corrupt object.
pub const MAX_READ: usize = 1 << 20;
/// Longest `str` read, in characters (function and file names).
const MAX_STR_CHARS: u64 = 4096;

/// A read that failed: where, how much, and why.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// `process_vm_readv` failed or copied less than asked.
    #[error("cannot read {len} bytes at {address:#x}: {source}")]
    Memory {
        /// Start of the read.
        address: u64,
        /// Bytes asked for.
        len: usize,
        /// What the kernel said.
        #[source]
        source: io::Error,
    },
    /// A size read from the target is out of bounds.
    #[error("object at {address:#x} claims {size} bytes (limit {limit})")]
    TooLarge {
        /// The object.
        address: u64,
        /// The size it claims.
        size: u64,
        /// The largest size accepted.
        limit: u64,
    },
    /// An object is not what it should be.
    #[error("object at {address:#x}: {what}")]
    Invalid {
        /// The object.
        address: u64,
        /// What is wrong with it.
        what: String,
    },
}

/// The memory of one process, read without stopping it.
#[derive(Clone, Copy, Debug)]
pub struct ProcessMemory {
    pid: u32,
}

impl ProcessMemory {
    /// The memory of process `pid`.
    pub fn new(pid: u32) -> Self {
        ProcessMemory { pid }
    }

    /// The process read from.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Fills `buf` from `address`.
    ///
    /// # Errors
    ///
    /// Unless every byte was copied.
    pub fn read_into(&self, address: u64, buf: &mut [u8]) -> Result<(), ReadError> {
        read_memory(self.pid, address, buf).map_err(|source| ReadError::Memory {
            address,
            len: buf.len(),
            source,
        })
    }

    /// Reads `len` bytes from `address`, at most [`MAX_READ`].
    ///
    /// # Errors
    ///
    /// When `len` is over the limit or the read fails.
    pub fn read_bytes(&self, address: u64, len: usize) -> Result<Vec<u8>, ReadError> {
        if len > MAX_READ {
            return Err(ReadError::TooLarge {
                address,
                size: len as u64,
                limit: MAX_READ as u64,
            });
        }
        let mut buf = vec![0; len];
        self.read_into(address, &mut buf)?;
        Ok(buf)
    }

    /// Reads a little-endian `u64` (a pointer or `Py_ssize_t`).
    ///
    /// # Errors
    ///
    /// When the read fails.
    pub fn read_u64(&self, address: u64) -> Result<u64, ReadError> {
        let mut buf = [0; 8];
        self.read_into(address, &mut buf)?;
        Ok(u64::from_le_bytes(buf))
    }

    /// Reads a little-endian `u32` (an `int` or a version number).
    ///
    /// # Errors
    ///
    /// When the read fails.
    pub fn read_u32(&self, address: u64) -> Result<u32, ReadError> {
        let mut buf = [0; 4];
        self.read_into(address, &mut buf)?;
        Ok(u32::from_le_bytes(buf))
    }

    /// Reads one byte.
    ///
    /// # Errors
    ///
    /// When the read fails.
    pub fn read_u8(&self, address: u64) -> Result<u8, ReadError> {
        let mut buf = [0; 1];
        self.read_into(address, &mut buf)?;
        Ok(buf[0])
    }

    /// The contents of the `bytes` object at `address`: `ob_size` at
    /// `size_offset`, data at `data_offset`.
    ///
    /// # Errors
    ///
    /// When a read fails or the size is negative or over [`MAX_READ`].
    pub fn read_bytes_object(
        &self,
        address: u64,
        size_offset: u64,
        data_offset: u64,
    ) -> Result<Vec<u8>, ReadError> {
        let size = self.read_u64(address + size_offset)?;
        if size > MAX_READ as u64 {
            return Err(ReadError::TooLarge {
                address,
                size,
                limit: MAX_READ as u64,
            });
        }
        self.read_bytes(address + data_offset, size as usize)
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
        &self,
        address: u64,
        layout: &UnicodeLayout,
    ) -> Result<String, ReadError> {
        let length = self.read_u64(address + layout.length)?;
        if length > MAX_STR_CHARS {
            return Err(ReadError::TooLarge {
                address,
                size: length,
                limit: MAX_STR_CHARS,
            });
        }
        let state = self.read_u32(address + layout.state)?;
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
        let bytes = self.read_bytes(data, length as usize * width)?;
        decode_str(&bytes, width).ok_or_else(|| invalid("str data is not valid text"))
    }
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
