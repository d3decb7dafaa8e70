//! C++ function names as gdb builds them from the DIE tree, for the frames
//! (inlined ones included) of the code of one image's C++ units.
//!
//! blazesym names an inlined C++ function by its bare `DW_AT_name`
//! (`__invoke_impl<void, main()::<lambda()> >`); gdb qualifies it with the
//! scope its declaration sits in (`std::__invoke_impl<…>`). gdb's rule,
//! followed here: a function with a linkage name is named by that name
//! demangled without the return type; any other is named by the scopes
//! (namespaces, classes, structs, unions) that enclose the DIE its
//! `DW_AT_specification` / `DW_AT_abstract_origin` chain leads to, with
//! `(anonymous namespace)` for a namespace without a name and no prefix
//! below a function (a local class's members stay unqualified), then, for
//! an out-of-line function, its parameter types. Then, as gdb prints a
//! frame, the parameter list is dropped from names its C++ parser reads
//! ([`super::names::gdb_frame_name`]).
//!
//! Cost: the image's debug sections that naming reads (the ones
//! [`call_sites::read_section`] loads: not its location lists, macros or
//! lookup tables) are kept, decompressed, only when it has
//! C++ code, and only up to [`MAX_KEPT_BYTES`] (a bigger image keeps
//! blazesym's names); a unit's DIEs are read, and its scopes indexed, only
//! when a frame shown needs them. References across units
//! (`DW_FORM_ref_addr`, e.g. from LTO's early-debug units) are followed.

use std::borrow::Cow;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use gimli::{
    AttributeValue, DebugInfoOffset, DwTag, EndianRcSlice, LittleEndian, Reader as _, SectionId,
    UnitOffset,
};

use super::call_sites;
use super::names::{demangled_for_gdb, gdb_frame_name};

type Reader = EndianRcSlice<LittleEndian>;
type Unit = gimli::Unit<Reader>;
type Die = gimli::DebuggingInformationEntry<Reader>;

/// How many `DW_AT_specification` / `DW_AT_abstract_origin` references
/// (or type references) are followed from one DIE.
const REF_DEPTH: usize = 8;
/// How many enclosing scopes are read for one prefix.
const SCOPE_DEPTH: usize = 64;
/// Most debug-section bytes one image's index keeps in memory (a copy of
/// what blazesym holds too; the image's call sites cache keeps it).
const MAX_KEPT_BYTES: usize = 128 << 20;

/// The C++ functions of one image, with what it takes to name them.
pub struct CxxNames {
    dwarf: gimli::Dwarf<Reader>,
    /// Start of each unit in `.debug_info`, sorted.
    unit_starts: Vec<usize>,
    /// Code ranges of C++ functions and their DIEs, sorted by start.
    functions: Vec<(u64, u64, usize)>,
    /// Units read so far, by their start.
    units: RefCell<HashMap<usize, Rc<IndexedUnit>>>,
}

impl std::fmt::Debug for CxxNames {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CxxNames")
            .field("units", &self.unit_starts.len())
            .field("functions", &self.functions.len())
            .finish_non_exhaustive()
    }
}

/// One unit and, once asked for, the scopes of its DIEs.
struct IndexedUnit {
    unit: Unit,
    scopes: OnceCell<Vec<Scope>>,
}

/// A DIE with children: the DIEs between `start` and `end` are inside it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Scope {
    start: usize,
    end: usize,
    parent: Option<usize>,
}

/// A DIE by its unit and its offset in the unit.
#[derive(Clone)]
struct DieAt {
    unit: Rc<IndexedUnit>,
    offset: UnitOffset,
}

/// What the DWARF pass of [`super::call_sites`] collects for this index.
#[derive(Debug, Default)]
pub struct CxxFunctions {
    unit_starts: Vec<usize>,
    functions: Vec<(u64, u64, usize)>,
}

impl CxxFunctions {
    /// Records a unit starting at `start` in `.debug_info`.
    pub fn add_unit(&mut self, start: usize) {
        self.unit_starts.push(start);
    }

    /// Records a C++ function's code range and its DIE.
    pub fn add_function(&mut self, begin: u64, end: u64, die: usize) {
        self.functions.push((begin, end, die));
    }

    /// The index over `sections` (the ones the pass read), or `None`
    /// when the image has no C++ function, so its sections are dropped.
    pub fn into_names(
        mut self,
        sections: &gimli::DwarfSections<(SectionId, Cow<'_, [u8]>)>,
    ) -> Option<CxxNames> {
        if self.functions.is_empty() {
            return None;
        }
        let mut size = 0;
        sections.borrow(|(_, section)| size += section.len());
        if size > MAX_KEPT_BYTES {
            log::debug!("C++ names left to blazesym: {size} bytes of debug sections to keep");
            return None;
        }
        self.unit_starts.sort_unstable();
        self.functions.sort_unstable();
        let dwarf = sections.borrow(|(_, section)| {
            EndianRcSlice::new(Rc::<[u8]>::from(&section[..]), LittleEndian)
        });
        Some(CxxNames {
            dwarf,
            unit_starts: self.unit_starts,
            functions: self.functions,
            units: RefCell::new(HashMap::new()),
        })
    }
}

/// Whether `language` (a unit's `DW_AT_language`) is C++, whose names gdb
/// qualifies.
pub fn is_cxx(language: gimli::DwLang) -> bool {
    matches!(
        language,
        gimli::DW_LANG_C_plus_plus
            | gimli::DW_LANG_C_plus_plus_03
            | gimli::DW_LANG_C_plus_plus_11
            | gimli::DW_LANG_C_plus_plus_14
    ) || matches!(language.0, 0x2a | 0x2b)
}

impl CxxNames {
    /// gdb's names for the frames at `address` (a stated address in C++
    /// code): the function holding it, then the functions inlined there,
    /// outermost first. `None` outside C++ code; an entry is `None` where
    /// the DWARF gives no name.
    pub fn frame_names(&self, address: u64) -> Option<Vec<Option<String>>> {
        let function = self.function_at(address)?;
        let die = self.die(function)?;
        let mut chain = vec![die.clone()];
        if let Err(e) = self.inlined_at(&die, address, &mut chain) {
            log::debug!("inlined functions at {address:#x} stop at a DWARF error: {e}");
        }
        Some(
            chain
                .iter()
                .map(|die| {
                    self.gdb_name(die)
                        .inspect_err(|e| log::debug!("no C++ name at {address:#x}: {e}"))
                        .ok()
                        .flatten()
                })
                .collect(),
        )
    }

    /// The DIE offset of the function whose code holds `address`.
    fn function_at(&self, address: u64) -> Option<usize> {
        call_sites::function_holding(&self.functions, address)
    }

    /// The DIE at `offset` in `.debug_info`, its unit read if needed.
    fn die(&self, offset: usize) -> Option<DieAt> {
        let index = self.unit_starts.partition_point(|&start| start <= offset);
        let start = *self.unit_starts.get(index.checked_sub(1)?)?;
        let unit = self.unit(start)?;
        let offset = DebugInfoOffset(offset).to_unit_offset(&unit.unit.header)?;
        Some(DieAt { unit, offset })
    }

    fn unit(&self, start: usize) -> Option<Rc<IndexedUnit>> {
        if let Some(unit) = self.units.borrow().get(&start) {
            return Some(unit.clone());
        }
        let unit = self
            .dwarf
            .debug_info
            .header_from_offset(DebugInfoOffset(start))
            .and_then(|header| self.dwarf.unit(header))
            .inspect_err(|e| log::debug!("unit at {start:#x} unreadable: {e}"))
            .ok()?;
        let unit = Rc::new(IndexedUnit {
            unit,
            scopes: OnceCell::new(),
        });
        self.units.borrow_mut().insert(start, unit.clone());
        Some(unit)
    }

    /// Appends the inlined subroutines under `die` whose code holds
    /// `address`, outermost first.
    fn inlined_at(&self, die: &DieAt, address: u64, out: &mut Vec<DieAt>) -> gimli::Result<()> {
        let unit = &die.unit.unit;
        let mut level = die.offset;
        'levels: loop {
            let mut tree = unit.entries_tree(Some(level))?;
            let mut children = tree.root()?.children();
            while let Some(child) = children.next()? {
                let entry = child.entry();
                let inside = match entry.tag() {
                    gimli::DW_TAG_inlined_subroutine => {
                        self.holds(unit, entry, address)? == Some(true)
                    }
                    gimli::DW_TAG_lexical_block => self.holds(unit, entry, address)? != Some(false),
                    _ => false,
                };
                if !inside {
                    continue;
                }
                if entry.tag() == gimli::DW_TAG_inlined_subroutine {
                    out.push(DieAt {
                        unit: die.unit.clone(),
                        offset: entry.offset(),
                    });
                }
                level = entry.offset();
                continue 'levels;
            }
            return Ok(());
        }
    }

    /// Whether `entry`'s code holds `address`; `None` when it has no code
    /// ranges.
    fn holds(&self, unit: &Unit, entry: &Die, address: u64) -> gimli::Result<Option<bool>> {
        let mut ranges = self.dwarf.die_ranges(unit, entry)?;
        let mut any = false;
        while let Some(range) = ranges.next()? {
            any = true;
            if (range.begin..range.end).contains(&address) {
                return Ok(Some(true));
            }
        }
        Ok(any.then_some(false))
    }

    /// The DIE `attribute` of `die` refers to, in this unit or another.
    fn target(&self, die: &DieAt, value: AttributeValue<Reader>) -> Option<DieAt> {
        match value {
            AttributeValue::UnitRef(offset) => Some(DieAt {
                unit: die.unit.clone(),
                offset,
            }),
            AttributeValue::DebugInfoRef(offset) => self.die(offset.0),
            _ => None,
        }
    }

    fn entry(&self, die: &DieAt) -> gimli::Result<Die> {
        die.unit.unit.entry(die.offset)
    }

    fn string(&self, die: &DieAt, value: AttributeValue<Reader>) -> gimli::Result<String> {
        let text = self.dwarf.attr_string(&die.unit.unit, value)?;
        Ok(text.to_string_lossy()?.into_owned())
    }

    /// `die` and the DIEs its `DW_AT_specification` /
    /// `DW_AT_abstract_origin` references lead to, with each one's entry.
    fn origins(&self, die: &DieAt) -> gimli::Result<Vec<(DieAt, Die)>> {
        let mut chain = Vec::new();
        let mut next = Some(die.clone());
        while let Some(at) = next.take() {
            if chain.len() > REF_DEPTH {
                break;
            }
            let entry = self.entry(&at)?;
            next = entry
                .attr_value(gimli::DW_AT_specification)
                .or_else(|| entry.attr_value(gimli::DW_AT_abstract_origin))
                .and_then(|value| self.target(&at, value));
            chain.push((at, entry));
        }
        Ok(chain)
    }

    /// The first value of `attribute` along `chain` (gdb's `dwarf2_attr`).
    fn inherited(
        chain: &[(DieAt, Die)],
        attribute: gimli::DwAt,
    ) -> Option<(&DieAt, AttributeValue<Reader>)> {
        chain
            .iter()
            .find_map(|(at, entry)| Some((at, entry.attr_value(attribute)?)))
    }

    /// The DIE whose scope names `chain[0]` (gdb's `die_specification`):
    /// the target of the first `DW_AT_specification` along the chain, else
    /// of the first `DW_AT_abstract_origin`.
    fn declaration(&self, chain: &[(DieAt, Die)]) -> Option<DieAt> {
        let (at, value) = Self::inherited(chain, gimli::DW_AT_specification)
            .or_else(|| Self::inherited(chain, gimli::DW_AT_abstract_origin))?;
        self.target(at, value)
    }

    /// gdb's name for the function of the frame `die` (a subprogram with
    /// code or an inlined subroutine), as its backtrace prints it.
    fn gdb_name(&self, die: &DieAt) -> gimli::Result<Option<String>> {
        let chain = self.origins(die)?;
        let linkage = Self::inherited(&chain, gimli::DW_AT_linkage_name)
            .or_else(|| Self::inherited(&chain, gimli::DW_AT_MIPS_linkage_name));
        if let Some((at, value)) = linkage {
            let mangled = self.string(at, value)?;
            return Ok(Some(gdb_frame_name(&demangled_for_gdb(&mangled))));
        }
        let Some(mut full) = self.scoped_name(die, &chain)? else {
            return Ok(None);
        };
        if chain[0].1.tag() == gimli::DW_TAG_subprogram
            && let Some(parameters) = self.parameters(die)?
        {
            full.push_str(&parameters);
        }
        Ok(Some(gdb_frame_name(&full)))
    }

    /// `die`'s `DW_AT_name` (its own or its origins') qualified by the
    /// scopes its declaration sits in; `chain` is [`Self::origins`] of it.
    fn scoped_name(&self, die: &DieAt, chain: &[(DieAt, Die)]) -> gimli::Result<Option<String>> {
        let Some((at, value)) = Self::inherited(chain, gimli::DW_AT_name) else {
            return Ok(None);
        };
        let name = self.string(at, value)?;
        Ok(Some(qualified(&self.prefix(die, 0)?, &name)))
    }

    /// gdb's prefix for `die` (its `determine_prefix`): the full name of
    /// the namespace, class, struct or union its declaration sits in.
    fn prefix(&self, die: &DieAt, depth: usize) -> gimli::Result<String> {
        if depth > SCOPE_DEPTH {
            return Ok(String::new());
        }
        let chain = self.origins(die)?;
        let declaration = self.declaration(&chain).unwrap_or_else(|| die.clone());
        let Some(parent) = self.parent(&declaration)? else {
            return Ok(String::new());
        };
        let entry = self.entry(&parent)?;
        let named = |this: &Self, name: Option<String>| -> gimli::Result<String> {
            match name {
                Some(name) => Ok(qualified(&this.prefix(&parent, depth + 1)?, &name)),
                None => Ok(String::new()),
            }
        };
        match entry.tag() {
            gimli::DW_TAG_namespace => {
                let name = self
                    .own_name(&parent, &entry)?
                    .unwrap_or_else(|| "(anonymous namespace)".to_owned());
                if name == "::" {
                    return Ok(String::new());
                }
                named(self, Some(name))
            }
            gimli::DW_TAG_class_type
            | gimli::DW_TAG_structure_type
            | gimli::DW_TAG_union_type
            | gimli::DW_TAG_interface_type => {
                let name = self
                    .own_name(&parent, &entry)?
                    .filter(|name| !name.starts_with("._") && !name.starts_with("<anonymous"));
                named(self, name)
            }
            gimli::DW_TAG_enumeration_type if entry.attr(gimli::DW_AT_enum_class).is_some() => {
                named(self, self.own_name(&parent, &entry)?)
            }
            gimli::DW_TAG_compile_unit
            | gimli::DW_TAG_partial_unit
            | gimli::DW_TAG_type_unit
            | gimli::DW_TAG_subprogram => Ok(String::new()),
            _ => self.prefix(&parent, depth + 1),
        }
    }

    fn own_name(&self, die: &DieAt, entry: &Die) -> gimli::Result<Option<String>> {
        entry
            .attr_value(gimli::DW_AT_name)
            .map(|value| self.string(die, value))
            .transpose()
    }

    /// The DIE enclosing `die` in its unit.
    fn parent(&self, die: &DieAt) -> gimli::Result<Option<DieAt>> {
        let scopes = match die.unit.scopes.get() {
            Some(scopes) => scopes,
            None => {
                let scopes = scopes_of(&die.unit.unit)?;
                die.unit.scopes.get_or_init(|| scopes)
            }
        };
        Ok(parent_scope(scopes, die.offset.0).map(|index| DieAt {
            unit: die.unit.clone(),
            offset: UnitOffset(scopes[index].start),
        }))
    }

    /// gdb's parameter list of an out-of-line function (`(void)` for none,
    /// ` const` after it for a const member function); `None` when a
    /// parameter's type is beyond [`Self::type_name`].
    fn parameters(&self, die: &DieAt) -> gimli::Result<Option<String>> {
        let unit = &die.unit.unit;
        let mut tree = unit.entries_tree(Some(die.offset))?;
        let root = tree.root()?;
        let mut children = root.children();
        let mut types = Vec::new();
        let mut const_this = false;
        let mut first = true;
        while let Some(child) = children.next()? {
            if child.entry().tag() != gimli::DW_TAG_formal_parameter {
                continue;
            }
            let at = DieAt {
                unit: die.unit.clone(),
                offset: child.entry().offset(),
            };
            let chain = self.origins(&at)?;
            let artificial = Self::inherited(&chain, gimli::DW_AT_artificial)
                .is_some_and(|(_, value)| value == AttributeValue::Flag(true));
            let kind = Self::inherited(&chain, gimli::DW_AT_type)
                .and_then(|(at, value)| self.target(at, value));
            if artificial {
                if first && let Some(pointer) = kind {
                    const_this = self.points_to_const(&pointer)?;
                }
            } else {
                let Some(kind) = kind else { return Ok(None) };
                let Some(name) = self.type_name(&self.unqualified(kind)?, 0)? else {
                    return Ok(None);
                };
                types.push(name);
            }
            first = false;
        }
        let list = if types.is_empty() {
            "void".to_owned()
        } else {
            types.join(", ")
        };
        Ok(Some(format!(
            "({list}){}",
            if const_this { " const" } else { "" }
        )))
    }

    fn points_to_const(&self, pointer: &DieAt) -> gimli::Result<bool> {
        let entry = self.entry(pointer)?;
        let Some(pointee) = entry
            .attr_value(gimli::DW_AT_type)
            .and_then(|value| self.target(pointer, value))
        else {
            return Ok(false);
        };
        Ok(self.entry(&pointee)?.tag() == gimli::DW_TAG_const_type)
    }

    /// A type as gdb prints it in a parameter list it computed (its
    /// `c_print_type`): base types by their DWARF name, named types
    /// qualified, `T *`, `T &`, `T &&`, `const T`, `volatile T`, unnamed
    /// ones as `struct {...}`; `None` for anything else.
    fn type_name(&self, die: &DieAt, depth: usize) -> gimli::Result<Option<String>> {
        if depth > REF_DEPTH {
            return Ok(None);
        }
        let entry = self.entry(die)?;
        let inner = |this: &Self| -> gimli::Result<Option<String>> {
            match entry
                .attr_value(gimli::DW_AT_type)
                .and_then(|value| this.target(die, value))
            {
                Some(inner) => this.type_name(&inner, depth + 1),
                None => Ok(Some("void".to_owned())),
            }
        };
        let declarator = |this: &Self, symbol: &str| -> gimli::Result<Option<String>> {
            Ok(inner(this)?.map(|inner| {
                let space = if inner.ends_with(['*', '&']) { "" } else { " " };
                format!("{inner}{space}{symbol}")
            }))
        };
        let tag: DwTag = entry.tag();
        let unnamed = match tag {
            gimli::DW_TAG_structure_type => "struct {...}",
            gimli::DW_TAG_class_type => "class {...}",
            gimli::DW_TAG_union_type => "union {...}",
            _ => "",
        };
        match tag {
            gimli::DW_TAG_base_type => self.own_name(die, &entry),
            gimli::DW_TAG_pointer_type => declarator(self, "*"),
            gimli::DW_TAG_reference_type => declarator(self, "&"),
            gimli::DW_TAG_rvalue_reference_type => declarator(self, "&&"),
            gimli::DW_TAG_const_type => Ok(inner(self)?.map(|inner| format!("const {inner}"))),
            gimli::DW_TAG_volatile_type => {
                Ok(inner(self)?.map(|inner| format!("volatile {inner}")))
            }
            gimli::DW_TAG_typedef
            | gimli::DW_TAG_class_type
            | gimli::DW_TAG_structure_type
            | gimli::DW_TAG_union_type
            | gimli::DW_TAG_enumeration_type => match self.own_name(die, &entry)? {
                Some(name) => Ok(Some(qualified(&self.prefix(die, depth + 1)?, &name))),
                None if !unnamed.is_empty() => Ok(Some(unnamed.to_owned())),
                None => Ok(None),
            },
            _ => Ok(None),
        }
    }

    /// `kind` without a top-level `const` or `volatile`, which gdb leaves
    /// out of a parameter list as the mangling does.
    fn unqualified(&self, kind: DieAt) -> gimli::Result<DieAt> {
        let mut kind = kind;
        for _ in 0..REF_DEPTH {
            let entry = self.entry(&kind)?;
            if !matches!(
                entry.tag(),
                gimli::DW_TAG_const_type | gimli::DW_TAG_volatile_type
            ) {
                break;
            }
            match entry
                .attr_value(gimli::DW_AT_type)
                .and_then(|value| self.target(&kind, value))
            {
                Some(inner) => kind = inner,
                None => break,
            }
        }
        Ok(kind)
    }
}

/// `scope::name`, or `name` at the top.
fn qualified(scope: &str, name: &str) -> String {
    if scope.is_empty() {
        name.to_owned()
    } else {
        format!("{scope}::{name}")
    }
}

/// Every DIE of `unit` that has children, in order, with its extent and
/// the one enclosing it.
fn scopes_of(unit: &Unit) -> gimli::Result<Vec<Scope>> {
    let mut scopes: Vec<Scope> = Vec::new();
    // Open scopes: (depth, index).
    let mut open: Vec<(isize, usize)> = Vec::new();
    let mut entries = unit.entries();
    while let Some(entry) = entries.next_dfs()? {
        let depth = entry.depth();
        let offset = entry.offset().0;
        while let Some(&(open_depth, index)) = open.last() {
            if open_depth < depth {
                break;
            }
            scopes[index].end = offset;
            open.pop();
        }
        if entry.has_children() {
            open.push((depth, scopes.len()));
            scopes.push(Scope {
                start: offset,
                end: usize::MAX,
                parent: open.iter().rev().nth(1).map(|&(_, index)| index),
            });
        }
    }
    Ok(scopes)
}

/// The index in `scopes` of the innermost scope holding the DIE at
/// `offset` (not the DIE itself).
fn parent_scope(scopes: &[Scope], offset: usize) -> Option<usize> {
    let before = scopes.partition_point(|scope| scope.start < offset);
    let mut candidate = before.checked_sub(1);
    while let Some(index) = candidate {
        if scopes[index].end > offset {
            return Some(index);
        }
        candidate = scopes[index].parent;
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::process::Command;

    use object::{Object as _, ObjectSymbol as _};

    use super::*;
    use crate::symbolize::call_sites::CallSites;

    #[test]
    fn the_parent_is_the_innermost_scope_holding_a_die() {
        // 0 { 10 { 20 leaf, 30 { 40 } } 50 { 60 } 70 leaf }
        let scope = |start, end, parent| Scope { start, end, parent };
        let scopes = [
            scope(0, usize::MAX, None),
            scope(10, 50, Some(0)),
            scope(30, 50, Some(1)),
            scope(50, 70, Some(0)),
        ];
        assert_eq!(parent_scope(&scopes, 20), Some(1));
        assert_eq!(parent_scope(&scopes, 40), Some(2));
        assert_eq!(parent_scope(&scopes, 30), Some(1));
        assert_eq!(parent_scope(&scopes, 60), Some(3));
        assert_eq!(parent_scope(&scopes, 70), Some(0));
        assert_eq!(parent_scope(&scopes, 0), None);
    }

    /// tests/fixtures/cpp/scopes.cpp built by g++ with `flags`; `None`
    /// (and a SKIP line) without g++.
    pub(crate) fn build(label: &str, flags: &[&str]) -> Option<Vec<u8>> {
        let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/cpp/scopes.cpp");
        let binary =
            std::env::temp_dir().join(format!("gmr-scopes-{label}-{}", std::process::id()));
        let status = match Command::new("g++")
            .arg("-g")
            .args(flags)
            .arg("-o")
            .arg(&binary)
            .arg(&source)
            .status()
        {
            Ok(status) => status,
            Err(e) => {
                println!("SKIP: g++ not runnable: {e}");
                return None;
            }
        };
        assert!(
            status.success(),
            "g++ {flags:?} {}: {status}",
            source.display()
        );
        let bytes = std::fs::read(&binary).expect("the built fixture");
        std::fs::remove_file(&binary).expect("remove the built fixture");
        Some(bytes)
    }

    /// For each (symbol prefix, gdb's frame name, name qualified from the
    /// DIE tree alone): the names of the function the symbol starts.
    /// gdb's names are gdb 13's (`gdb.block_for_pc(pc).function`, then its
    /// frame printing).
    #[track_caller]
    fn check(label: &str, flags: &[&str], expected: &[(&str, &str, &str)]) {
        let Some(bytes) = build(label, flags) else {
            return;
        };
        let sites = CallSites::read(&bytes, "/", None).expect("an ELF image");
        let names = sites.cxx_names().expect("C++ functions indexed");
        let file = object::File::parse(&bytes[..]).expect("an ELF image");
        for &(symbol, gdb, scoped) in expected {
            let address = file
                .symbols()
                .find(|s| s.name().is_ok_and(|name| name.starts_with(symbol)))
                .unwrap_or_else(|| panic!("{label}: no symbol {symbol}"))
                .address();
            let frames = names.frame_names(address).expect("C++ code");
            assert_eq!(frames[0].as_deref(), Some(gdb), "{label}: {symbol}");
            let die = names
                .die(names.function_at(address).expect("a function"))
                .expect("its DIE");
            let chain = names.origins(&die).expect("readable DIEs");
            assert_eq!(
                names
                    .scoped_name(&die, &chain)
                    .expect("readable DIEs")
                    .as_deref(),
                Some(scoped),
                "{label}: {symbol}"
            );
        }
    }

    const SCOPED: &[(&str, &str, &str)] = &[
        (
            "_ZNK5outer5inner6Widget4Part4turnEi",
            "outer::inner::Widget::Part::turn",
            "outer::inner::Widget::Part::turn",
        ),
        (
            "_ZN5outer5inner6Widget6scaledIlEET_S3_",
            "outer::inner::Widget::scaled<long>",
            "outer::inner::Widget::scaled<long int>",
        ),
        (
            "_ZN12_GLOBAL__N_16hiddenEi",
            "(anonymous namespace)::hidden",
            "(anonymous namespace)::hidden",
        ),
        (
            "_Z4callIZ4mainEUliE_EiT_",
            "call<main(int, char**)::<lambda(int)> >(struct {...})",
            "call<main(int, char**)::<lambda(int)> >",
        ),
        ("_ZZ4mainENKUliE_clEi", "operator()", "operator()"),
        ("main", "main", "main"),
    ];

    #[test]
    fn names_are_qualified_as_gdb_qualifies_them() {
        check("o2", &["-O2"], SCOPED);
    }

    #[test]
    fn references_across_units_are_followed() {
        let mut expected = SCOPED.to_vec();
        expected.push(("_ZN5FixedILi3EE3getEv", "Fixed<3>::get", "Fixed<3>::get"));
        check("lto", &["-O2", "-flto"], &expected);
        // LTO's out-of-line functions refer to their early-debug DIEs in
        // another unit (DW_FORM_ref_addr), which the names above needed.
        let Some(bytes) = build("lto-forms", &["-O2", "-flto"]) else {
            return;
        };
        let sites = CallSites::read(&bytes, "/", None).expect("an ELF image");
        let names = sites.cxx_names().expect("C++ functions indexed");
        let crossing = names
            .functions
            .iter()
            .filter_map(|&(_, _, die)| names.die(die))
            .filter(|die| {
                matches!(
                    names
                        .entry(die)
                        .map(|entry| entry.attr_value(gimli::DW_AT_abstract_origin)),
                    Ok(Some(AttributeValue::DebugInfoRef(_)))
                )
            })
            .count();
        assert!(crossing > 0, "no function refers to another unit");
    }
}
