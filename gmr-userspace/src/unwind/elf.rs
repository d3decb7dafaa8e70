//! One ELF image's unwind data: the call-frame sections framehop needs, the
//! `PT_LOAD` segments that place the image in memory, and its bytes.
//!
//! Only the headers and the unwind sections are read when an image is
//! parsed; code bytes are read on demand (to recognise signal trampolines),
//! so a large binary costs little more than its `.eh_frame`. The image is
//! address-independent, so one parse serves every process that maps the same
//! file, whatever its load address.

use std::fs::File;
use std::ops::Range;
use std::os::unix::fs::FileExt as _;
use std::sync::{Arc, OnceLock};

use framehop::ModuleSectionInfo;
use object::elf::{
    EM_X86_64, FileHeader64, PF_X, PT_LOAD, SHF_COMPRESSED, SHT_NOBITS, SectionHeader64,
};
use object::read::elf::{FileHeader as _, ProgramHeader as _, SectionHeader as _};
use object::{Endianness, ReadCache, ReadRef};

use crate::go::GoBinary;

/// Section data as framehop holds it: shared, so one parse feeds many modules.
pub(super) type SectionBytes = Arc<[u8]>;

/// Where an image's bytes come from.
enum ImageBytes {
    /// An ELF file, read with `pread` when code bytes are needed.
    File(File),
    /// An image copied out of the target's memory (the vDSO).
    Memory(SectionBytes),
}

/// A section's stated address range and its place in the file.
#[derive(Clone, Debug)]
struct SectionPlace {
    svma: Range<u64>,
    file_offset: u64,
}

/// A section held in memory.
struct LoadedSection {
    svma: Range<u64>,
    data: SectionBytes,
}

/// A `PT_LOAD` program header.
#[derive(Clone, Debug)]
struct LoadSegment {
    offset: u64,
    vaddr: u64,
    filesz: u64,
    executable: bool,
}

/// The parsed, address-independent unwind data of one ELF image.
pub(super) struct ElfImage {
    eh_frame: Option<LoadedSection>,
    eh_frame_hdr: Option<LoadedSection>,
    debug_frame: Option<SectionBytes>,
    text: Option<SectionPlace>,
    got: Option<Range<u64>>,
    loads: Vec<LoadSegment>,
    bytes: ImageBytes,
    /// Go tables, read on first use (`None` inside: not a Go binary, or
    /// unreadable).
    go: OnceLock<Option<GoBinary>>,
}

impl ElfImage {
    /// The Go runtime's tables, when this image is a Go binary.
    pub(super) fn go_binary(&self) -> Option<&GoBinary> {
        self.go
            .get_or_init(|| {
                let read = match &self.bytes {
                    ImageBytes::File(file) => GoBinary::read(&ReadCache::new(file)),
                    ImageBytes::Memory(bytes) => GoBinary::read(&bytes[..]),
                };
                read.inspect_err(|e| log::debug!("Go frames stay unnamed: {e}"))
                    .ok()
                    .flatten()
            })
            .as_ref()
    }

    /// Parses an ELF file, reading only its headers and unwind sections.
    pub(super) fn from_file(file: File) -> Result<Self, String> {
        let parsed = {
            let cache = ReadCache::new(&file);
            Parsed::parse(&cache)?
        };
        Ok(parsed.into_image(ImageBytes::File(file)))
    }

    /// Parses an ELF image held in memory.
    pub(super) fn from_bytes(bytes: SectionBytes) -> Result<Self, String> {
        let parsed = Parsed::parse(&bytes[..])?;
        Ok(parsed.into_image(ImageBytes::Memory(bytes)))
    }

    /// True when the image has call-frame information framehop can use.
    pub(super) fn has_unwind_info(&self) -> bool {
        self.eh_frame.is_some() || self.debug_frame.is_some()
    }

    /// The address of stated address 0 for a mapping of this image that
    /// starts at `map_start` with file offset `map_offset`, or `None` when no
    /// `PT_LOAD` segment covers that offset.
    ///
    /// The mapping's offset is page aligned while the segment's need not be,
    /// so a segment covers the mapping when the offset falls between the
    /// segment's page-aligned start and its end. Executable segments win,
    /// since the mapping asked about is a code mapping.
    pub(super) fn base_avma(&self, map_start: u64, map_offset: u64) -> Option<u64> {
        const PAGE: u64 = 4096;
        let covers = |seg: &&LoadSegment| {
            let start = seg.offset & !(PAGE - 1);
            let end = seg.offset.saturating_add(seg.filesz.max(1));
            (start..end).contains(&map_offset)
        };
        let segment = self
            .loads
            .iter()
            .filter(covers)
            .max_by_key(|seg| seg.executable)?;
        map_start
            .checked_sub(map_offset)?
            .checked_add(segment.offset)?
            .checked_sub(segment.vaddr)
    }

    /// Fills `buf` from the image's bytes at `offset` (a file offset, or an
    /// offset into the copied image). Returns false when it could not.
    pub(super) fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        match &self.bytes {
            ImageBytes::File(file) => file.read_exact_at(buf, offset).is_ok(),
            ImageBytes::Memory(bytes) => {
                let range = usize::try_from(offset)
                    .ok()
                    .and_then(|start| Some(start..start.checked_add(buf.len())?));
                match range.and_then(|range| bytes.get(range)) {
                    Some(src) => {
                        buf.copy_from_slice(src);
                        true
                    }
                    None => false,
                }
            }
        }
    }

    /// Reads `len` bytes at `offset`, for section data framehop asks for
    /// lazily.
    fn read_vec(&self, offset: u64, len: u64) -> Option<SectionBytes> {
        let mut buf = vec![0; usize::try_from(len).ok()?];
        self.read_at(offset, &mut buf).then(|| buf.into())
    }

    /// The executable `PT_LOAD` segment with the lowest address.
    fn text_segment(&self) -> Option<&LoadSegment> {
        self.loads.iter().find(|seg| seg.executable)
    }

    /// The section view framehop builds a module from.
    pub(super) fn section_info(&self) -> ElfSectionInfo<'_> {
        ElfSectionInfo { image: self }
    }
}

/// What parsing collects before the image's bytes are attached.
struct Parsed {
    eh_frame: Option<LoadedSection>,
    eh_frame_hdr: Option<LoadedSection>,
    debug_frame: Option<SectionBytes>,
    text: Option<SectionPlace>,
    got: Option<Range<u64>>,
    loads: Vec<LoadSegment>,
}

impl Parsed {
    fn parse<'data, R: ReadRef<'data>>(data: R) -> Result<Self, String> {
        let header = FileHeader64::<Endianness>::parse(data)
            .map_err(|e| format!("not a 64-bit ELF file: {e}"))?;
        let endian = header
            .endian()
            .map_err(|e| format!("bad ELF header: {e}"))?;
        if header.e_machine(endian) != EM_X86_64 {
            return Err(format!(
                "ELF machine {} is not x86_64",
                header.e_machine(endian)
            ));
        }
        let loads = header
            .program_headers(endian, data)
            .map_err(|e| format!("could not read program headers: {e}"))?
            .iter()
            .filter(|ph| ph.p_type(endian) == PT_LOAD)
            .map(|ph| LoadSegment {
                offset: ph.p_offset(endian),
                vaddr: ph.p_vaddr(endian),
                filesz: ph.p_filesz(endian),
                executable: ph.p_flags(endian) & PF_X != 0,
            })
            .collect::<Vec<_>>();
        if loads.is_empty() {
            return Err("no PT_LOAD segments".to_owned());
        }
        // Section headers may be missing (stripped with sstrip); the image is
        // then still placed and its code readable, just without CFI.
        let sections = header.sections(endian, data).unwrap_or_default();
        let find = |name: &[u8]| sections.section_by_name(endian, name).map(|(_, s)| s);
        let load = |name: &[u8]| load_section(endian, data, find(name)?);
        Ok(Parsed {
            eh_frame: load(b".eh_frame"),
            eh_frame_hdr: load(b".eh_frame_hdr"),
            debug_frame: load(b".debug_frame").map(|s| s.data),
            text: find(b".text").map(|s| SectionPlace {
                svma: svma_range(s, endian),
                file_offset: s.sh_offset(endian),
            }),
            got: find(b".got").map(|s| svma_range(s, endian)),
            loads,
        })
    }

    fn into_image(self, bytes: ImageBytes) -> ElfImage {
        ElfImage {
            eh_frame: self.eh_frame,
            eh_frame_hdr: self.eh_frame_hdr,
            debug_frame: self.debug_frame,
            text: self.text,
            got: self.got,
            loads: self.loads,
            bytes,
            go: OnceLock::new(),
        }
    }
}

fn svma_range(section: &SectionHeader64<Endianness>, endian: Endianness) -> Range<u64> {
    let start = section.sh_addr(endian);
    start..start.saturating_add(section.sh_size(endian))
}

/// Copies a section's bytes, or `None` when it has none in the file or is
/// compressed (this build of `object` cannot inflate it).
fn load_section<'data, R: ReadRef<'data>>(
    endian: Endianness,
    data: R,
    section: &SectionHeader64<Endianness>,
) -> Option<LoadedSection> {
    if section.sh_type(endian) == SHT_NOBITS
        || section.sh_flags(endian) & u64::from(SHF_COMPRESSED) != 0
    {
        return None;
    }
    let bytes = section.data(endian, data).ok()?;
    if bytes.is_empty() {
        return None;
    }
    Some(LoadedSection {
        svma: svma_range(section, endian),
        data: bytes.into(),
    })
}

/// framehop's view of an [`ElfImage`]. ELF states addresses relative to 0.
pub(super) struct ElfSectionInfo<'a> {
    image: &'a ElfImage,
}

impl ModuleSectionInfo<SectionBytes> for ElfSectionInfo<'_> {
    fn base_svma(&self) -> u64 {
        0
    }

    fn section_svma_range(&mut self, name: &[u8]) -> Option<Range<u64>> {
        let image = self.image;
        match name {
            b".text" => image.text.as_ref().map(|s| s.svma.clone()),
            b".eh_frame" => image.eh_frame.as_ref().map(|s| s.svma.clone()),
            b".eh_frame_hdr" => image.eh_frame_hdr.as_ref().map(|s| s.svma.clone()),
            b".got" => image.got.clone(),
            _ => None,
        }
    }

    fn section_data(&mut self, name: &[u8]) -> Option<SectionBytes> {
        let image = self.image;
        match name {
            b".eh_frame" => image.eh_frame.as_ref().map(|s| s.data.clone()),
            b".eh_frame_hdr" => image.eh_frame_hdr.as_ref().map(|s| s.data.clone()),
            b".debug_frame" => image.debug_frame.clone(),
            // framehop only reads code for instruction analysis on Mach-O, so
            // this is read when asked rather than kept for every image.
            b".text" => {
                let text = image.text.as_ref()?;
                image.read_vec(text.file_offset, text.svma.end - text.svma.start)
            }
            _ => None,
        }
    }

    // framehop asks for "the code segment" by its Mach-O name; ELF segments
    // are unnamed, so that name maps to the executable PT_LOAD.
    fn segment_svma_range(&mut self, name: &[u8]) -> Option<Range<u64>> {
        let seg = self.image.text_segment().filter(|_| name == b"__TEXT")?;
        Some(seg.vaddr..seg.vaddr.saturating_add(seg.filesz))
    }

    fn segment_data(&mut self, name: &[u8]) -> Option<SectionBytes> {
        let seg = self.image.text_segment().filter(|_| name == b"__TEXT")?;
        self.image.read_vec(seg.offset, seg.filesz)
    }
}

#[cfg(test)]
mod tests {
    use super::{ElfImage, ImageBytes, LoadSegment};

    fn image(loads: Vec<LoadSegment>) -> ElfImage {
        ElfImage {
            eh_frame: None,
            eh_frame_hdr: None,
            debug_frame: None,
            text: None,
            got: None,
            loads,
            bytes: ImageBytes::Memory(Vec::new().into()),
            go: std::sync::OnceLock::new(),
        }
    }

    fn load(offset: u64, vaddr: u64, filesz: u64, executable: bool) -> LoadSegment {
        LoadSegment {
            offset,
            vaddr,
            filesz,
            executable,
        }
    }

    #[test]
    fn pie_text_segment() {
        let elf = image(vec![
            load(0, 0, 0x25388, false),
            load(0x26000, 0x26000, 0x1550fc, true),
        ]);
        assert_eq!(
            elf.base_avma(0x7f12_3452_6000, 0x26000),
            Some(0x7f12_3450_0000)
        );
    }

    #[test]
    fn segment_not_page_aligned_in_the_file() {
        // lld packs segments: the text starts mid-page in the file and one
        // page further on in memory; the mapping starts at the page below.
        let elf = image(vec![
            load(0, 0, 0x2f40, false),
            load(0x2f40, 0x3f40, 0x1000, true),
        ]);
        assert_eq!(
            elf.base_avma(0x5555_0000_3000, 0x2000),
            Some(0x5555_0000_0000)
        );
    }

    #[test]
    fn fixed_address_executable() {
        let elf = image(vec![
            load(0, 0x40_0000, 0x500, false),
            load(0x1000, 0x40_1000, 0x2000, true),
        ]);
        assert_eq!(elf.base_avma(0x40_1000, 0x1000), Some(0));
    }

    #[test]
    fn offset_outside_every_segment() {
        let elf = image(vec![load(0x1000, 0x1000, 0x1000, true)]);
        assert_eq!(elf.base_avma(0x7f00_0000_0000, 0x8000), None);
    }

    #[test]
    fn garbage_is_not_an_image() {
        assert!(ElfImage::from_bytes(vec![0x7f, b'E', b'L', b'F', 0, 0].into()).is_err());
        assert!(ElfImage::from_bytes(Vec::new().into()).is_err());
    }
}
