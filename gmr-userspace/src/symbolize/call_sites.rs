//! Call sites of one ELF image: what each call instruction calls and
//! which functions end in a tail call, read from DWARF call-site entries
//! (`DW_TAG_call_site`, GNU's `DW_TAG_GNU_call_site`), with the image's
//! function symbols to resolve callees named only by a declaration.
//!
//! This is what gdb reads to rebuild the frames a tail call removed from
//! the machine stack ([`super::tail_calls`] walks it). Debug info is taken
//! from the image itself or from its separate debug file, found by build-id
//! under `/usr/lib/debug/.build-id/` (Debian's `-dbg` and `-dbgsym`
//! packages), inside the process's root first.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read as _;
use std::path::PathBuf;

use gimli::{AttributeValue, EndianSlice, LittleEndian, UnitOffset};
use object::{Object as _, ObjectSection as _, ObjectSymbol as _, SymbolKind};

use super::call_site_cache::{self, DwarfCalls, FileStamp, Sources};
use super::cxx_names::{CxxFunctions, CxxNames, is_cxx};
use super::names::PublicNames;
use crate::kernel::boot_cache::BootCache;

/// How deep a chain of `DW_AT_specification` / `DW_AT_abstract_origin`
/// references is followed to find a callee's name.
const ORIGIN_DEPTH: usize = 8;

/// What a call site calls, in the image's own (stated) addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Callee {
    /// A function of this image, by its entry address.
    Address(u64),
    /// A function known by its symbol name only (declared, defined
    /// elsewhere: another compilation unit or another image).
    Symbol(String),
}

/// One function symbol.
#[derive(Clone, Copy, Debug)]
struct FunctionSymbol {
    address: u64,
    /// Global or weak: visible to other images.
    exported: bool,
}

/// The call sites and functions of one image, by stated address.
#[derive(Debug, Default)]
pub struct CallSites {
    /// Non-tail call sites by the return address they push.
    by_return_address: HashMap<u64, Callee>,
    /// The tail calls each function makes, by the function's entry.
    tail_calls: HashMap<u64, Vec<Callee>>,
    /// Code ranges of functions with their entry, sorted by start.
    functions: Vec<(u64, u64, u64)>,
    /// Function symbols by name (the debug file's local ones too).
    symbols: HashMap<String, FunctionSymbol>,
    /// The public names of functions, from the same symbol tables.
    names: PublicNames,
    /// gdb's names for the image's C++ functions, when it has some.
    cxx_names: Option<CxxNames>,
}

impl CallSites {
    /// Reads the call sites of the ELF image `image`, with debug info from
    /// the image or its separate debug file (looked up under `root`, then
    /// the host's `/`). An image without call-site information gives an
    /// empty table, not an error. With `disk` (the per-boot cache and the
    /// image's stamp), the DWARF walk's results are taken from the cache
    /// when it has them for the same files, and stored after a walk.
    ///
    /// # Errors
    ///
    /// When `image` is not an ELF file object can parse.
    pub fn read(
        image: &[u8],
        root: &str,
        disk: Option<(&BootCache, FileStamp)>,
    ) -> Result<Self, String> {
        let file = object::File::parse(image).map_err(|e| format!("not an ELF image: {e}"))?;
        let mut sites = CallSites::default();
        sites.add_symbols(&file);
        let debug_file = if file.section_by_name(".debug_info").is_some() {
            None
        } else {
            separate_debug_file(&file, root)
        };
        let debug = match &debug_file {
            Some(found) => object::File::parse(&found.bytes[..]).ok(),
            None => None,
        };
        if let Some(debug) = &debug {
            sites.add_symbols(debug);
        }
        let dwarf_file = debug.as_ref().unwrap_or(&file);
        let disk = disk.map(|(cache, image)| {
            let debug = debug_file
                .as_ref()
                .map(|found| (found.path.display().to_string(), found.stamp));
            (cache, Sources { image, debug })
        });
        if let Some((cache, sources)) = &disk
            && let Some(calls) = call_site_cache::load(cache, sources)
        {
            sites.by_return_address = calls.by_return_address;
            sites.tail_calls = calls.tail_calls;
            sites.functions.extend(calls.functions);
            sites.functions.sort_unstable();
            return Ok(sites);
        }
        let sections = gimli::DwarfSections::load(|id| {
            let data = read_section(id)
                .then(|| section_data(dwarf_file, id.name()))
                .flatten()
                .unwrap_or(Cow::Borrowed(&[]));
            Ok::<_, gimli::Error>((id, data))
        })
        .map_err(|e| format!("DWARF sections unreadable: {e}"))?;
        let symbol_ranges = sites.functions.len();
        let mut cxx = CxxFunctions::default();
        if let Err(e) = sites.add_dwarf(&sections, &mut cxx) {
            log::debug!("call sites stop at a DWARF error: {e}");
        }
        sites.cxx_names = cxx.into_names(&sections);
        if let Some((cache, sources)) = &disk
            && sites.cxx_names.is_none()
            && dwarf_file.section_by_name(".debug_info").is_some()
        {
            let calls = DwarfCalls {
                by_return_address: sites.by_return_address.clone(),
                tail_calls: sites.tail_calls.clone(),
                functions: sites.functions[symbol_ranges..].to_vec(),
            };
            call_site_cache::store(cache, sources, &calls);
        }
        sites.functions.sort_unstable();
        Ok(sites)
    }

    /// What the call that returns to `return_address` calls.
    pub fn callee_returning_to(&self, return_address: u64) -> Option<&Callee> {
        self.by_return_address.get(&return_address)
    }

    /// The tail calls made by the function entered at `entry`.
    pub fn tail_calls_of(&self, entry: u64) -> &[Callee] {
        self.tail_calls.get(&entry).map_or(&[], Vec::as_slice)
    }

    /// The entry of the function whose code holds `address`.
    pub fn function_entry(&self, address: u64) -> Option<u64> {
        function_holding(&self.functions, address)
    }

    /// The address of the function symbol `name`; `exported_only` keeps
    /// to symbols other images can call.
    pub fn symbol(&self, name: &str, exported_only: bool) -> Option<u64> {
        self.symbols
            .get(name)
            .filter(|symbol| symbol.exported || !exported_only)
            .map(|symbol| symbol.address)
    }

    /// The public names of the image's functions.
    pub fn public_names(&self) -> &PublicNames {
        &self.names
    }

    /// gdb's names for the image's C++ functions; `None` when it has no
    /// C++ code with debug info.
    pub fn cxx_names(&self) -> Option<&CxxNames> {
        self.cxx_names.as_ref()
    }

    fn add_symbols(&mut self, file: &object::File<'_>) {
        self.names.add(file.symbols());
        self.names.add(file.dynamic_symbols());
        for symbol in file.symbols().chain(file.dynamic_symbols()) {
            if symbol.kind() != SymbolKind::Text || !symbol.is_definition() {
                continue;
            }
            let Ok(name) = symbol.name() else { continue };
            let address = symbol.address();
            if symbol.size() > 0 {
                self.functions
                    .push((address, address + symbol.size(), address));
            }
            let exported = symbol.is_global() || symbol.is_weak();
            let known = self
                .symbols
                .entry(name.to_owned())
                .or_insert(FunctionSymbol { address, exported });
            known.exported |= exported;
        }
    }

    fn add_dwarf(
        &mut self,
        sections: &gimli::DwarfSections<(gimli::SectionId, Cow<'_, [u8]>)>,
        cxx: &mut CxxFunctions,
    ) -> gimli::Result<()> {
        let dwarf = sections.borrow(|(_, section)| EndianSlice::new(section, LittleEndian));
        let mut across = AcrossUnits::default();
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            if let Some(start) = header.debug_info_offset() {
                cxx.add_unit(start.0);
                across.unit_starts.push(start.0);
            }
            let unit = dwarf.unit(header)?;
            self.add_unit(unit.unit_ref(&dwarf), cxx, &mut across)?;
        }
        let mut read = HashMap::new();
        for (tail, caller, returns_to, origin) in std::mem::take(&mut across.pending) {
            if let Some(callee) = across.resolve(&dwarf, &mut read, origin)? {
                self.add_call(tail, caller, returns_to, callee);
            }
        }
        Ok(())
    }

    fn add_call(
        &mut self,
        tail: bool,
        caller: Option<u64>,
        returns_to: Option<u64>,
        callee: Callee,
    ) {
        match (tail, caller, returns_to) {
            (true, Some(caller), _) => self.tail_calls.entry(caller).or_default().push(callee),
            (false, _, Some(returns_to)) => {
                self.by_return_address.insert(returns_to, callee);
            }
            _ => {}
        }
    }

    /// Adds the functions and call sites of one compilation unit, and its
    /// functions to `cxx` when it is C++.
    fn add_unit(
        &mut self,
        unit: gimli::UnitRef<'_, EndianSlice<'_, LittleEndian>>,
        cxx: &mut CxxFunctions,
        across: &mut AcrossUnits,
    ) -> gimli::Result<()> {
        let mut is_cxx_unit = false;
        // Concrete functions by the abstract DIE they instantiate.
        let mut concrete: HashMap<UnitOffset, u64> = HashMap::new();
        // (is tail call, enclosing function's entry, return address, origin)
        let mut pending = Vec::new();
        // Enclosing subprograms: (depth, entry when it has code).
        let mut enclosing: Vec<(isize, Option<u64>)> = Vec::new();
        let mut entries = unit.entries();
        while let Some(entry) = entries.next_dfs()? {
            let depth = entry.depth();
            while enclosing.last().is_some_and(|&(d, _)| d >= depth) {
                enclosing.pop();
            }
            match entry.tag() {
                gimli::DW_TAG_compile_unit => {
                    is_cxx_unit = matches!(
                        entry.attr_value(gimli::DW_AT_language),
                        Some(AttributeValue::Language(language)) if is_cxx(language)
                    );
                }
                gimli::DW_TAG_subprogram => {
                    let known = self.functions.len();
                    let function_entry = self.add_function(unit, entry)?;
                    if is_cxx_unit
                        && let Some(die) = entry.offset().to_debug_info_offset(&unit.header)
                    {
                        for &(begin, end, _) in &self.functions[known..] {
                            cxx.add_function(begin, end, die.0);
                        }
                    }
                    match (
                        function_entry,
                        entry.attr_value(gimli::DW_AT_abstract_origin),
                    ) {
                        (Some(function_entry), Some(AttributeValue::UnitRef(origin))) => {
                            concrete.insert(origin, function_entry);
                            if let Some(origin) = origin.to_debug_info_offset(&unit.header) {
                                across.concrete.insert(origin.0, function_entry);
                            }
                        }
                        (Some(function_entry), Some(AttributeValue::DebugInfoRef(origin))) => {
                            across.concrete.insert(origin.0, function_entry);
                        }
                        _ => {}
                    }
                    enclosing.push((depth, function_entry));
                }
                gimli::DW_TAG_call_site | gimli::DW_TAG_GNU_call_site => {
                    let origin = entry
                        .attr_value(gimli::DW_AT_call_origin)
                        .or_else(|| entry.attr_value(gimli::DW_AT_abstract_origin));
                    let origin = match origin {
                        Some(AttributeValue::UnitRef(origin)) => Ok(origin),
                        Some(AttributeValue::DebugInfoRef(origin)) => Err(origin.0),
                        _ => continue,
                    };
                    let tail = entry.attr(gimli::DW_AT_call_tail_call).is_some()
                        || entry.attr(gimli::DW_AT_GNU_tail_call).is_some();
                    let returns_to = match entry
                        .attr_value(gimli::DW_AT_call_return_pc)
                        .or_else(|| entry.attr_value(gimli::DW_AT_low_pc))
                    {
                        Some(value) => unit.attr_address(value)?,
                        None => None,
                    };
                    let caller = enclosing.last().and_then(|&(_, entry)| entry);
                    match origin {
                        Ok(origin) => pending.push((tail, caller, returns_to, origin)),
                        // Another unit's DIE (LTO): resolved once every
                        // unit's concrete functions are known.
                        Err(origin) => across.pending.push((tail, caller, returns_to, origin)),
                    }
                }
                _ => {}
            }
        }
        for (tail, caller, returns_to, origin) in pending {
            match resolve(unit, &concrete, origin)? {
                Resolved::Callee(callee) => self.add_call(tail, caller, returns_to, callee),
                Resolved::Elsewhere(origin) => {
                    across.pending.push((tail, caller, returns_to, origin));
                }
                Resolved::Unknown => {}
            }
        }
        Ok(())
    }

    /// Records a subprogram's code ranges; returns its entry if it has code.
    fn add_function<'data>(
        &mut self,
        unit: gimli::UnitRef<'_, EndianSlice<'data, LittleEndian>>,
        entry: &gimli::DebuggingInformationEntry<EndianSlice<'data, LittleEndian>>,
    ) -> gimli::Result<Option<u64>> {
        let mut ranges = unit.die_ranges(entry)?;
        let mut code = Vec::new();
        while let Some(range) = ranges.next()? {
            if range.begin < range.end {
                code.push(range);
            }
        }
        let Some(first) = code.first() else {
            return Ok(None);
        };
        let function_entry = match entry.attr_value(gimli::DW_AT_entry_pc) {
            Some(value) => unit.attr_address(value)?.unwrap_or(first.begin),
            None => entry
                .attr_value(gimli::DW_AT_low_pc)
                .map(|value| unit.attr_address(value))
                .transpose()?
                .flatten()
                .unwrap_or(first.begin),
        };
        self.functions.extend(
            code.iter()
                .map(|range| (range.begin, range.end, function_entry)),
        );
        Ok(Some(function_entry))
    }
}

/// Call sites whose callee is another unit's DIE (`DW_FORM_ref_addr`, as
/// LTO writes them), and what resolving them needs from every unit.
#[derive(Default)]
struct AcrossUnits {
    /// Start of each unit in `.debug_info`, in order.
    unit_starts: Vec<usize>,
    /// Concrete functions' entries by the `.debug_info` offset of the
    /// abstract DIE they instantiate.
    concrete: HashMap<usize, u64>,
    /// (is tail call, enclosing function's entry, return address, callee DIE)
    pending: Vec<(bool, Option<u64>, Option<u64>, usize)>,
}

type SliceUnit<'data> = gimli::Unit<EndianSlice<'data, LittleEndian>>;

impl AcrossUnits {
    /// What the DIE at `.debug_info` offset `origin` names, as
    /// [`resolve`] says, following references into any unit; `read` keeps
    /// the units read for it.
    fn resolve<'data>(
        &self,
        dwarf: &gimli::Dwarf<EndianSlice<'data, LittleEndian>>,
        read: &mut HashMap<usize, SliceUnit<'data>>,
        origin: usize,
    ) -> gimli::Result<Option<Callee>> {
        let mut offset = origin;
        for _ in 0..ORIGIN_DEPTH {
            if let Some(&entry) = self.concrete.get(&offset) {
                return Ok(Some(Callee::Address(entry)));
            }
            let index = self.unit_starts.partition_point(|&start| start <= offset);
            let Some(&start) = index.checked_sub(1).and_then(|i| self.unit_starts.get(i)) else {
                return Ok(None);
            };
            let unit = match read.entry(start) {
                std::collections::hash_map::Entry::Occupied(known) => known.into_mut(),
                std::collections::hash_map::Entry::Vacant(slot) => {
                    let header = dwarf
                        .debug_info
                        .header_from_offset(gimli::DebugInfoOffset(start))?;
                    slot.insert(dwarf.unit(header)?)
                }
            };
            let unit = unit.unit_ref(dwarf);
            let Some(local) = gimli::DebugInfoOffset(offset).to_unit_offset(&unit.header) else {
                return Ok(None);
            };
            let die = unit.entry(local)?;
            if let Some(callee) = named_callee(unit, &die)? {
                return Ok(Some(callee));
            }
            offset = match die
                .attr_value(gimli::DW_AT_specification)
                .or_else(|| die.attr_value(gimli::DW_AT_abstract_origin))
            {
                Some(AttributeValue::UnitRef(next)) => {
                    match next.to_debug_info_offset(&unit.header) {
                        Some(next) => next.0,
                        None => return Ok(None),
                    }
                }
                Some(AttributeValue::DebugInfoRef(next)) => next.0,
                _ => return Ok(None),
            };
        }
        Ok(None)
    }
}

/// The callee `die` names by itself: its code's address, else its
/// linkage name or name.
fn named_callee<'data>(
    unit: gimli::UnitRef<'_, EndianSlice<'data, LittleEndian>>,
    die: &gimli::DebuggingInformationEntry<EndianSlice<'data, LittleEndian>>,
) -> gimli::Result<Option<Callee>> {
    if let Some(value) = die.attr_value(gimli::DW_AT_low_pc)
        && let Some(address) = unit.attr_address(value)?
    {
        return Ok(Some(Callee::Address(address)));
    }
    let name = die
        .attr_value(gimli::DW_AT_linkage_name)
        .or_else(|| die.attr_value(gimli::DW_AT_MIPS_linkage_name))
        .or_else(|| die.attr_value(gimli::DW_AT_name));
    match name {
        Some(name) => {
            let name = unit.attr_string(name)?;
            Ok(Some(Callee::Symbol(name.to_string_lossy().into_owned())))
        }
        None => Ok(None),
    }
}

/// What a call site's callee DIE leads to within its unit.
enum Resolved {
    Callee(Callee),
    /// A DIE of another unit (its `.debug_info` offset) says more.
    Elsewhere(usize),
    Unknown,
}

/// What the DIE at `origin` (a call site's callee) names: a function of
/// this unit with code, or a symbol name, or a DIE of another unit to ask.
fn resolve(
    unit: gimli::UnitRef<'_, EndianSlice<'_, LittleEndian>>,
    concrete: &HashMap<UnitOffset, u64>,
    origin: UnitOffset,
) -> gimli::Result<Resolved> {
    let mut offset = origin;
    for _ in 0..ORIGIN_DEPTH {
        if let Some(&entry) = concrete.get(&offset) {
            return Ok(Resolved::Callee(Callee::Address(entry)));
        }
        let die = unit.entry(offset)?;
        if let Some(callee) = named_callee(unit, &die)? {
            return Ok(Resolved::Callee(callee));
        }
        match die
            .attr_value(gimli::DW_AT_specification)
            .or_else(|| die.attr_value(gimli::DW_AT_abstract_origin))
        {
            Some(AttributeValue::UnitRef(next)) => offset = next,
            Some(AttributeValue::DebugInfoRef(next)) => return Ok(Resolved::Elsewhere(next.0)),
            _ => return Ok(Resolved::Unknown),
        }
    }
    Ok(Resolved::Unknown)
}

/// Whether the DWARF section `id` is loaded (and inflated) for the
/// call-site walk and the C++ name index: what DIEs, their names and code
/// ranges need (`.debug_line` too: gimli reads each unit's line program
/// header); location lists, macros and lookup tables (about a sixth of
/// libc's compressed debug bytes) are never read, so not inflated.
pub(crate) fn read_section(id: gimli::SectionId) -> bool {
    use gimli::SectionId;
    matches!(
        id,
        SectionId::DebugAbbrev
            | SectionId::DebugAddr
            | SectionId::DebugInfo
            | SectionId::DebugLine
            | SectionId::DebugLineStr
            | SectionId::DebugStr
            | SectionId::DebugStrOffsets
            | SectionId::DebugRanges
            | SectionId::DebugRngLists
    )
}

/// A section's bytes, decompressed when the ELF section is compressed
/// (zlib: Debian's debug files and Go's linker use it, as `SHF_COMPRESSED`
/// or as old `.zdebug_` sections).
pub(crate) fn section_data<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
    name: &str,
) -> Option<Cow<'data, [u8]>> {
    let section = file.section_by_name(name)?;
    let compressed = section.compressed_data().ok()?;
    match compressed.format {
        object::CompressionFormat::None => Some(Cow::Borrowed(compressed.data)),
        object::CompressionFormat::Zlib => {
            let mut out = Vec::with_capacity(usize::try_from(compressed.uncompressed_size).ok()?);
            flate2::read::ZlibDecoder::new(compressed.data)
                .read_to_end(&mut out)
                .inspect_err(|e| log::debug!("cannot inflate {name}: {e}"))
                .ok()?;
            Some(Cow::Owned(out))
        }
        other => {
            log::debug!("{name} is compressed with {other:?}, not read");
            None
        }
    }
}

/// A separate debug file that was read.
struct DebugFile {
    path: PathBuf,
    stamp: FileStamp,
    bytes: Vec<u8>,
}

/// `file`'s separate debug file, found by its build-id.
fn separate_debug_file(file: &object::File<'_>, root: &str) -> Option<DebugFile> {
    let build_id = file.build_id().ok()??;
    if build_id.len() < 2 {
        return None;
    }
    let hex = build_id
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect::<String>();
    let relative = format!("usr/lib/debug/.build-id/{}/{}.debug", &hex[..2], &hex[2..]);
    [
        PathBuf::from(root).join(&relative),
        PathBuf::from("/").join(&relative),
    ]
    .into_iter()
    .find_map(|path| {
        let mut opened = std::fs::File::open(&path).ok()?;
        let stamp = FileStamp::of(&opened.metadata().ok()?);
        let mut bytes = Vec::new();
        opened
            .read_to_end(&mut bytes)
            .inspect_err(|e| log::debug!("cannot read {}: {e}", path.display()))
            .ok()?;
        Some(DebugFile { path, stamp, bytes })
    })
}

/// What `functions` (`(start, end, what)` code ranges, sorted by start)
/// holds for the range that contains `address`; nested or overlapping
/// ranges (a few dozen at most) are searched back from the last start at
/// or below it.
pub(crate) fn function_holding<T: Copy>(functions: &[(u64, u64, T)], address: u64) -> Option<T> {
    let after = functions.partition_point(|&(start, _, _)| start <= address);
    functions[..after]
        .iter()
        .rev()
        .take(64)
        .find(|&&(start, end, _)| (start..end).contains(&address))
        .map(|&(_, _, what)| what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_entry_finds_the_enclosing_range() {
        let sites = CallSites {
            functions: vec![
                (0x100, 0x180, 0x100),
                (0x200, 0x240, 0x200),
                (0x300, 0x310, 0x200),
            ],
            ..CallSites::default()
        };
        assert_eq!(sites.function_entry(0x17f), Some(0x100));
        assert_eq!(sites.function_entry(0x305), Some(0x200));
        assert_eq!(sites.function_entry(0x180), None);
        assert_eq!(sites.function_entry(0x50), None);
    }

    #[test]
    fn call_sites_naming_another_units_die_are_resolved() {
        // With one LTO partition per function, a call site names a stub
        // DIE whose DW_AT_abstract_origin is the callee's early-debug DIE
        // in another unit (DW_FORM_ref_addr); the callee's code is a third
        // unit's DIE with the same origin.
        let flags = ["-O2", "-flto", "-flto-partition=max"];
        let Some(bytes) = crate::symbolize::cxx_names::tests::build("lto-calls", &flags) else {
            return;
        };
        let sites = CallSites::read(&bytes, "/", None).expect("an ELF image");
        let hidden = sites
            .symbols
            .iter()
            .find(|(name, _)| name.starts_with("_ZN12_GLOBAL__N_16hiddenEi"))
            .map(|(_, symbol)| symbol.address)
            .expect("hidden's symbol");
        assert!(
            sites
                .by_return_address
                .values()
                .any(|callee| *callee == Callee::Address(hidden)),
            "no call site resolved to hidden() at {hidden:#x}: {:?}",
            sites.by_return_address
        );
    }

    #[test]
    fn not_elf_is_an_error() {
        assert!(CallSites::read(b"not an elf", "/", None).is_err());
    }
}
