//! A minimal reader of the kernel's BTF: just enough to find the byte offset
//! of a struct member (looking through anonymous structs and unions, and
//! along a path of named members), the size of a struct, and whether a
//! typedef exists (each tracepoint has one, `btf_trace_<name>`).
//!
//! The format is the kernel's `Documentation/bpf/btf.rst`: a header, a type
//! section of variable-length records (ids from 1), and a string section.

use std::{fmt, path::Path};

const MAGIC: u16 = 0xeb9f;

const KIND_INT: u32 = 1;
const KIND_ARRAY: u32 = 3;
const KIND_STRUCT: u32 = 4;
const KIND_UNION: u32 = 5;
const KIND_ENUM: u32 = 6;
const KIND_TYPEDEF: u32 = 8;
const KIND_VOLATILE: u32 = 9;
const KIND_CONST: u32 = 10;
const KIND_RESTRICT: u32 = 11;
const KIND_FUNC: u32 = 12;
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// Bytes of one struct or union member record.
const MEMBER_LEN: usize = 12;

/// A BTF read error, naming the source and what was malformed.
#[derive(Debug)]
pub struct BtfError(String);

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BtfError {}

impl BtfError {
    /// An error saying `why`.
    pub fn new(why: String) -> Self {
        Self(why)
    }
}

/// Where one type record is and the fields lookups need. Names and members
/// stay in the raw bytes until a lookup reads them: the kernel's BTF has
/// over a hundred thousand types, and gmr asks about a dozen.
#[derive(Clone, Copy, Debug)]
struct Type {
    kind: u32,
    name_off: u32,
    /// Size in bytes for struct/union/int/enum; referenced type for
    /// typedef/const/volatile/restrict/type-tag.
    size_or_target: u32,
    /// Member count of a struct or union.
    vlen: u32,
    /// Member offsets carry a bitfield size in their top byte.
    kind_flag: bool,
    /// Where a struct's or union's member records start in the type section.
    members_at: usize,
}

/// Parsed kernel BTF.
pub struct Btf {
    data: Vec<u8>,
    /// The type section's range in `data`.
    type_section: std::ops::Range<usize>,
    /// The string section's range in `data`.
    string_section: std::ops::Range<usize>,
    /// Indexed by type id (0 is `void`).
    types: Vec<Type>,
}

impl Btf {
    /// Reads and parses a BTF file such as `/sys/kernel/btf/vmlinux`.
    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path)
            .map_err(|e| BtfError(format!("cannot read {}: {e}", path.display())))?;
        Self::parse_owned(data).map_err(|BtfError(e)| BtfError(format!("{}: {e}", path.display())))
    }

    /// Parses BTF bytes (little-endian).
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        Self::parse_owned(data.to_vec())
    }

    /// Indexes the type records of `data`, which the [`Btf`] keeps.
    fn parse_owned(data: Vec<u8>) -> Result<Self, BtfError> {
        let u16_at = |at: usize| {
            data.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        if u16_at(0) != Some(MAGIC) {
            return Err(BtfError("not BTF (bad magic)".into()));
        }
        let hdr_len = le_u32(&data, 4)? as usize;
        let type_off = le_u32(&data, 8)? as usize;
        let type_len = le_u32(&data, 12)? as usize;
        let str_off = le_u32(&data, 16)? as usize;
        let str_len = le_u32(&data, 20)? as usize;
        let type_section = range(&data, hdr_len + type_off, type_len)?;
        let string_section = range(&data, hdr_len + str_off, str_len)?;
        let types_bytes = &data[type_section.clone()];

        // Id 0 is `void`. Most records are 16 bytes or more.
        let mut types = Vec::with_capacity(type_len / 16 + 1);
        types.push(Type {
            kind: 0,
            name_off: 0,
            size_or_target: 0,
            vlen: 0,
            kind_flag: false,
            members_at: 0,
        });
        let mut r = Reader {
            data: types_bytes,
            pos: 0,
        };
        while r.pos < types_bytes.len() {
            let name_off = r.u32()?;
            let info = r.u32()?;
            let size_or_target = r.u32()?;
            let kind = (info >> 24) & 0x1f;
            let vlen = info & 0xffff;
            let ty = Type {
                kind,
                name_off,
                size_or_target,
                vlen,
                kind_flag: info >> 31 == 1,
                members_at: r.pos,
            };
            let vlen = vlen as usize;
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => r.skip(4)?,
                KIND_ARRAY => r.skip(12)?,
                KIND_STRUCT | KIND_UNION => r.skip(MEMBER_LEN * vlen)?,
                KIND_ENUM | KIND_FUNC_PROTO => r.skip(8 * vlen)?,
                KIND_DATASEC | KIND_ENUM64 => r.skip(12 * vlen)?,
                _ => {}
            }
            types.push(ty);
        }
        Ok(Self {
            data,
            type_section,
            string_section,
            types,
        })
    }

    /// Byte offset of `member` in `struct name`, searching anonymous nested
    /// structs and unions. A dotted path (`sa.sa_handler`) goes through
    /// named members: the offset is from the start of `struct name`.
    pub fn member_offset(&self, name: &str, member: &str) -> Result<u32, BtfError> {
        let mut id = self.struct_id(name)?;
        let mut bits = 0;
        for part in member.split('.') {
            let (offset, type_id) = self.find_member(id, part).ok_or_else(|| {
                BtfError(format!(
                    "struct {name} has no member {member} in kernel BTF"
                ))
            })?;
            bits += offset;
            id = type_id;
        }
        Ok(bits / 8)
    }

    /// Size in bytes of `struct name` (the stride of an array of them).
    pub fn struct_size(&self, name: &str) -> Result<u32, BtfError> {
        let id = self.struct_id(name)?;
        Ok(self.types[id as usize].size_or_target)
    }

    /// True when the BTF has a typedef called `name`.
    pub fn has_typedef(&self, name: &str) -> bool {
        self.find_named(KIND_TYPEDEF, name).is_some()
    }

    /// The type id of function `name`, which a tracing program names to
    /// attach to it.
    pub fn func_id(&self, name: &str) -> Option<u32> {
        self.find_named(KIND_FUNC, name)
    }

    /// The type id of `struct name`.
    fn struct_id(&self, name: &str) -> Result<u32, BtfError> {
        self.find_named(KIND_STRUCT, name)
            .ok_or_else(|| BtfError(format!("struct {name} not found in kernel BTF")))
    }

    /// The first type of `kind` called `name`.
    fn find_named(&self, kind: u32, name: &str) -> Option<u32> {
        let name = name.as_bytes();
        (1..self.types.len())
            .find(|&id| {
                let ty = &self.types[id];
                ty.kind == kind && ty.name_off != 0 && self.name(ty.name_off) == name
            })
            .map(|id| id as u32)
    }

    /// The string at `off` in the string section (empty when out of range).
    fn name(&self, off: u32) -> &[u8] {
        let strings = &self.data[self.string_section.clone()];
        let tail = strings.get(off as usize..).unwrap_or_default();
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        &tail[..end]
    }

    /// Bit offset and type id of `member` inside type `id`, or `None`.
    fn find_member(&self, id: u32, member: &str) -> Option<(u32, u32)> {
        let ty = *self.types.get(self.resolve(id) as usize)?;
        if !matches!(ty.kind, KIND_STRUCT | KIND_UNION) {
            return None;
        }
        let types_bytes = &self.data[self.type_section.clone()];
        for index in 0..ty.vlen as usize {
            let at = ty.members_at + index * MEMBER_LEN;
            let name_off = le_u32(types_bytes, at).ok()?;
            let type_id = le_u32(types_bytes, at + 4).ok()?;
            let offset = le_u32(types_bytes, at + 8).ok()?;
            let bit_offset = if ty.kind_flag {
                offset & 0xff_ffff
            } else {
                offset
            };
            let name = self.name(name_off);
            if name == member.as_bytes() {
                return Some((bit_offset, type_id));
            }
            if name.is_empty()
                && let Some((inner, type_id)) = self.find_member(type_id, member)
            {
                return Some((bit_offset + inner, type_id));
            }
        }
        None
    }

    /// Follows typedefs and qualifiers to the underlying type id.
    fn resolve(&self, mut id: u32) -> u32 {
        for _ in 0..32 {
            match self.types.get(id as usize) {
                Some(t)
                    if matches!(
                        t.kind,
                        KIND_TYPEDEF | KIND_VOLATILE | KIND_CONST | KIND_RESTRICT | KIND_TYPE_TAG
                    ) =>
                {
                    id = t.size_or_target
                }
                _ => break,
            }
        }
        id
    }
}

/// The range of `len` bytes of `data` from `start`, or an error naming it.
fn range(data: &[u8], start: usize, len: usize) -> Result<std::ops::Range<usize>, BtfError> {
    slice(data, start, len).map(|_| start..start + len)
}

/// `len` bytes of `data` from `start`, or an error naming the range.
fn slice(data: &[u8], start: usize, len: usize) -> Result<&[u8], BtfError> {
    data.get(start..start.saturating_add(len)).ok_or_else(|| {
        BtfError(format!(
            "section {start}..+{len} past the end ({} bytes)",
            data.len()
        ))
    })
}

/// The little-endian `u32` at `at`.
fn le_u32(data: &[u8], at: usize) -> Result<u32, BtfError> {
    let b = slice(data, at, 4)?;
    Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// A little-endian cursor.
struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn u32(&mut self) -> Result<u32, BtfError> {
        let value = le_u32(self.data, self.pos)?;
        self.pos += 4;
        Ok(value)
    }

    fn skip(&mut self, n: usize) -> Result<(), BtfError> {
        slice(self.data, self.pos, n)?;
        self.pos += n;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// The running kernel's BTF, or `None` (after saying SKIP) on a kernel
    /// built without it.
    fn running_kernel_btf() -> Option<Btf> {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!(
                "SKIP: {} missing (kernel built without BTF)",
                path.display()
            );
            return None;
        }
        Some(Btf::from_file(path).expect("parse vmlinux BTF"))
    }

    #[test]
    fn finds_task_struct_members_in_running_kernel() {
        let Some(btf) = running_kernel_btf() else {
            return;
        };
        let pid = btf.member_offset("task_struct", "pid").unwrap();
        let tgid = btf.member_offset("task_struct", "tgid").unwrap();
        assert_eq!(tgid, pid + 4, "tgid follows pid in task_struct");
        assert_eq!(btf.member_offset("kernfs_node", "id").unwrap() % 8, 0);
        let err = btf
            .member_offset("task_struct", "no_such_member")
            .unwrap_err();
        assert!(err.to_string().contains("no_such_member"), "{err}");
        assert_eq!(btf.member_offset("inode", "i_ino").unwrap() % 8, 0);
        // Every tracepoint has a typedef; gmr's signal hook is on this one.
        assert!(btf.has_typedef("btf_trace_signal_generate"));
        assert!(!btf.has_typedef("btf_trace_no_such_tracepoint"));
    }

    /// A BTF blob with `struct sigaction { long sa_handler; long sa_flags; }`
    /// (16 bytes) and `struct outer { long pad; struct sigaction sa; long
    /// tail; }` (32 bytes).
    fn sample_btf() -> Vec<u8> {
        let names = [
            "long",
            "sigaction",
            "sa_handler",
            "sa_flags",
            "outer",
            "pad",
            "sa",
            "tail",
        ];
        let mut strings = vec![0u8];
        let mut name_off = HashMap::new();
        for name in names {
            name_off.insert(name, strings.len() as u32);
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
        }
        let mut types = Vec::new();
        let mut push = |words: &[u32]| {
            for w in words {
                types.extend_from_slice(&w.to_le_bytes());
            }
        };
        // 1: long (8 bytes, signed, 64 bits).
        push(&[name_off["long"], KIND_INT << 24, 8, (1 << 24) | 64]);
        // 2: struct sigaction.
        push(&[name_off["sigaction"], (KIND_STRUCT << 24) | 2, 16]);
        push(&[name_off["sa_handler"], 1, 0, name_off["sa_flags"], 1, 64]);
        // 3: struct outer.
        push(&[name_off["outer"], (KIND_STRUCT << 24) | 3, 32]);
        push(&[
            name_off["pad"],
            1,
            0,
            name_off["sa"],
            2,
            64,
            name_off["tail"],
            1,
            192,
        ]);
        let mut data = Vec::new();
        data.extend_from_slice(&MAGIC.to_le_bytes());
        data.extend_from_slice(&[1, 0]);
        for word in [
            24,
            0,
            types.len() as u32,
            types.len() as u32,
            strings.len() as u32,
        ] {
            data.extend_from_slice(&word.to_le_bytes());
        }
        data.extend_from_slice(&types);
        data.extend_from_slice(&strings);
        data
    }

    #[test]
    fn reads_struct_sizes_and_member_paths() {
        let btf = Btf::parse(&sample_btf()).unwrap();
        assert_eq!(btf.struct_size("outer").unwrap(), 32);
        assert_eq!(btf.struct_size("sigaction").unwrap(), 16);
        assert_eq!(btf.member_offset("outer", "tail").unwrap(), 24);
        assert_eq!(btf.member_offset("outer", "sa").unwrap(), 8);
        assert_eq!(btf.member_offset("outer", "sa.sa_flags").unwrap(), 16);
        assert_eq!(btf.member_offset("outer", "sa.sa_handler").unwrap(), 8);
        let err = btf.member_offset("outer", "sa.nope").unwrap_err();
        assert!(
            err.to_string()
                .contains("struct outer has no member sa.nope"),
            "{err}"
        );
        let err = btf.struct_size("k_sigaction").unwrap_err();
        assert!(
            err.to_string().contains("struct k_sigaction not found"),
            "{err}"
        );
        let truncated = &sample_btf()[..40];
        assert!(Btf::parse(truncated).is_err());
    }

    #[test]
    fn finds_the_guards_signal_disposition_in_running_kernel() {
        let Some(btf) = running_kernel_btf() else {
            return;
        };
        let stride = btf.struct_size("k_sigaction").unwrap();
        let action = btf.member_offset("sighand_struct", "action").unwrap();
        assert_eq!(
            btf.member_offset("k_sigaction", "sa.sa_handler").unwrap(),
            0
        );
        assert!(stride > btf.member_offset("k_sigaction", "sa.sa_mask").unwrap());
        // `action[_NSIG]` is the last member: the struct ends after 64 of them.
        assert_eq!(
            btf.struct_size("sighand_struct").unwrap(),
            action + 64 * stride
        );
        assert!(btf.member_offset("task_struct", "sighand").unwrap() > 0);
    }

    #[test]
    fn rejects_non_btf_bytes() {
        let err = Btf::parse(b"\x7fELF....").err().unwrap();
        assert!(err.to_string().contains("magic"), "{err}");
    }
}
