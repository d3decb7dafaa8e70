//! Finding CPython in a process: the mapped file holding `_PyRuntime` (a
//! `libpython3.X.so` or the executable itself), where it is loaded, and
//! which version it is.

use std::fs::File;
use std::path::Path;

use object::{Object as _, ObjectSegment as _, ReadCache};
use procfs::process::{MMapPath, MemoryMap};

use super::PythonVersion;
use crate::proc::maps::MapsError;
use crate::proc::memory::ProcessMemory;

/// Why a process that maps CPython cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum DetectError {
    /// `/proc/PID/maps` could not be read.
    #[error(transparent)]
    Maps(#[from] MapsError),
    /// The Python binary could not be opened or parsed.
    #[error("{path}: {reason}")]
    Binary {
        /// The binary, as the process maps it.
        path: String,
        /// What went wrong.
        reason: String,
    },
}

/// A mapped CPython binary and the addresses the stack reader starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PythonBinary {
    /// The file, as `/proc/PID/maps` names it.
    pub path: String,
    /// The interpreter's version.
    pub version: PythonVersion,
    /// Address of `_PyRuntime` in the process.
    pub runtime: u64,
    /// Address of `PyCode_Type` in the process.
    pub code_type: u64,
}

/// Symbols looked up in a candidate binary, as stated in its file.
#[derive(Default)]
struct Symbols {
    runtime: Option<u64>,
    code_type: Option<u64>,
    version: Option<u64>,
}

/// The CPython binary process `pid` maps (`maps` is its memory map), or
/// `None` when it maps none.
///
/// A `libpython3.X.so` is preferred to the executable, as an executable
/// linked against it has no runtime of its own.
///
/// # Errors
///
/// When a Python binary is mapped but cannot be read or none has
/// `_PyRuntime`.
pub fn find_python(pid: u32, maps: &[MemoryMap]) -> Result<Option<PythonBinary>, DetectError> {
    let mut candidates = maps
        .iter()
        .filter_map(|map| match &map.pathname {
            MMapPath::Path(path) => {
                let name = path.file_name()?.to_str()?;
                python_minor(name).map(|_| (name.starts_with("libpython"), path.as_path()))
            }
            _ => None,
        })
        .collect::<Vec<_>>();
    // Libraries first; each file once.
    candidates.sort_by_key(|&(library, path)| (!library, path));
    candidates.dedup();
    let mut without_runtime = None;
    for (_, path) in candidates {
        let Some(first) = maps
            .iter()
            .filter(|map| matches!(&map.pathname, MMapPath::Path(p) if p == path))
            .min_by_key(|map| map.offset)
        else {
            continue;
        };
        match read_binary(pid, path, first)? {
            Some(binary) => return Ok(Some(binary)),
            None => without_runtime = without_runtime.or(Some(path)),
        }
    }
    match without_runtime {
        Some(path) => Err(DetectError::Binary {
            path: path.display().to_string(),
            reason: "no _PyRuntime symbol (Python 3.6 or older is not supported)".to_owned(),
        }),
        None => Ok(None),
    }
}

/// The binary at `path` (mapped first at `first`) when it holds `_PyRuntime`.
fn read_binary(
    pid: u32,
    path: &Path,
    first: &MemoryMap,
) -> Result<Option<PythonBinary>, DetectError> {
    let shown = path.display().to_string();
    let error = |reason: String| DetectError::Binary {
        path: shown.clone(),
        reason,
    };
    // map_files reaches the very file mapped, in any mount namespace.
    let map_file = format!(
        "/proc/{pid}/map_files/{:x}-{:x}",
        first.address.0, first.address.1
    );
    let file = File::open(&map_file).map_err(|e| error(format!("cannot open {map_file}: {e}")))?;
    let cache = ReadCache::new(&file);
    let elf = object::File::parse(&cache).map_err(|e| error(format!("not an ELF file: {e}")))?;
    let symbols = symbols(&elf);
    let Some(runtime) = symbols.runtime else {
        return Ok(None);
    };
    let segment = elf
        .segments()
        .find(|segment| {
            let (offset, size) = segment.file_range();
            (offset & !0xfff..offset + size.max(1)).contains(&first.offset)
        })
        .ok_or_else(|| error(format!("no segment maps file offset {:#x}", first.offset)))?;
    let bias = (first.address.0 + segment.file_range().0)
        .wrapping_sub(first.offset)
        .wrapping_sub(segment.address());
    let version = match symbols.version {
        Some(address) => {
            let hex = ProcessMemory::new(pid)
                .read_u32(bias.wrapping_add(address))
                .map_err(|e| error(format!("cannot read Py_Version: {e}")))?;
            PythonVersion::from_hex(hex)
        }
        None => path
            .file_name()
            .and_then(|name| name.to_str())
            .and_then(python_minor)
            .map(|minor| PythonVersion::new(3, minor, None))
            .ok_or_else(|| error("no Py_Version symbol and no version in the name".to_owned()))?,
    };
    let code_type = symbols
        .code_type
        .ok_or_else(|| error("no PyCode_Type symbol".to_owned()))?;
    Ok(Some(PythonBinary {
        path: shown,
        version,
        runtime: bias.wrapping_add(runtime),
        code_type: bias.wrapping_add(code_type),
    }))
}

/// `_PyRuntime`, `PyCode_Type` and `Py_Version` from the dynamic symbol
/// table (always there, even when stripped), and from the full one only
/// when some are missing: it is far larger.
fn symbols<'data>(elf: &object::File<'data, &'data ReadCache<&'data File>>) -> Symbols {
    let mut found = Symbols::default();
    for symbol in elf.dynamic_symbols() {
        found.note(&symbol);
    }
    if found.runtime.is_none() || found.code_type.is_none() {
        for symbol in elf.symbols() {
            found.note(&symbol);
        }
    }
    found
}

impl Symbols {
    /// Keeps `symbol`'s address if it is a definition of one looked for.
    fn note<'data, S: object::ObjectSymbol<'data>>(&mut self, symbol: &S) {
        let slot = match symbol.name_bytes() {
            Ok(b"_PyRuntime") => &mut self.runtime,
            Ok(b"PyCode_Type") => &mut self.code_type,
            Ok(b"Py_Version") => &mut self.version,
            _ => return,
        };
        if slot.is_none() && symbol.is_definition() {
            *slot = Some(symbol.address());
        }
    }
}

/// The minor version in a CPython file name (`python3.11`,
/// `libpython3.9.so.1.0`, `libpython3.13d.so`), or `None` for other files.
fn python_minor(name: &str) -> Option<u8> {
    let rest = name
        .strip_prefix("libpython3.")
        .or_else(|| name.strip_prefix("python3."))?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let minor = rest[..digits].parse().ok()?;
    let suffix = &rest[digits..];
    let plausible = suffix.is_empty()
        || suffix.starts_with(".so")
        || suffix.starts_with("d.so")
        || suffix.starts_with("m.so");
    plausible.then_some(minor)
}

#[cfg(test)]
mod tests {
    use super::python_minor;

    #[test]
    fn names_of_python_binaries() {
        assert_eq!(python_minor("python3.11"), Some(11));
        assert_eq!(python_minor("libpython3.9.so.1.0"), Some(9));
        assert_eq!(python_minor("libpython3.13d.so"), Some(13));
        assert_eq!(python_minor("libpython3.6m.so.1.0"), Some(6));
        assert_eq!(python_minor("python3.11-config"), None);
        assert_eq!(python_minor("python3"), None);
        assert_eq!(python_minor("libc.so.6"), None);
    }
}
