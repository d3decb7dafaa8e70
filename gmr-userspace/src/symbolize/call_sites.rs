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

use super::names::PublicNames;

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
}

impl CallSites {
    /// Reads the call sites of the ELF image `image`, with debug info from
    /// the image or its separate debug file (looked up under `root`, then
    /// the host's `/`). An image without call-site information gives an
    /// empty table, not an error.
    ///
    /// # Errors
    ///
    /// When `image` is not an ELF file object can parse.
    pub fn read(image: &[u8], root: &str) -> Result<Self, String> {
        let file = object::File::parse(image).map_err(|e| format!("not an ELF image: {e}"))?;
        let mut sites = CallSites::default();
        sites.add_symbols(&file);
        let debug_bytes = if file.section_by_name(".debug_info").is_some() {
            None
        } else {
            separate_debug_file(&file, root)
        };
        let debug = match &debug_bytes {
            Some(bytes) => object::File::parse(&bytes[..]).ok(),
            None => None,
        };
        if let Some(debug) = &debug {
            sites.add_symbols(debug);
        }
        let dwarf_file = debug.as_ref().unwrap_or(&file);
        if let Err(e) = sites.add_dwarf(dwarf_file) {
            log::debug!("call sites stop at a DWARF error: {e}");
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
        let after = self
            .functions
            .partition_point(|&(start, _, _)| start <= address);
        self.functions[..after]
            .iter()
            .rev()
            .take(64)
            .find(|&&(start, end, _)| (start..end).contains(&address))
            .map(|&(_, _, entry)| entry)
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

    fn add_dwarf(&mut self, file: &object::File<'_>) -> gimli::Result<()> {
        let sections = gimli::DwarfSections::load(|id| {
            Ok::<_, gimli::Error>(section_data(file, id.name()).unwrap_or(Cow::Borrowed(&[])))
        })?;
        let dwarf = sections.borrow(|section| EndianSlice::new(section, LittleEndian));
        let mut units = dwarf.units();
        while let Some(header) = units.next()? {
            let unit = dwarf.unit(header)?;
            self.add_unit(unit.unit_ref(&dwarf))?;
        }
        Ok(())
    }

    /// Adds the functions and call sites of one compilation unit.
    fn add_unit(
        &mut self,
        unit: gimli::UnitRef<'_, EndianSlice<'_, LittleEndian>>,
    ) -> gimli::Result<()> {
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
                gimli::DW_TAG_subprogram => {
                    let function_entry = self.add_function(unit, entry)?;
                    if let (Some(function_entry), Some(AttributeValue::UnitRef(origin))) = (
                        function_entry,
                        entry.attr_value(gimli::DW_AT_abstract_origin),
                    ) {
                        concrete.insert(origin, function_entry);
                    }
                    enclosing.push((depth, function_entry));
                }
                gimli::DW_TAG_call_site | gimli::DW_TAG_GNU_call_site => {
                    let origin = entry
                        .attr_value(gimli::DW_AT_call_origin)
                        .or_else(|| entry.attr_value(gimli::DW_AT_abstract_origin));
                    let Some(AttributeValue::UnitRef(origin)) = origin else {
                        continue;
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
                    pending.push((tail, caller, returns_to, origin));
                }
                _ => {}
            }
        }
        for (tail, caller, returns_to, origin) in pending {
            let Some(callee) = resolve(unit, &concrete, origin)? else {
                continue;
            };
            match (tail, caller, returns_to) {
                (true, Some(caller), _) => self.tail_calls.entry(caller).or_default().push(callee),
                (false, _, Some(returns_to)) => {
                    self.by_return_address.insert(returns_to, callee);
                }
                _ => {}
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

/// What the DIE at `origin` (a call site's callee) names: a function of
/// this unit with code, or a symbol name.
fn resolve(
    unit: gimli::UnitRef<'_, EndianSlice<'_, LittleEndian>>,
    concrete: &HashMap<UnitOffset, u64>,
    origin: UnitOffset,
) -> gimli::Result<Option<Callee>> {
    let mut offset = origin;
    for _ in 0..ORIGIN_DEPTH {
        if let Some(&entry) = concrete.get(&offset) {
            return Ok(Some(Callee::Address(entry)));
        }
        let die = unit.entry(offset)?;
        if let Some(value) = die.attr_value(gimli::DW_AT_low_pc)
            && let Some(address) = unit.attr_address(value)?
        {
            return Ok(Some(Callee::Address(address)));
        }
        let name = die
            .attr_value(gimli::DW_AT_linkage_name)
            .or_else(|| die.attr_value(gimli::DW_AT_MIPS_linkage_name))
            .or_else(|| die.attr_value(gimli::DW_AT_name));
        if let Some(name) = name {
            let name = unit.attr_string(name)?;
            return Ok(Some(Callee::Symbol(name.to_string_lossy().into_owned())));
        }
        match die
            .attr_value(gimli::DW_AT_specification)
            .or_else(|| die.attr_value(gimli::DW_AT_abstract_origin))
        {
            Some(AttributeValue::UnitRef(next)) => offset = next,
            _ => return Ok(None),
        }
    }
    Ok(None)
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

/// The bytes of `file`'s separate debug file, found by its build-id.
fn separate_debug_file(file: &object::File<'_>, root: &str) -> Option<Vec<u8>> {
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
    .iter()
    .find_map(|path| std::fs::read(path).ok())
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
    fn not_elf_is_an_error() {
        assert!(CallSites::read(b"not an elf", "/").is_err());
    }
}
