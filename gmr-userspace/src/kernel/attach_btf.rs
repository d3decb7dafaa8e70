//! A BTF that holds only the kernel function a tracing program attaches
//! to, at that function's id in the running kernel's BTF.
//!
//! aya takes a parsed `aya::Btf` to load such a program only to look that
//! id up by name; parsing the kernel's 5 MB for it costs tens of
//! milliseconds, while the id is known from the boot cache. The filler
//! types before it are pointers to `void` (12 bytes each); the kernel never
//! sees this BTF, only the id.

use aya::{Btf, Endianness};

use super::btf::BtfError;

/// `BTF_KIND_PTR`.
const KIND_PTR: u32 = 2;
/// `BTF_KIND_FUNC`.
const KIND_FUNC: u32 = 12;
/// The BTF header's length.
const HEADER_LEN: u32 = 24;

/// An `aya::Btf` whose type `id` is function `name`.
pub fn with_func_at(name: &str, id: u32) -> Result<Btf, BtfError> {
    Btf::parse(&bytes_with_func_at(name, id)?, Endianness::default())
        .map_err(|e| BtfError::new(format!("BTF holding {name} at id {id}: {e}")))
}

/// The BTF bytes of [`with_func_at`].
fn bytes_with_func_at(name: &str, id: u32) -> Result<Vec<u8>, BtfError> {
    if id == 0 {
        return Err(BtfError::new(format!("{name}: type id 0 is void")));
    }
    let type_len = id
        .checked_mul(12)
        .ok_or_else(|| BtfError::new(format!("{name}: type id {id} too large")))?;
    let strings = [b"\0", name.as_bytes(), b"\0"].concat();
    let mut bytes = Vec::with_capacity((HEADER_LEN + type_len) as usize + strings.len());
    bytes.extend_from_slice(&0xeb9f_u16.to_le_bytes());
    bytes.extend_from_slice(&[1, 0]);
    for word in [HEADER_LEN, 0, type_len, type_len, strings.len() as u32] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    for _ in 1..id {
        for word in [0, KIND_PTR << 24, 0] {
            bytes.extend_from_slice(&word.to_le_bytes());
        }
    }
    for word in [1, KIND_FUNC << 24, 0] {
        bytes.extend_from_slice(&word.to_le_bytes());
    }
    bytes.extend_from_slice(&strings);
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::btf;

    #[test]
    fn names_the_function_at_its_id_and_nothing_else() {
        let bytes = bytes_with_func_at("bpf_iter_task", 4242).unwrap();
        let read = btf::Btf::parse(&bytes).unwrap();
        assert_eq!(read.func_id("bpf_iter_task"), Some(4242));
        assert_eq!(read.func_id("bpf_iter_tcp"), None);
        assert!(
            with_func_at("bpf_iter_task", 4242).is_ok(),
            "aya reads it too"
        );
        assert!(with_func_at("bpf_iter_task", 0).is_err());
    }
}
