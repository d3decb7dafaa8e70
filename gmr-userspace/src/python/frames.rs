//! Reading a chain of Python frames from a frame address outwards: frame
//! objects up to 3.10, interpreter frames (`_PyInterpreterFrame`) from 3.11.
//!
//! The target keeps running, so every step is checked: the chain is
//! bounded, may not loop, and every frame's code must be a code object
//! (its type is `PyCode_Type`); a chain failing a check is an error, never
//! a stack.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::Interpreter;
use super::layout::{FRAME_OWNED_BY_CSTACK, Position};
use super::lines::line_for;
use super::objects::{read_bytes_object, read_str_object};
use crate::proc::memory::ReadError;

/// Frames followed at most; Python's own recursion limit defaults to 1000.
pub const MAX_FRAMES: usize = 4096;

/// One Python frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonFrame {
    /// The function's name (`co_name`), as tracebacks show it.
    pub function: String,
    /// Its qualified name (`co_qualname`, 3.11+).
    pub qualname: Option<String>,
    /// The source file (`co_filename`), as the process sees it.
    pub file: String,
    /// The line being run, when the line table has one.
    pub line: Option<u32>,
    /// True for the first frame one eval-loop call ran: frames outside it
    /// (later in the chain) belong to an outer call of
    /// `_PyEval_EvalFrameDefault`.
    pub entry: bool,
    /// The frame's address (frame object or interpreter frame).
    pub address: u64,
    /// Its code object's address.
    pub code: u64,
}

/// Why a frame chain could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ChainError {
    /// A read failed (the frame was freed, or a pointer is garbage).
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The chain is longer than [`MAX_FRAMES`].
    #[error("more than {MAX_FRAMES} frames")]
    TooLong,
    /// The chain comes back to a frame already seen.
    #[error("frame {0:#x} appears twice in the chain")]
    Cycle(u64),
    /// A frame's code is not a code object.
    #[error("frame {frame:#x}: {code:#x} is not a code object")]
    NotCode {
        /// The frame.
        frame: u64,
        /// What it points to as its code.
        code: u64,
    },
}

/// What a code object says about itself, read once per code object.
#[derive(Debug)]
struct CodeInfo {
    name: String,
    qualname: Option<String>,
    file: String,
    first_line: i32,
    line_table: Vec<u8>,
}

/// Reads frame chains of one interpreter, caching code objects across
/// chains (so one report reads each function's names and line table once).
pub struct FrameReader<'a> {
    interpreter: &'a Interpreter,
    codes: HashMap<u64, Arc<CodeInfo>>,
}

impl<'a> FrameReader<'a> {
    /// A reader with an empty cache.
    pub fn new(interpreter: &'a Interpreter) -> Self {
        FrameReader {
            interpreter,
            codes: HashMap::new(),
        }
    }

    /// The frames from `first` outwards (innermost first); 0 is an empty
    /// chain. `first` is a `PyFrameObject *` up to 3.10 and a
    /// `_PyInterpreterFrame *` from 3.11 (see
    /// [`Interpreter::frame_of_frame_object`] for frame objects there).
    ///
    /// # Errors
    ///
    /// When a read fails or the chain fails a check; see [`ChainError`].
    pub fn read_chain(&mut self, first: u64) -> Result<Vec<PythonFrame>, ChainError> {
        let layout = &self.interpreter.layout;
        let memory = &self.interpreter.memory;
        let mut frames: Vec<PythonFrame> = Vec::new();
        let mut seen = HashSet::new();
        let mut address = first;
        while address != 0 {
            if !seen.insert(address) {
                return Err(ChainError::Cycle(address));
            }
            if seen.len() > MAX_FRAMES {
                return Err(ChainError::TooLong);
            }
            // One read per frame: every field used lies in its first bytes.
            let fields = FrameFields {
                bytes: memory.read_bytes(address, layout.frame.span())?,
            };
            let previous = fields.u64(layout.frame.previous);
            let owner = layout.frame.owner.map(|offset| fields.u8(offset));
            if owner == Some(FRAME_OWNED_BY_CSTACK) && layout.frame.is_entry.is_none() {
                // A shim marking where an eval-loop call began.
                if let Some(last) = frames.last_mut() {
                    last.entry = true;
                }
                address = previous;
                continue;
            }
            let code = fields.u64(layout.frame.code);
            let info = self.code_info(address, code)?;
            let line = self.line(&fields, code, &info);
            let entry = match layout.frame.is_entry {
                Some(offset) => fields.u8(offset) != 0,
                // One eval-loop call per frame object.
                None => layout.frame_object_iframe.is_none(),
            };
            frames.push(PythonFrame {
                function: info.name.clone(),
                qualname: info.qualname.clone(),
                file: info.file.clone(),
                line,
                entry,
                address,
                code,
            });
            address = previous;
        }
        if let Some(outermost) = frames.last_mut() {
            outermost.entry = true;
        }
        Ok(frames)
    }

    /// The code object at `code`, checked to be one, from the cache.
    fn code_info(&mut self, frame: u64, code: u64) -> Result<Arc<CodeInfo>, ChainError> {
        if let Some(info) = self.codes.get(&code) {
            return Ok(Arc::clone(info));
        }
        let interpreter = self.interpreter;
        let layout = &interpreter.layout;
        let memory = &interpreter.memory;
        if code == 0 || memory.read_u64(code + layout.object_type)? != interpreter.code_type {
            return Err(ChainError::NotCode { frame, code });
        }
        let string = |offset: u64| -> Result<String, ReadError> {
            let object = memory.read_u64(code + offset)?;
            read_str_object(memory, object, &layout.unicode)
        };
        let table = memory.read_u64(code + layout.code.linetable)?;
        let info = Arc::new(CodeInfo {
            name: string(layout.code.name)?,
            qualname: layout.code.qualname.map(string).transpose()?,
            file: string(layout.code.filename)?,
            first_line: memory.read_u32(code + layout.code.firstlineno)? as i32,
            line_table: read_bytes_object(memory, table, layout.bytes_size, layout.bytes_data)?,
        });
        self.codes.insert(code, Arc::clone(&info));
        Ok(info)
    }

    /// The line the frame whose `fields` were read is on.
    fn line(&self, fields: &FrameFields, code: u64, info: &CodeInfo) -> Option<u32> {
        let layout = &self.interpreter.layout;
        let bytecode = code + layout.code.code_adaptive.unwrap_or(0);
        let units = match layout.frame.position {
            Position::LastiBytes(offset) => u64::try_from(fields.i32(offset)).unwrap_or(0) / 2,
            Position::LastiUnits(offset) => u64::try_from(fields.i32(offset)).unwrap_or(0),
            Position::PrevInstr(offset) | Position::InstrPtr(offset) => {
                fields.u64(offset).saturating_sub(bytecode) / 2
            }
        };
        line_for(
            layout.code.line_format,
            &info.line_table,
            info.first_line,
            units,
        )
    }
}

/// The first bytes of one frame, as read; offsets come from the layout,
/// whose `span` covers them all.
struct FrameFields {
    bytes: Vec<u8>,
}

impl FrameFields {
    fn array<const N: usize>(&self, offset: u64) -> [u8; N] {
        let start = offset as usize;
        self.bytes[start..start + N]
            .try_into()
            .expect("the layout's span covers every field")
    }

    fn u64(&self, offset: u64) -> u64 {
        u64::from_le_bytes(self.array(offset))
    }

    fn i32(&self, offset: u64) -> i32 {
        i32::from_le_bytes(self.array(offset))
    }

    fn u8(&self, offset: u64) -> u8 {
        self.bytes[offset as usize]
    }
}
