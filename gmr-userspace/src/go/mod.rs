//! Go binaries: recognises one and reads what naming its frames needs,
//! from the file alone, stripped or not.
//!
//! Every Go binary keeps the runtime's own function table (`.gopclntab`,
//! read by [`pclntab`]), since the runtime needs it for tracebacks and
//! garbage collection; symbol tables and DWARF may be stripped. No
//! maintained crate reads that table with its file/line tables and inline
//! trees for current Go versions (those found name functions only), so
//! this small reader, built on the `object` crate for the ELF side, is
//! hand-written after the runtime's `symtab.go`.
//!
//! Besides the table, inlined frames need `go:func.*`, where the inline
//! trees live: its address comes from the symbol table when there is one,
//! and otherwise from the runtime's `firstmoduledata`, found by its first
//! two words (the table's address, then the name table's).
//! [`go_version`] reads the Go release from `.go.buildinfo` for the Package
//! section.

pub mod goroutines;
pub mod pclntab;

use std::collections::HashMap;
use std::sync::Arc;

use object::elf::{FileHeader64, R_X86_64_RELATIVE, SHF_WRITE, SHT_NOBITS};
use object::read::elf::{FileHeader as _, Rela as _, SectionHeader as _, SectionTable};
use object::{Endianness, ReadRef};

pub use pclntab::{GoFrame, Layout, Pclntab, PclntabError, StackBoundary};

use pclntab::u64_at;

/// How `.go.buildinfo` starts.
const BUILDINFO_MAGIC: &[u8] = b"\xff Go buildinf:";
/// Largest `.go.buildinfo` read: real ones hold the version and module
/// list (a few KiB); the cap keeps a crafted file from making the Package
/// section read it whole.
const MAX_BUILDINFO_SIZE: u64 = 1024 * 1024;
/// Build-info flag: the version string is stored inline (Go 1.18+).
const BUILDINFO_INLINE: u8 = 2;
/// Words of the runtime's `moduledata` that may hold `gofunc`: index 38 in
/// Go 1.19, 43 in Go 1.27; each candidate is checked against the inline
/// trees.
const GOFUNC_WORDS: std::ops::Range<usize> = 32..56;
/// Word index of `text` (the first Go instruction) in `moduledata`.
const TEXT_WORD: usize = 22;

/// Why a Go binary's tables could not be read.
#[derive(Debug, thiserror::Error)]
pub enum GoError {
    /// The function table is damaged or of an unknown version.
    #[error("{0}")]
    Pclntab(#[from] PclntabError),
    /// The ELF file itself could not be read.
    #[error("could not read the ELF file: {0}")]
    Elf(String),
}

/// A Go binary's naming data, parsed once per file.
pub struct GoBinary {
    table: Pclntab,
    /// `go:func.*` and the bytes from it to the end of its section.
    funcdata: Option<(u64, Arc<[u8]>)>,
}

impl GoBinary {
    /// Reads the Go tables of the ELF file `data`; `Ok(None)` when it is
    /// not a Go binary (no `.gopclntab`, `.data.rel.ro.gopclntab` in a
    /// position-independent build).
    pub fn read<'data, R: ReadRef<'data>>(data: R) -> Result<Option<Self>, GoError> {
        let header =
            FileHeader64::<Endianness>::parse(data).map_err(|e| GoError::Elf(e.to_string()))?;
        let endian = header.endian().map_err(|e| GoError::Elf(e.to_string()))?;
        let sections = header
            .sections(endian, data)
            .map_err(|e| GoError::Elf(e.to_string()))?;
        let bytes = |name: &[u8]| -> Option<(u64, &'data [u8])> {
            let (_, section) = sections.section_by_name(endian, name)?;
            if section.sh_type(endian) == SHT_NOBITS {
                return None;
            }
            Some((section.sh_addr(endian), section.data(endian, data).ok()?))
        };
        // A position-independent build keeps it in `.data.rel.ro`.
        let pclntab = bytes(b".gopclntab").or_else(|| bytes(b".data.rel.ro.gopclntab"));
        let Some((pclntab_address, pclntab)) = pclntab else {
            return Ok(None);
        };
        let module_data = ModuleData::find(&sections, endian, data, pclntab_address, pclntab);
        let table = Pclntab::parse(
            pclntab.into(),
            module_data.as_ref().and_then(|m| m.word(TEXT_WORD)),
        )?;
        let funcdata_from = |address: u64| -> Option<(u64, Arc<[u8]>)> {
            let (start, bytes) = section_bytes_at(&sections, endian, data, address)?;
            let from = usize::try_from(address - start).ok()?;
            Some((address, Arc::from(bytes.get(from..)?)))
        };
        let funcdata = symbol_address(&sections, endian, data)
            .and_then(funcdata_from)
            .or_else(|| {
                let module_data = module_data.as_ref()?;
                GOFUNC_WORDS
                    .filter_map(|index| funcdata_from(module_data.word(index)?))
                    .find(|(address, bytes)| {
                        table.inline_trees_fit(*address, &|at, buf| {
                            read_in(*address, bytes, at, buf)
                        })
                    })
            });
        Ok(Some(GoBinary { table, funcdata }))
    }

    /// The function table.
    pub fn table(&self) -> &Pclntab {
        &self.table
    }

    /// True when inlined frames can be named (`go:func.*` was found).
    pub fn names_inlined_frames(&self) -> bool {
        self.funcdata.is_some()
    }

    /// Where the runtime's traceback stops at the function holding stated
    /// address `pc`, with the function's name.
    pub fn stack_boundary(&self, pc: u64) -> Option<(StackBoundary, String)> {
        let func = self.table.func_at(pc)?;
        let boundary = self.table.stack_boundary(func)?;
        Some((boundary, self.table.name(func)?))
    }

    /// Source frames at stated address `pc`, innermost first; `None` when
    /// `pc` is not in Go code (C code of a cgo binary).
    pub fn frames(&self, pc: u64) -> Option<Vec<GoFrame>> {
        let read = |address: u64, buf: &mut [u8]| {
            self.funcdata
                .as_ref()
                .is_some_and(|(start, bytes)| read_in(*start, bytes, address, buf))
        };
        let gofunc = self.funcdata.as_ref().map(|(address, _)| *address);
        self.table.frames(pc, gofunc, &read)
    }
}

/// The Go release that built the ELF file `data` (`go1.19.8`), from its
/// `.go.buildinfo`; `None` for anything else. Reads that section only.
pub fn go_version<'data, R: ReadRef<'data>>(data: R) -> Option<String> {
    let header = FileHeader64::<Endianness>::parse(data).ok()?;
    let endian = header.endian().ok()?;
    let sections = header.sections(endian, data).ok()?;
    let (_, section) = sections.section_by_name(endian, b".go.buildinfo")?;
    if section.sh_size(endian) > MAX_BUILDINFO_SIZE {
        return None;
    }
    build_version(section.data(endian, data).ok()?)
}

/// Fills `buf` from `bytes`, which start at stated address `start`, at
/// stated address `address`; false when `bytes` do not hold it.
fn read_in(start: u64, bytes: &[u8], address: u64, buf: &mut [u8]) -> bool {
    let slice = address
        .checked_sub(start)
        .and_then(|at| usize::try_from(at).ok())
        .and_then(|at| bytes.get(at..at.checked_add(buf.len())?));
    slice.map(|src| buf.copy_from_slice(src)).is_some()
}

/// The Go version recorded in `.go.buildinfo` (Go 1.18+ inline format).
fn build_version(info: &[u8]) -> Option<String> {
    if !info.starts_with(BUILDINFO_MAGIC) || info.get(15)? & BUILDINFO_INLINE == 0 {
        return None;
    }
    let (len, n) = pclntab::uvarint(info, 32)?;
    let start = 32 + n;
    let text = info.get(start..start.checked_add(usize::try_from(len).ok()?)?)?;
    Some(String::from_utf8_lossy(text).into_owned())
}

/// `go:func.*` (`go.func.*` before Go 1.20) from the symbol table.
fn symbol_address<'data, R: ReadRef<'data>>(
    sections: &SectionTable<'data, FileHeader64<Endianness>, R>,
    endian: Endianness,
    data: R,
) -> Option<u64> {
    let symbols = sections
        .symbols(endian, data, object::elf::SHT_SYMTAB)
        .ok()?;
    symbols.iter().find_map(|symbol| {
        let name = symbols.symbol_name(endian, symbol).ok()?;
        (name == b"go:func.*" || name == b"go.func.*").then(|| symbol.st_value.get(endian))
    })
}

/// The runtime's `firstmoduledata`, which points at the function table and
/// says where the text and `go:func.*` are.
struct ModuleData<'a, 'data, R: ReadRef<'data>> {
    sections: &'a SectionTable<'data, FileHeader64<Endianness>, R>,
    endian: Endianness,
    data: R,
    address: u64,
    /// Dynamic relocations: a position-independent binary keeps the
    /// structure's pointers as their addends, with zeros in the file.
    relocated: HashMap<u64, u64>,
}

impl<'a, 'data, R: ReadRef<'data>> ModuleData<'a, 'data, R> {
    /// Finds the structure in the writable sections by its first two words:
    /// the table's address and its name table's.
    fn find(
        sections: &'a SectionTable<'data, FileHeader64<Endianness>, R>,
        endian: Endianness,
        data: R,
        pclntab_address: u64,
        pclntab: &[u8],
    ) -> Option<Self> {
        let names = pclntab_address.checked_add(pclntab::name_table_offset(pclntab)?)?;
        let relocated = relative_relocations(sections, endian, data);
        let in_file = sections
            .iter()
            .filter(|s| s.sh_flags(endian) & u64::from(SHF_WRITE) != 0)
            .filter(|s| s.sh_type(endian) != SHT_NOBITS)
            .flat_map(|s| {
                let start = s.sh_addr(endian);
                let bytes = s.data(endian, data).unwrap_or_default();
                (0..bytes.len() / 8)
                    .filter(move |i| u64_at(bytes, i * 8) == Some(pclntab_address))
                    .map(move |i| start + 8 * i as u64)
            })
            .collect::<Vec<_>>();
        let relocated_candidates = relocated
            .iter()
            .filter(|(_, value)| **value == pclntab_address)
            .map(|(at, _)| *at)
            .collect::<Vec<_>>();
        let mut module_data = ModuleData {
            sections,
            endian,
            data,
            address: 0,
            relocated,
        };
        let found = in_file
            .into_iter()
            .chain(relocated_candidates)
            .find(|&address| {
                module_data.address = address;
                module_data.word(1) == Some(names)
            })?;
        module_data.address = found;
        Some(module_data)
    }

    /// The structure's `index`th word, relocated.
    fn word(&self, index: usize) -> Option<u64> {
        let address = self.address.checked_add(8 * index as u64)?;
        let (start, bytes) = section_bytes_at(self.sections, self.endian, self.data, address)?;
        match u64_at(bytes, usize::try_from(address - start).ok()?)? {
            0 => self.relocated.get(&address).copied(),
            value => Some(value),
        }
    }
}

/// Address to addend of every `R_X86_64_RELATIVE` relocation.
fn relative_relocations<'data, R: ReadRef<'data>>(
    sections: &SectionTable<'data, FileHeader64<Endianness>, R>,
    endian: Endianness,
    data: R,
) -> HashMap<u64, u64> {
    let Some((_, section)) = sections.section_by_name(endian, b".rela.dyn") else {
        return HashMap::new();
    };
    let Ok(Some((relocations, _))) = section.rela(endian, data) else {
        return HashMap::new();
    };
    relocations
        .iter()
        .filter(|r| r.r_type(endian, false) == R_X86_64_RELATIVE)
        .map(|r| (r.r_offset(endian), r.r_addend(endian) as u64))
        .collect()
}

/// The section holding stated address `address`: its address and bytes.
fn section_bytes_at<'data, R: ReadRef<'data>>(
    sections: &SectionTable<'data, FileHeader64<Endianness>, R>,
    endian: Endianness,
    data: R,
    address: u64,
) -> Option<(u64, &'data [u8])> {
    sections.iter().find_map(|s| {
        let start = s.sh_addr(endian);
        let size = s.sh_size(endian);
        if start == 0
            || s.sh_type(endian) == SHT_NOBITS
            || !(start..start + size).contains(&address)
        {
            return None;
        }
        Some((start, s.data(endian, data).ok()?))
    })
}

#[cfg(test)]
mod tests {
    use super::build_version;

    #[test]
    fn build_version_reads_the_inline_string_and_refuses_the_rest() {
        let mut info = b"\xff Go buildinf:\x08\x02".to_vec();
        info.resize(32, 0);
        info.push(8);
        info.extend(b"go1.27.3");
        assert_eq!(build_version(&info).as_deref(), Some("go1.27.3"));
        info.truncate(36);
        assert_eq!(build_version(&info), None, "a length past the end");
        info[15] = 0;
        assert_eq!(build_version(&info), None, "pre-1.18 pointer format");
        assert_eq!(build_version(b"garbage"), None);
    }
}
