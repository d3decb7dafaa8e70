//! A minimal reader of the kernel's BTF: just enough to find the byte offset
//! of a struct member (looking through anonymous structs and unions, and
//! along a path of named members), the size of a struct, and whether a
//! typedef exists (each tracepoint has one, `btf_trace_<name>`).
//!
//! The format is the kernel's `Documentation/bpf/btf.rst`: a header, a type
//! section of variable-length records (ids from 1), and a string section.

use std::{
    collections::{HashMap, HashSet},
    fmt,
    path::Path,
};

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
const KIND_FUNC_PROTO: u32 = 13;
const KIND_VAR: u32 = 14;
const KIND_DATASEC: u32 = 15;
const KIND_DECL_TAG: u32 = 17;
const KIND_TYPE_TAG: u32 = 18;
const KIND_ENUM64: u32 = 19;

/// A BTF read error, naming the source and what was malformed.
#[derive(Debug)]
pub struct BtfError(String);

impl fmt::Display for BtfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BtfError {}

/// One struct or union member.
#[derive(Clone, Debug)]
struct Member {
    name: String,
    type_id: u32,
    bit_offset: u32,
}

/// The parts of one type record that member lookup needs.
#[derive(Clone, Debug)]
struct Type {
    kind: u32,
    /// Size in bytes for struct/union/int/enum; referenced type for
    /// typedef/const/volatile/restrict/type-tag.
    size_or_target: u32,
    members: Vec<Member>,
}

/// Parsed kernel BTF.
pub struct Btf {
    types: Vec<Type>,
    structs_by_name: HashMap<String, u32>,
    typedef_names: HashSet<String>,
}

impl Btf {
    /// Reads and parses a BTF file such as `/sys/kernel/btf/vmlinux`.
    pub fn from_file(path: &Path) -> Result<Self, BtfError> {
        let data = std::fs::read(path)
            .map_err(|e| BtfError(format!("cannot read {}: {e}", path.display())))?;
        Self::parse(&data).map_err(|BtfError(e)| BtfError(format!("{}: {e}", path.display())))
    }

    /// Parses BTF bytes (little-endian).
    pub fn parse(data: &[u8]) -> Result<Self, BtfError> {
        let u16_at = |at: usize| {
            data.get(at..at + 2)
                .map(|b| u16::from_le_bytes([b[0], b[1]]))
        };
        if u16_at(0) != Some(MAGIC) {
            return Err(BtfError("not BTF (bad magic)".into()));
        }
        let hdr_len = le_u32(data, 4)? as usize;
        let type_off = le_u32(data, 8)? as usize;
        let type_len = le_u32(data, 12)? as usize;
        let str_off = le_u32(data, 16)? as usize;
        let str_len = le_u32(data, 20)? as usize;
        let types_bytes = slice(data, hdr_len + type_off, type_len)?;
        let strings = slice(data, hdr_len + str_off, str_len)?;
        let name = |off: u32| -> Result<String, BtfError> {
            let tail = strings
                .get(off as usize..)
                .ok_or_else(|| BtfError(format!("string offset {off} out of range")))?;
            let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
            Ok(String::from_utf8_lossy(&tail[..end]).into_owned())
        };

        // Id 0 is `void`.
        let mut types = vec![Type {
            kind: 0,
            size_or_target: 0,
            members: Vec::new(),
        }];
        let mut structs_by_name = HashMap::new();
        let mut typedef_names = HashSet::new();
        let mut r = Reader {
            data: types_bytes,
            pos: 0,
        };
        while r.pos < types_bytes.len() {
            let name_off = r.u32()?;
            let info = r.u32()?;
            let size_or_type = r.u32()?;
            let kind = (info >> 24) & 0x1f;
            let vlen = (info & 0xffff) as usize;
            let kind_flag = info >> 31 == 1;
            let mut ty = Type {
                kind,
                size_or_target: size_or_type,
                members: Vec::new(),
            };
            match kind {
                KIND_INT | KIND_VAR | KIND_DECL_TAG => r.skip(4)?,
                KIND_ARRAY => r.skip(12)?,
                KIND_STRUCT | KIND_UNION => {
                    for _ in 0..vlen {
                        let member_name = name(r.u32()?)?;
                        let type_id = r.u32()?;
                        let offset = r.u32()?;
                        let bit_offset = if kind_flag {
                            offset & 0xff_ffff
                        } else {
                            offset
                        };
                        ty.members.push(Member {
                            name: member_name,
                            type_id,
                            bit_offset,
                        });
                    }
                    if kind == KIND_STRUCT && name_off != 0 {
                        structs_by_name
                            .entry(name(name_off)?)
                            .or_insert(types.len() as u32);
                    }
                }
                KIND_TYPEDEF => {
                    typedef_names.insert(name(name_off)?);
                }
                KIND_ENUM | KIND_FUNC_PROTO => r.skip(8 * vlen)?,
                KIND_DATASEC | KIND_ENUM64 => r.skip(12 * vlen)?,
                _ => {}
            }
            types.push(ty);
        }
        Ok(Self {
            types,
            structs_by_name,
            typedef_names,
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
        self.typedef_names.contains(name)
    }

    /// The type id of `struct name`.
    fn struct_id(&self, name: &str) -> Result<u32, BtfError> {
        self.structs_by_name
            .get(name)
            .copied()
            .ok_or_else(|| BtfError(format!("struct {name} not found in kernel BTF")))
    }

    /// Bit offset and type id of `member` inside type `id`, or `None`.
    fn find_member(&self, id: u32, member: &str) -> Option<(u32, u32)> {
        let ty = self.types.get(self.resolve(id) as usize)?;
        for m in &ty.members {
            if m.name == member {
                return Some((m.bit_offset, m.type_id));
            }
            if m.name.is_empty()
                && let Some((inner, type_id)) = self.find_member(m.type_id, member)
            {
                return Some((m.bit_offset + inner, type_id));
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
    use super::*;

    #[test]
    fn finds_task_struct_members_in_running_kernel() {
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!(
                "SKIP: {} missing (kernel built without BTF)",
                path.display()
            );
            return;
        }
        let btf = Btf::from_file(path).expect("parse vmlinux BTF");
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
        let path = Path::new("/sys/kernel/btf/vmlinux");
        if !path.exists() {
            eprintln!(
                "SKIP: {} missing (kernel built without BTF)",
                path.display()
            );
            return;
        }
        let btf = Btf::from_file(path).expect("parse vmlinux BTF");
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
