//! Reading another process's memory with `process_vm_readv` (through
//! `nix`), which neither stops nor attaches to it: the one remote-memory
//! reader of the unwinder (stack pages, the vDSO) and the runtime readers
//! (Python objects).
//!
//! The target keeps running, so whatever is read may be changing
//! underneath: a read either copies every byte asked for or fails, and
//! [`ProcessMemory`] bounds each read so that a torn size read from the
//! target cannot make the agent allocate without limit. Callers validate
//! what they read.

use std::io::{self, IoSliceMut};

use nix::{
    sys::uio::{RemoteIoVec, process_vm_readv},
    unistd::Pid,
};

/// Fills `buf` from `address` in process `pid`.
///
/// # Errors
///
/// When the kernel refuses the read, or copies less than every byte (the
/// range ends in an unmapped page): a partial copy is never returned.
pub fn read_exact(pid: u32, address: u64, buf: &mut [u8]) -> io::Result<()> {
    let pid = i32::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let base =
        usize::try_from(address).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let wanted = buf.len();
    let remote = [RemoteIoVec { base, len: wanted }];
    let copied = process_vm_readv(Pid::from_raw(pid), &mut [IoSliceMut::new(buf)], &remote)?;
    if copied == wanted {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("copied {copied} of {wanted} bytes"),
        ))
    }
}

/// Largest single read: a line table or a file name is far smaller, so a
/// larger size read from the target means a torn or corrupt object.
pub const MAX_READ: usize = 1 << 20;
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
        read_exact(self.pid, address, buf).map_err(|source| ReadError::Memory {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_whole_values_and_bounds_sizes() {
        let value: u64 = 0x0123_4567_89ab_cdef;
        let address = &raw const value as u64;
        let memory = ProcessMemory::new(std::process::id());
        assert_eq!(memory.read_u64(address).unwrap(), value);
        assert_eq!(memory.read_u32(address).unwrap(), 0x89ab_cdef);
        assert_eq!(memory.read_u8(address).unwrap(), 0xef);
        assert!(matches!(
            memory.read_bytes(address, MAX_READ + 1),
            Err(ReadError::TooLarge { .. })
        ));
        assert!(matches!(
            memory.read_u64(0),
            Err(ReadError::Memory {
                address: 0,
                len: 8,
                ..
            })
        ));
    }
}
