//! The goroutine layout ([`GLayout`]) read from the Go executable's own
//! DWARF: the members of `runtime.g`, `runtime.gobuf`, `runtime.stack` and
//! `runtime.m` in `.debug_info` (compressed as Go's linker writes it), and
//! the wrapper function id from the constants Go emits for the runtime
//! (`runtime.funcID_wrapper` up to Go 1.20, `internal/abi.FuncIDWrapper`
//! later).

use std::borrow::Cow;
use std::collections::HashMap;

use gimli::{AttributeValue, EndianSlice, LittleEndian};

use super::layout::GLayout;
use crate::symbolize::call_sites::section_data;

/// DWARF sections as read.
type Dwarf<'data> = gimli::Dwarf<EndianSlice<'data, LittleEndian>>;

/// The structure types whose members the layout needs.
const STRUCTS: [&str; 4] = ["runtime.g", "runtime.gobuf", "runtime.stack", "runtime.m"];
/// The constants naming the wrapper function id, by Go release.
const WRAPPER_CONSTANTS: [&str; 2] = ["runtime.funcID_wrapper", "internal/abi.FuncIDWrapper"];

/// Member offsets of each wanted structure, and the wrapper constant.
#[derive(Debug, Default)]
struct Found {
    members: HashMap<&'static str, HashMap<String, u64>>,
    wrapper_func_id: Option<u64>,
}

impl Found {
    fn complete(&self) -> bool {
        self.members.len() == STRUCTS.len() && self.wrapper_func_id.is_some()
    }

    /// The offset of `member` in structure `name`.
    fn offset(&self, name: &str, member: &str) -> Result<u64, String> {
        self.members
            .get(name)
            .ok_or_else(|| format!("no {name} structure"))?
            .get(member)
            .copied()
            .ok_or_else(|| format!("{name} has no member {member}"))
    }
}

/// The layout described by `file`'s DWARF; `Ok(None)` when it has no
/// `.debug_info` (stripped). `wrapper_func_id` is used when the DWARF does
/// not hold that constant (from the release's table, if there is one).
///
/// # Errors
///
/// When the DWARF cannot be parsed or lacks a member the reader needs,
/// saying which.
pub fn read<'data, R: object::ReadRef<'data>>(
    file: &object::File<'data, R>,
    wrapper_func_id: Option<u8>,
) -> Result<Option<GLayout>, String> {
    if section_data(file, ".debug_info").is_none_or(|info| info.is_empty()) {
        return Ok(None);
    }
    let sections = gimli::DwarfSections::load(|id| {
        Ok::<_, gimli::Error>(section_data(file, id.name()).unwrap_or(Cow::Borrowed(&[])))
    })
    .map_err(|e| format!("cannot load its DWARF: {e}"))?;
    let dwarf = sections.borrow(|section| EndianSlice::new(section, LittleEndian));
    layout(&dwarf, wrapper_func_id).map(Some)
}

/// The layout `dwarf` describes; see [`read`].
fn layout(dwarf: &Dwarf<'_>, wrapper_func_id: Option<u8>) -> Result<GLayout, String> {
    let found = find(dwarf).map_err(|e| format!("cannot parse its DWARF: {e}"))?;
    let g = |member: &str| found.offset("runtime.g", member);
    let wrapper = match (found.wrapper_func_id, wrapper_func_id) {
        (Some(value), _) => {
            u8::try_from(value).map_err(|_| format!("funcID wrapper {value} is not a byte"))?
        }
        (None, Some(value)) => value,
        (None, None) => {
            return Err(
                "no funcID wrapper constant in its DWARF and no table to take it from".to_owned(),
            );
        }
    };
    Ok(GLayout {
        stack_hi: g("stack")? + found.offset("runtime.stack", "hi")?,
        m: g("m")?,
        sched_sp: g("sched")? + found.offset("runtime.gobuf", "sp")?,
        sched_pc: g("sched")? + found.offset("runtime.gobuf", "pc")?,
        syscall_sp: g("syscallsp")?,
        syscall_pc: g("syscallpc")?,
        status: g("atomicstatus")?,
        goid: g("goid")?,
        waitsince: g("waitsince")?,
        waitreason: g("waitreason")?,
        lockedm: g("lockedm")?,
        parent_goid: g("parentGoid").ok(),
        gopc: g("gopc")?,
        startpc: g("startpc")?,
        m_procid: found.offset("runtime.m", "procid")?,
        wrapper_func_id: wrapper,
    })
}

/// Walks the top-level entries of every unit for the wanted structures
/// and constants, stopping once all are found.
fn find(dwarf: &Dwarf<'_>) -> gimli::Result<Found> {
    let mut found = Found::default();
    let mut units = dwarf.units();
    while let Some(header) = units.next()? {
        let unit = dwarf.unit(header)?;
        let unit = unit.unit_ref(dwarf);
        let mut tree = unit.entries_tree(None)?;
        let mut children = tree.root()?.children();
        while let Some(child) = children.next()? {
            let entry = child.entry();
            let Some(name) = entry.attr_value(gimli::DW_AT_name) else {
                continue;
            };
            let name = unit.attr_string(name)?;
            let name = name.to_string_lossy();
            match entry.tag() {
                gimli::DW_TAG_structure_type => {
                    if let Some(&wanted) = STRUCTS.iter().find(|&&s| s == name)
                        && !found.members.contains_key(wanted)
                    {
                        let members = members(unit, child)?;
                        found.members.insert(wanted, members);
                    }
                }
                gimli::DW_TAG_constant if WRAPPER_CONSTANTS.contains(&name.as_ref()) => {
                    found.wrapper_func_id = entry
                        .attr_value(gimli::DW_AT_const_value)
                        .and_then(|value| value.udata_value());
                }
                _ => {}
            }
            if found.complete() {
                return Ok(found);
            }
        }
    }
    Ok(found)
}

/// Each member of a structure entry by name, with its byte offset.
fn members<'data>(
    unit: gimli::UnitRef<'_, EndianSlice<'data, LittleEndian>>,
    structure: gimli::EntriesTreeNode<'_, '_, EndianSlice<'data, LittleEndian>>,
) -> gimli::Result<HashMap<String, u64>> {
    let mut members = HashMap::new();
    let mut children = structure.children();
    while let Some(child) = children.next()? {
        let entry = child.entry();
        if entry.tag() != gimli::DW_TAG_member {
            continue;
        }
        let (Some(name), Some(offset)) = (
            entry.attr_value(gimli::DW_AT_name),
            entry.attr_value(gimli::DW_AT_data_member_location),
        ) else {
            continue;
        };
        let offset = match offset {
            AttributeValue::Udata(value) => Some(value),
            other => other.udata_value(),
        };
        if let Some(offset) = offset {
            let name = unit.attr_string(name)?.to_string_lossy().into_owned();
            members.insert(name, offset);
        }
    }
    Ok(members)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DWARF whose `.debug_info` is `info` and every other section empty.
    fn dwarf_of(info: &[u8]) -> Dwarf<'_> {
        gimli::Dwarf::load(|id| {
            Ok::<_, gimli::Error>(EndianSlice::new(
                if id == gimli::SectionId::DebugInfo {
                    info
                } else {
                    &[]
                },
                LittleEndian,
            ))
        })
        .expect("load")
    }

    #[test]
    fn dwarf_without_the_runtime_types_is_a_clear_error() {
        let error = layout(&dwarf_of(&[]), Some(21)).expect_err("no types, no layout");
        assert_eq!(error, "no runtime.g structure");
    }

    #[test]
    fn corrupt_dwarf_is_a_clear_error() {
        // A unit header claiming 64 bytes of DWARF version 99.
        let info = [64, 0, 0, 0, 99, 0, 0, 0, 0, 0, 8];
        let error = layout(&dwarf_of(&info), Some(21)).expect_err("corrupt");
        assert!(error.starts_with("cannot parse its DWARF: "), "{error}");
    }

    /// Checks the hand-written tables: for every installed Go release, the
    /// layout read from an unstripped fixture's DWARF (wrapper id
    /// included, from its constant) equals the table for that release.
    #[test]
    fn every_installed_releases_dwarf_equals_its_table() {
        use gmr_tests::go_fixtures::{GoBuild, build_go_fixture, installed_go_toolchains};
        for toolchain in installed_go_toolchains() {
            let binary = build_go_fixture(
                &toolchain,
                GoBuild {
                    stripped: false,
                    cgo: false,
                    pie: false,
                },
            );
            let bytes = std::fs::read(&binary).expect("read the fixture");
            let elf = object::File::parse(&*bytes).expect("parse the fixture");
            let version = crate::go::go_version(&*bytes).expect("a Go build version");
            let minor = super::super::minor_version(&version).expect("a Go version");
            let from_dwarf = read(&elf, None)
                .unwrap_or_else(|e| panic!("{}: {e}", binary.display()))
                .unwrap_or_else(|| panic!("{} has no DWARF", binary.display()));
            let table = GLayout::of(minor).unwrap_or_else(|| panic!("no table for {version}"));
            assert_eq!(
                from_dwarf, table,
                "{version}: DWARF (left) against the table"
            );
            println!("{version}: DWARF of {} equals the table", binary.display());
        }
    }
}
