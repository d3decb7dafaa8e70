//! What the executable's ELF headers say: its GNU build-id, its program
//! interpreter (`PT_INTERP`, the dynamic loader the kernel started) and,
//! for a Go binary, the Go release that built it.
//!
//! Only headers, note sections and the interpreter segment are read, never
//! the whole executable: it is read through `/proc/PID/exe`, which may be a
//! large file of a hostile process.

use std::fs::File;

use object::elf;
use object::read::elf::{FileHeader, ProgramHeader as _, SectionHeader as _};
use object::{Endianness, FileKind, ReadCache, ReadRef};

/// Largest note section or segment searched for a build-id. Real ones are
/// a few hundred bytes; the cap stops a crafted ELF from making the agent
/// read (and cache) its whole file once per bogus note header.
const MAX_NOTES_SIZE: u64 = 64 * 1024;

/// Largest `PT_INTERP` segment believed; `PATH_MAX` is 4096.
const MAX_INTERP_SIZE: u64 = 4096;

/// The parts of an ELF executable the Package section reports.
#[derive(Debug, Default)]
pub(super) struct ElfFacts {
    /// The GNU build-id, lowercase hex.
    pub(super) build_id: Option<String>,
    /// The `PT_INTERP` path, as the process's loader resolved it.
    pub(super) interpreter: Option<String>,
    /// The Go release that built it, for a Go binary.
    pub(super) go_version: Option<String>,
}

/// Reads the build-id and program interpreter of the ELF file `file`.
pub(super) fn read_elf_facts(file: &File) -> object::Result<ElfFacts> {
    let cache = ReadCache::new(file);
    let data = &cache;
    match FileKind::parse(data)? {
        FileKind::Elf32 => facts::<elf::FileHeader32<Endianness>, _>(data),
        FileKind::Elf64 => facts::<elf::FileHeader64<Endianness>, _>(data),
        _ => Ok(ElfFacts::default()),
    }
}

/// Both facts of one parsed ELF header.
fn facts<'data, Elf: FileHeader, R: ReadRef<'data>>(data: R) -> object::Result<ElfFacts> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let build_id = build_id(header, endian, data)?
        .map(|bytes| bytes.iter().map(|byte| format!("{byte:02x}")).collect());
    Ok(ElfFacts {
        build_id,
        interpreter: interpreter(header, endian, data)?,
        go_version: crate::go::go_version(data),
    })
}

/// Finds the `NT_GNU_BUILD_ID` note, in note sections or else note segments.
fn build_id<'data, Elf: FileHeader, R: ReadRef<'data>>(
    header: &Elf,
    endian: Elf::Endian,
    data: R,
) -> object::Result<Option<&'data [u8]>> {
    for section in header.section_headers(endian, data)? {
        if section.sh_size(endian).into() > MAX_NOTES_SIZE {
            continue;
        }
        if let Some(notes) = section.notes(endian, data)?
            && let Some(id) = gnu_build_id(notes, endian)?
        {
            return Ok(Some(id));
        }
    }
    // Section headers can be stripped; the loader's note segment cannot.
    for segment in header.program_headers(endian, data)? {
        if segment.p_filesz(endian).into() > MAX_NOTES_SIZE {
            continue;
        }
        if let Some(notes) = segment.notes(endian, data)?
            && let Some(id) = gnu_build_id(notes, endian)?
        {
            return Ok(Some(id));
        }
    }
    Ok(None)
}

/// The description of the first GNU build-id note in `notes`.
fn gnu_build_id<'data, Elf: FileHeader>(
    mut notes: object::read::elf::NoteIterator<'data, Elf>,
    endian: Elf::Endian,
) -> object::Result<Option<&'data [u8]>> {
    while let Some(note) = notes.next()? {
        if note.name() == elf::ELF_NOTE_GNU && note.n_type(endian) == elf::NT_GNU_BUILD_ID {
            return Ok(Some(note.desc()));
        }
    }
    Ok(None)
}

/// The path in the `PT_INTERP` segment, without its terminating NUL;
/// static executables have none.
fn interpreter<'data, Elf: FileHeader, R: ReadRef<'data>>(
    header: &Elf,
    endian: Elf::Endian,
    data: R,
) -> object::Result<Option<String>> {
    let Some(segment) = header
        .program_headers(endian, data)?
        .iter()
        .find(|segment| segment.p_type(endian) == elf::PT_INTERP)
    else {
        return Ok(None);
    };
    if segment.p_filesz(endian).into() > MAX_INTERP_SIZE {
        return Ok(None);
    }
    // A segment pointing outside the file names no interpreter.
    let Ok(bytes) = segment.data(endian, data) else {
        return Ok(None);
    };
    let path = bytes.split(|&byte| byte == 0).next().unwrap_or_default();
    Ok((!path.is_empty()).then(|| String::from_utf8_lossy(path).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dynamic_executable_has_the_system_loader() {
        let facts = read_elf_facts(&File::open("/bin/sleep").expect("open sleep")).expect("parse");
        let loader = facts.interpreter.expect("sleep is dynamic");
        assert!(loader.starts_with("/lib"), "{loader}");
        assert!(loader.contains("ld-linux"), "{loader}");
        assert!(facts.build_id.is_some_and(|id| id.len() == 40));
    }

    #[test]
    fn non_elf_is_an_error() {
        assert!(read_elf_facts(&File::open("/etc/os-release").expect("open")).is_err());
    }
}
