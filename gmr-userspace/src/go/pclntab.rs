//! The Go runtime's function table (`.gopclntab`), read as the runtime reads
//! it: function entries, names, file and line tables, frame sizes (pcsp)
//! and inline trees, for Go 1.18 to 1.27.
//!
//! Two layouts exist in that range. The header magic says which:
//! `0xfffffff0` (Go 1.18, 1.19) and `0xfffffff1` (Go 1.20 and later, whose
//! `_func` gained `startLine` and whose inline-tree entries changed shape).
//! Every offset read from the table is bounds-checked: a bad table gives a
//! [`PclntabError`] naming the field, or no answer for one address, never
//! a panic.
//!
//! Addresses here are the binary's stated addresses (what `readelf` shows),
//! so one parse serves every process that maps the file.

use std::sync::Arc;

/// Header magic of Go 1.18 and 1.19 tables.
const MAGIC_GO118: u32 = 0xffff_fff0;
/// Header magic of Go 1.20 and later tables.
const MAGIC_GO120: u32 = 0xffff_fff1;
/// `_PCDATA_InlTreeIndex`: the pcdata table giving the inline-tree index.
const PCDATA_INL_TREE_INDEX: usize = 2;
/// `_FUNCDATA_InlTree`: the funcdata holding the inline tree.
const FUNCDATA_INL_TREE: usize = 3;
/// A funcdata offset that means "absent".
const NO_FUNCDATA: u32 = u32::MAX;
/// `funcFlag_TOPFRAME`: the function is the top of its stack.
const FUNC_FLAG_TOPFRAME: u8 = 1;
/// `funcFlag_SPWRITE`: the function writes the stack pointer.
const FUNC_FLAG_SPWRITE: u8 = 2;
/// Inline trees [`Pclntab::inline_trees_fit`] checks.
const SAMPLED_TREES: usize = 64;
/// Deepest inlining followed at one address; a tree whose parents loop is
/// cut here rather than followed forever.
const MAX_INLINE_DEPTH: usize = 64;

/// Why a `.gopclntab` could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PclntabError {
    /// The table is shorter than its header.
    #[error("the Go function table is {0} bytes, shorter than its header")]
    TooShort(usize),
    /// The header's magic is not one of the known layouts.
    #[error("the Go function table has magic {0:#x}, not Go 1.18 to 1.27's (0xfffffff0/1)")]
    UnknownMagic(u32),
    /// The header describes another architecture.
    #[error(
        "the Go function table is for {ptr_size}-byte pointers and pc quantum {quantum}, not x86_64"
    )]
    Architecture {
        /// Pointer size in the header.
        ptr_size: u8,
        /// Instruction size quantum in the header.
        quantum: u8,
    },
    /// The header leaves the text address to the runtime's module data,
    /// which was not found.
    #[error(
        "the Go function table names no text address and the runtime's module data was not found"
    )]
    NoTextAddress,
    /// A sub-table lies outside the table.
    #[error("the Go function table's {0} lies outside its {1} bytes")]
    OutOfBounds(&'static str, usize),
}

/// Which `_func` and inline-tree layout a table uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Go 1.18 and 1.19.
    Go118,
    /// Go 1.20 and later.
    Go120,
}

impl Layout {
    /// The layout of the table `data`, from its magic.
    pub fn of(data: &[u8]) -> Result<Self, PclntabError> {
        match u32_at(data, 0) {
            Some(MAGIC_GO118) => Ok(Layout::Go118),
            Some(MAGIC_GO120) => Ok(Layout::Go120),
            Some(other) => Err(PclntabError::UnknownMagic(other)),
            None => Err(PclntabError::TooShort(data.len())),
        }
    }
}

/// Offset of the function-name table in the table `data`, which the
/// runtime's `moduledata` points at right after the table itself.
pub fn name_table_offset(data: &[u8]) -> Option<u64> {
    u64_at(data, 8 + 8 * 3)
}

/// A function where a Go stack ends, as the runtime's traceback sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackBoundary {
    /// The first function of a goroutine or thread: nothing called it.
    Top,
    /// The function switched stacks: its caller's frame is on another stack
    /// (a goroutine's, seen from the system stack, or C's, for cgo).
    Switch,
}

/// One source-level frame at an address: the function, and where in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GoFrame {
    /// The Go function's full name (`main.worker`, `runtime.gopark`).
    pub function: String,
    /// Source file, as the compiler recorded it.
    pub file: Option<String>,
    /// Source line.
    pub line: Option<u32>,
    /// True when this function was inlined into the next frame.
    pub inlined: bool,
}

/// One function's entry in the table.
#[derive(Clone, Copy, Debug)]
pub struct GoFunc {
    /// Stated address of its first instruction.
    pub entry: u64,
    /// Offset of its `_func` record in the table.
    record: usize,
}

/// A parsed `.gopclntab`.
pub struct Pclntab {
    data: Arc<[u8]>,
    layout: Layout,
    text_start: u64,
    nfunc: usize,
    funcnametab: usize,
    cutab: usize,
    filetab: usize,
    pctab: usize,
    functab: usize,
}

impl Pclntab {
    /// Reads the header of `data`, the bytes of `.gopclntab`, and checks that
    /// every sub-table it names lies inside `data`. Recent linkers leave the
    /// header's text address 0 (the runtime takes it from `moduledata`):
    /// `text_start` stands in for it then.
    pub fn parse(data: Arc<[u8]>, text_start: Option<u64>) -> Result<Self, PclntabError> {
        let len = data.len();
        if len < 8 + 8 * 8 {
            return Err(PclntabError::TooShort(len));
        }
        let layout = Layout::of(&data)?;
        let (quantum, ptr_size) = (data[6], data[7]);
        if quantum != 1 || ptr_size != 8 {
            return Err(PclntabError::Architecture { ptr_size, quantum });
        }
        let word = |index: usize| u64_at(&data, 8 + 8 * index).unwrap_or_default();
        let offset = |index: usize, name: &'static str| {
            usize::try_from(word(index))
                .ok()
                .filter(|&o| o <= len)
                .ok_or(PclntabError::OutOfBounds(name, len))
        };
        let nfunc = usize::try_from(word(0))
            .ok()
            .filter(|&n| n < len)
            .ok_or(PclntabError::OutOfBounds("function count", len))?;
        let table = Pclntab {
            layout,
            text_start: match word(2) {
                0 => text_start.ok_or(PclntabError::NoTextAddress)?,
                stated => stated,
            },
            nfunc,
            funcnametab: offset(3, "name table")?,
            cutab: offset(4, "compilation-unit table")?,
            filetab: offset(5, "file table")?,
            pctab: offset(6, "pc-value tables")?,
            functab: offset(7, "function index")?,
            data: Arc::clone(&data),
        };
        let index_end = (nfunc + 1)
            .checked_mul(8)
            .and_then(|n| n.checked_add(table.functab));
        if index_end.is_none_or(|end| end > len) {
            return Err(PclntabError::OutOfBounds("function index", len));
        }
        Ok(table)
    }

    /// Which layout the table uses.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// Stated address range of the Go code the table covers.
    pub fn text_range(&self) -> std::ops::Range<u64> {
        let start = self.entry_of(0).unwrap_or(self.text_start);
        let end = self.entry_of(self.nfunc).unwrap_or(start);
        start..end
    }

    /// Stated address of the `index`th function (`nfunc`: the end of text).
    fn entry_of(&self, index: usize) -> Option<u64> {
        let offset = u32_at(&self.data, self.functab + 8 * index)?;
        self.text_start.checked_add(u64::from(offset))
    }

    /// The function whose code holds stated address `pc`.
    pub fn func_at(&self, pc: u64) -> Option<GoFunc> {
        if !self.text_range().contains(&pc) {
            return None;
        }
        // The index is sorted by entry: find the last entry <= pc.
        let (mut low, mut high) = (0, self.nfunc);
        while high - low > 1 {
            let mid = low + (high - low) / 2;
            if self.entry_of(mid)? <= pc {
                low = mid;
            } else {
                high = mid;
            }
        }
        self.func_record(low)
    }

    /// The `index`th function.
    fn func_record(&self, index: usize) -> Option<GoFunc> {
        let funcoff = u32_at(&self.data, self.functab + 8 * index + 4)?;
        let record = self.functab.checked_add(usize::try_from(funcoff).ok()?)?;
        let entry_off = u32_at(&self.data, record)?;
        Some(GoFunc {
            entry: self.text_start.checked_add(u64::from(entry_off))?,
            record,
        })
    }

    /// The function's full name.
    pub fn name(&self, func: GoFunc) -> Option<String> {
        let name_off = i32_at(&self.data, func.record + 4)?;
        self.name_at(name_off)
    }

    /// The name at `offset` in the name table.
    fn name_at(&self, offset: i32) -> Option<String> {
        let start = self
            .funcnametab
            .checked_add(usize::try_from(offset).ok()?)?;
        c_string(&self.data, start)
    }

    /// Where the runtime's own traceback stops at this function: at the
    /// top of a stack (`goexit`, `mstart`, `rt0_go`), or where the function
    /// writes the stack pointer itself (`systemstack`, `mcall`,
    /// `morestack`, the cgo calls), so the frame above it lies on another
    /// stack.
    pub fn stack_boundary(&self, func: GoFunc) -> Option<StackBoundary> {
        let flag = *self.data.get(func.record + self.fixed_size() - 3)?;
        if flag & FUNC_FLAG_TOPFRAME != 0 {
            Some(StackBoundary::Top)
        } else if flag & FUNC_FLAG_SPWRITE != 0 {
            Some(StackBoundary::Switch)
        } else {
            None
        }
    }

    /// The function's `funcID`: which runtime function it is, or that it
    /// is compiler-generated (a wrapper); the numbers depend on the release.
    pub fn func_id(&self, func: GoFunc) -> Option<u8> {
        self.data.get(func.record + self.fixed_size() - 4).copied()
    }

    /// Bytes the function's frame holds at `pc`, below its return address
    /// (0 in a frameless function or before the prologue).
    pub fn frame_size(&self, func: GoFunc, pc: u64) -> Option<u64> {
        let pcsp = u32_at(&self.data, func.record + 16)?;
        let size = self.pc_value(func, pcsp, pc)?;
        u64::try_from(size).ok()
    }

    /// The source frames at stated address `pc`: functions inlined there,
    /// innermost first, then the function the code belongs to. `read`
    /// fills a buffer from the binary's stated addresses (for the inline
    /// tree, which lives outside the table) and returns false when it
    /// cannot; `gofunc` is the address of `go:func.*`, where funcdata
    /// offsets start. Without them, only the outer function is named.
    pub fn frames(
        &self,
        pc: u64,
        gofunc: Option<u64>,
        read: &dyn Fn(u64, &mut [u8]) -> bool,
    ) -> Option<Vec<GoFrame>> {
        let func = self.func_at(pc)?;
        let mut frames = Vec::new();
        let mut pc = pc;
        let tree = gofunc.and_then(|base| self.inline_tree(func, base));
        if let Some(tree) = tree {
            let mut index = self.pcdata(func, PCDATA_INL_TREE_INDEX, pc);
            while let Some(ix) = index.and_then(|ix| u64::try_from(ix).ok()) {
                if frames.len() == MAX_INLINE_DEPTH {
                    break;
                }
                let Some(call) = self.inlined_call(tree, ix, read) else {
                    break;
                };
                let (file, line) = self.position(func, pc);
                frames.push(GoFrame {
                    function: self.name_at(call.name_off)?,
                    file,
                    line,
                    inlined: true,
                });
                pc = func
                    .entry
                    .checked_add(u64::try_from(call.parent_pc).ok()?)?;
                index = self.pcdata(func, PCDATA_INL_TREE_INDEX, pc);
            }
        }
        let (file, line) = self.position(func, pc);
        frames.push(GoFrame {
            function: self.name(func)?,
            file,
            line,
            inlined: false,
        });
        Some(frames)
    }

    /// Whether `gofunc` is where funcdata offsets start: the first entry of
    /// the first `SAMPLED_TREES` inline trees must name a function and call
    /// from inside its outer function. Which word of the runtime's
    /// `moduledata` holds `gofunc` changed between Go releases; this check
    /// picks it without a table of versions.
    pub fn inline_trees_fit(&self, gofunc: u64, read: &dyn Fn(u64, &mut [u8]) -> bool) -> bool {
        let mut checked = 0;
        for index in 0..self.nfunc {
            if checked == SAMPLED_TREES {
                break;
            }
            let Some(func) = self.func_record(index) else {
                return false;
            };
            let Some(tree) = self.inline_tree(func, gofunc) else {
                continue;
            };
            let size = self
                .entry_of(index + 1)
                .and_then(|end| end.checked_sub(func.entry));
            let fits = self.inlined_call(tree, 0, read).is_some_and(|call| {
                let name = self.name_at(call.name_off).unwrap_or_default();
                let inside = u64::try_from(call.parent_pc)
                    .is_ok_and(|pc| size.is_some_and(|size| pc < size));
                inside && !name.is_empty() && name.bytes().all(|b| b.is_ascii_graphic())
            });
            if !fits {
                return false;
            }
            checked += 1;
        }
        checked > 0
    }

    /// Source file and line of `pc` in `func`.
    fn position(&self, func: GoFunc, pc: u64) -> (Option<String>, Option<u32>) {
        let file = u32_at(&self.data, func.record + 20)
            .and_then(|pcfile| self.pc_value(func, pcfile, pc))
            .and_then(|index| self.file_name(func, index));
        let line = u32_at(&self.data, func.record + 24)
            .and_then(|pcln| self.pc_value(func, pcln, pc))
            .and_then(|line| u32::try_from(line).ok());
        (file, line)
    }

    /// The file with per-compilation-unit index `index` for `func`.
    fn file_name(&self, func: GoFunc, index: i32) -> Option<String> {
        let cu_offset = u32_at(&self.data, func.record + 32)?;
        let slot = u64::from(cu_offset).checked_add(u64::try_from(index).ok()?)?;
        let at = self
            .cutab
            .checked_add(usize::try_from(slot.checked_mul(4)?).ok()?)?;
        let file_off = u32_at(&self.data, at)?;
        if file_off == u32::MAX {
            return None;
        }
        c_string(&self.data, self.filetab.checked_add(file_off as usize)?)
    }

    /// Offset of the `_func` fields after the fixed part: the pcdata
    /// offsets, then the funcdata offsets.
    fn fixed_size(&self) -> usize {
        match self.layout {
            Layout::Go118 => 40,
            Layout::Go120 => 44,
        }
    }

    /// Value of pcdata table `table` at `pc`, if the function has it.
    fn pcdata(&self, func: GoFunc, table: usize, pc: u64) -> Option<i32> {
        let npcdata = u32_at(&self.data, func.record + 28)? as usize;
        if table >= npcdata {
            return None;
        }
        let offset = u32_at(&self.data, func.record + self.fixed_size() + 4 * table)?;
        self.pc_value(func, offset, pc)
    }

    /// Stated address of the function's inline tree.
    fn inline_tree(&self, func: GoFunc, gofunc: u64) -> Option<u64> {
        let npcdata = u32_at(&self.data, func.record + 28)? as usize;
        let nfuncdata = *self.data.get(func.record + self.fixed_size() - 1)? as usize;
        if FUNCDATA_INL_TREE >= nfuncdata {
            return None;
        }
        let at = func.record + self.fixed_size() + 4 * (npcdata + FUNCDATA_INL_TREE);
        let offset = u32_at(&self.data, at)?;
        (offset != NO_FUNCDATA).then(|| gofunc.checked_add(u64::from(offset)))?
    }

    /// Entry `index` of the inline tree at stated address `tree`.
    fn inlined_call(
        &self,
        tree: u64,
        index: u64,
        read: &dyn Fn(u64, &mut [u8]) -> bool,
    ) -> Option<InlinedCall> {
        // Go 1.18: parent i16, funcID u8, pad, file i32, line i32, func i32,
        // parentPc i32. Go 1.20: funcID u8, pad [3], func i32, parentPc
        // i32, startLine i32.
        let (size, name_at, parent_pc_at) = match self.layout {
            Layout::Go118 => (20, 12, 16),
            Layout::Go120 => (16, 4, 8),
        };
        let mut buf = [0u8; 20];
        let address = tree.checked_add(index.checked_mul(size)?)?;
        if !read(address, &mut buf[..size as usize]) {
            return None;
        }
        Some(InlinedCall {
            name_off: i32_at(&buf, name_at)?,
            parent_pc: i32_at(&buf, parent_pc_at)?,
        })
    }

    /// The value pc-value table `offset` holds at `pc` (`None` where the
    /// function has no such table or the table ends before `pc`).
    fn pc_value(&self, func: GoFunc, offset: u32, pc: u64) -> Option<i32> {
        if offset == 0 {
            return None;
        }
        let mut at = self.pctab.checked_add(offset as usize)?;
        let mut value: i32 = -1;
        let mut current = func.entry;
        let mut first = true;
        loop {
            let (delta, n) = uvarint(&self.data, at)?;
            if delta == 0 && !first {
                return None;
            }
            at += n;
            let delta = if delta & 1 != 0 {
                !(delta >> 1)
            } else {
                delta >> 1
            };
            value = value.wrapping_add(delta as i32);
            let (pc_delta, n) = uvarint(&self.data, at)?;
            at += n;
            current = current.checked_add(pc_delta)?;
            if pc < current {
                return Some(value);
            }
            first = false;
        }
    }
}

/// What frame naming needs from one inline-tree entry.
struct InlinedCall {
    /// The inlined function's name, in the name table.
    name_off: i32,
    /// Offset from the outer function's entry of an instruction at the call.
    parent_pc: i32,
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        data.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn i32_at(data: &[u8], at: usize) -> Option<i32> {
    u32_at(data, at).map(|v| v as i32)
}

pub(super) fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        data.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// The NUL-terminated string at `start`.
fn c_string(data: &[u8], start: usize) -> Option<String> {
    let rest = data.get(start..)?;
    let end = memchr::memchr(0, rest)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// The unsigned LEB128 number at `at` and its length.
pub(super) fn uvarint(data: &[u8], at: usize) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &byte) in data.get(at..)?.iter().take(10).enumerate() {
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert_eq!(
            Pclntab::parse(vec![1, 2, 3].into(), None).err(),
            Some(PclntabError::TooShort(3))
        );
        let mut header = vec![0u8; 128];
        header[..4].copy_from_slice(&0xdead_beefu32.to_le_bytes());
        assert_eq!(
            Pclntab::parse(header.clone().into(), None).err(),
            Some(PclntabError::UnknownMagic(0xdead_beef))
        );
        header[..4].copy_from_slice(&MAGIC_GO120.to_le_bytes());
        header[6] = 1;
        header[7] = 8;
        header[8..16].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(matches!(
            Pclntab::parse(header.into(), None),
            Err(PclntabError::OutOfBounds("function count", 128))
        ));
    }

    #[test]
    fn pc_values_follow_the_runtime_encoding() {
        // A table: value 0 (delta +1 from -1) for 5 bytes, then 8 (delta +8)
        // for 3 bytes, then the end.
        let mut data = vec![0u8; 8 + 8 * 8];
        data[..4].copy_from_slice(&MAGIC_GO120.to_le_bytes());
        data[6] = 1;
        data[7] = 8;
        let pctab = data.len();
        data.extend([0, 2, 5, 16, 3, 0]);
        let functab = data.len();
        data.extend([0u8; 16]);
        data[8 + 8 * 6..8 + 8 * 7].copy_from_slice(&(pctab as u64).to_le_bytes());
        data[8 + 8 * 7..8 + 8 * 8].copy_from_slice(&(functab as u64).to_le_bytes());
        let table = Pclntab::parse(data.into(), Some(0x1000)).expect("a valid header");
        let func = GoFunc {
            entry: 0x1000,
            record: 0,
        };
        assert_eq!(table.pc_value(func, 1, 0x1000), Some(0));
        assert_eq!(table.pc_value(func, 1, 0x1004), Some(0));
        assert_eq!(table.pc_value(func, 1, 0x1005), Some(8));
        assert_eq!(table.pc_value(func, 1, 0x1008), None);
    }
}
