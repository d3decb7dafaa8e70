//! Python stacks of an unmodified CPython process (3.9 to 3.13), read from
//! its memory with `process_vm_readv` while it runs: no ptrace, no pause.
//!
//! [`Interpreter::detect`] finds the interpreter (the executable or a
//! loaded `libpython`), its version and `_PyRuntime`, and picks the
//! version's [`layout`]; [`Interpreter::threads`] gives every thread
//! state's Python stack with its OS thread id and GIL ownership;
//! [`FrameReader::read_chain`] reads a frame chain from any frame address,
//! for suspended frames (generators, greenlets, tasks) too.

pub mod detect;
pub mod frames;
pub mod green;
pub mod heap;
pub mod layout;
pub mod lines;
mod native_tid;
pub mod objects;
pub mod source;
pub mod threads;

use std::fmt;

use procfs::process::MemoryMap;

pub use self::detect::DetectError;
pub use self::frames::{ChainError, FrameReader, PythonFrame};
pub use self::layout::{Layout, LayoutError};
pub use self::threads::{GilState, PythonThread};
use crate::proc::memory::{ProcessMemory, ReadError};

/// A CPython version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct PythonVersion {
    /// 3.
    pub major: u8,
    /// 9 to 13 for the versions read.
    pub minor: u8,
    /// Patch level, unless only the file name told the version.
    pub micro: Option<u8>,
}

impl PythonVersion {
    /// `major.minor[.micro]`.
    pub fn new(major: u8, minor: u8, micro: Option<u8>) -> Self {
        PythonVersion {
            major,
            minor,
            micro,
        }
    }

    /// From a `PY_VERSION_HEX` value (`Py_Version`, `0x030b07f0`).
    pub fn from_hex(hex: u32) -> Self {
        let [major, minor, micro, _] = hex.to_be_bytes();
        PythonVersion::new(major, minor, Some(micro))
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)?;
        match self.micro {
            Some(micro) => write!(f, ".{micro}"),
            None => Ok(()),
        }
    }
}

/// Why a Python process's stacks cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum PythonError {
    /// Finding the interpreter failed.
    #[error(transparent)]
    Detect(#[from] DetectError),
    /// The version has no layout, or 3.13's table is unreadable.
    #[error("{binary}: {source}")]
    Layout {
        /// The Python binary.
        binary: String,
        /// What is wrong.
        #[source]
        source: LayoutError,
    },
}

/// The CPython interpreter of one process, ready to read stacks from.
#[derive(Clone, Debug)]
pub struct Interpreter {
    /// Its version.
    pub version: PythonVersion,
    /// The binary holding the runtime (`libpython3.X.so` or the
    /// executable), as `/proc/PID/maps` names it.
    pub binary: String,
    /// Address of `_PyRuntime`.
    pub runtime: u64,
    /// Address of `PyCode_Type`, which every code object points to.
    pub code_type: u64,
    /// Where the version keeps what is read.
    pub layout: Layout,
    /// The process's memory.
    pub memory: ProcessMemory,
}

impl Interpreter {
    /// The interpreter of process `pid`, whose memory map is `maps`, or
    /// `None` when it runs no CPython. A report detects once and shares the
    /// answer (see `sections::context`).
    ///
    /// # Errors
    ///
    /// When the process runs a CPython that cannot be read (an unsupported
    /// version, an unreadable binary).
    pub fn detect(pid: u32, maps: &[MemoryMap]) -> Result<Option<Self>, PythonError> {
        let Some(binary) = detect::find_python(pid, maps)? else {
            return Ok(None);
        };
        let memory = ProcessMemory::new(pid);
        let layout =
            layout::layout_for(binary.version, &memory, binary.runtime).map_err(|source| {
                PythonError::Layout {
                    binary: binary.path.clone(),
                    source,
                }
            })?;
        Ok(Some(Interpreter {
            version: binary.version,
            binary: binary.path,
            runtime: binary.runtime,
            code_type: binary.code_type,
            layout,
            memory,
        }))
    }

    /// The interpreter frame a frame object stands for: itself up to 3.10
    /// (chains are of frame objects there), its `f_frame` from 3.11.
    ///
    /// # Errors
    ///
    /// When `f_frame` cannot be read.
    pub fn frame_of_frame_object(&self, frame_object: u64) -> Result<u64, ReadError> {
        match self.layout.frame_object_iframe {
            None => Ok(frame_object),
            Some(offset) => self.memory.read_u64(frame_object + offset),
        }
    }
}

#[cfg(test)]
mod live_tests;
