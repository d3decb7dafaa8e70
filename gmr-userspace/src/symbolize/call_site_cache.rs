//! The per-boot on-disk cache of one image's call sites: what the DWARF
//! walk of [`super::call_sites`] produced (the callee of each return
//! address, the tail calls of each function, the functions' DWARF code
//! ranges), so that a one-shot `report --pid` (or a restarted agent) after
//! the first neither inflates libc's debug sections nor walks its DIEs.
//!
//! Files are [`crate::kernel::boot_cache`] files (its key, directory and
//! trust rules), one per image, named by the image's device and inode. The
//! payload starts with the identity of the files it was read from: the
//! image (device, inode, size, modification time) and its separate debug
//! file (path and the same, or none, so a `-dbg` package installed later
//! is noticed); a payload of other files is rebuilt. Symbol tables are not
//! cached (reading them again is cheap next to the DWARF). Images whose
//! call sites carry C++ names ([`super::cxx_names`], which keeps debug
//! sections in memory) and images without DWARF are not cached. At most
//! [`MAX_FILES`] files are kept, the oldest removed first.

use std::collections::HashMap;
use std::fs::Metadata;
use std::os::unix::fs::MetadataExt as _;

use super::call_sites::Callee;
use crate::kernel::boot_cache::{BootCache, CacheError, Fields, put_short_str};

/// First bytes of the payload (the format's version is its last byte).
const MAGIC: &[u8; 8] = b"gmrcall1";
/// Start of each file's name; the image's device and inode follow.
const PREFIX: &str = "call-sites-";
/// Most call-site files kept in the cache directory.
pub const MAX_FILES: usize = 64;
/// Largest payload written (libc's is about 1 MB).
const MAX_PAYLOAD: usize = 64 << 20;
/// Fewest bytes a callee takes (its tag and a name's length).
const MIN_CALLEE: usize = 3;

/// What identifies one version of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileStamp {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Size in bytes.
    pub size: u64,
    /// Modification time, in nanoseconds since the epoch.
    pub mtime_ns: i64,
}

impl FileStamp {
    /// The stamp of the file `metadata` describes.
    pub fn of(metadata: &Metadata) -> Self {
        Self {
            dev: metadata.dev(),
            ino: metadata.ino(),
            size: metadata.size(),
            mtime_ns: metadata
                .mtime()
                .saturating_mul(1_000_000_000)
                .saturating_add(metadata.mtime_nsec()),
        }
    }
}

/// The files one image's call sites are read from: the cached ones are
/// used only while both are the same.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sources {
    /// The image.
    pub image: FileStamp,
    /// Its separate debug file, by path, if one was read.
    pub debug: Option<(String, FileStamp)>,
}

/// What the DWARF walk found in one image, in its stated addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DwarfCalls {
    /// Non-tail call sites by the return address they push.
    pub by_return_address: HashMap<u64, Callee>,
    /// The tail calls each function makes, by the function's entry.
    pub tail_calls: HashMap<u64, Vec<Callee>>,
    /// Functions' code ranges with their entry: `(start, end, entry)`.
    pub functions: Vec<(u64, u64, u64)>,
}

/// The cached call sites of `sources`' image, if `cache` holds a good
/// file for the same files.
pub fn load(cache: &BootCache, sources: &Sources) -> Option<DwarfCalls> {
    cache
        .load(&file_name(&sources.image), |payload| {
            decode(payload, sources)
        })
        .flatten()
}

/// Writes `calls` as the cached call sites of `sources`' image, after
/// removing the oldest files so that at most [`MAX_FILES`] remain.
pub fn store(cache: &BootCache, sources: &Sources, calls: &DwarfCalls) {
    let payload = encode(sources, calls);
    if payload.len() > MAX_PAYLOAD {
        log::debug!(
            "call sites of image {}:{} not cached: {} bytes",
            sources.image.dev,
            sources.image.ino,
            payload.len()
        );
        return;
    }
    cache.evict(PREFIX, MAX_FILES - 1);
    cache.store(&file_name(&sources.image), &payload);
}

/// The cache file's name for `image`.
fn file_name(image: &FileStamp) -> String {
    format!("{PREFIX}{:x}-{:x}", image.dev, image.ino)
}

/// The payload holding `calls` read from `sources`.
pub fn encode(sources: &Sources, calls: &DwarfCalls) -> Vec<u8> {
    let mut out = Vec::with_capacity(64 + calls.functions.len() * 24);
    out.extend_from_slice(MAGIC);
    put_stamp(&mut out, &sources.image);
    match &sources.debug {
        Some((path, stamp)) => {
            out.push(1);
            put_short_str(&mut out, path);
            put_stamp(&mut out, stamp);
        }
        None => out.push(0),
    }
    put_count(&mut out, calls.by_return_address.len());
    for (&address, callee) in &calls.by_return_address {
        out.extend_from_slice(&address.to_le_bytes());
        put_callee(&mut out, callee);
    }
    put_count(&mut out, calls.tail_calls.len());
    for (&entry, callees) in &calls.tail_calls {
        out.extend_from_slice(&entry.to_le_bytes());
        put_count(&mut out, callees.len());
        for callee in callees {
            put_callee(&mut out, callee);
        }
    }
    put_count(&mut out, calls.functions.len());
    for &(start, end, entry) in &calls.functions {
        for value in [start, end, entry] {
            out.extend_from_slice(&value.to_le_bytes());
        }
    }
    out
}

/// The call sites in `payload` if it was read from `sources`, `None` if
/// from other files (stale, to rebuild), an error if malformed.
///
/// # Errors
///
/// When `payload` is not a call-site payload of this format.
pub fn decode(payload: &[u8], sources: &Sources) -> Result<Option<DwarfCalls>, CacheError> {
    let (read_from, calls) = decode_any(payload)?;
    Ok((read_from == *sources).then_some(calls))
}

/// The files `payload` was read from and its call sites.
///
/// # Errors
///
/// When `payload` is not a call-site payload of this format.
pub fn decode_any(payload: &[u8]) -> Result<(Sources, DwarfCalls), CacheError> {
    let mut fields = Fields::new(payload);
    if fields.bytes(MAGIC.len(), "call-site magic")? != MAGIC {
        return Err(CacheError::Malformed(
            "not a call-site cache (bad magic)".into(),
        ));
    }
    let image = stamp(&mut fields, "image")?;
    let debug = match fields.bytes(1, "debug file flag")?[0] {
        0 => None,
        1 => {
            let path = fields.short_str("debug file path")?.to_owned();
            Some((path, stamp(&mut fields, "debug file")?))
        }
        other => {
            return Err(CacheError::Malformed(format!(
                "debug file flag {other} is neither 0 nor 1"
            )));
        }
    };
    let mut calls = DwarfCalls::default();
    let returns = count(&mut fields, 8 + MIN_CALLEE, "return addresses")?;
    calls.by_return_address.reserve(returns);
    for _ in 0..returns {
        let address = fields.u64("return address")?;
        calls
            .by_return_address
            .insert(address, callee(&mut fields)?);
    }
    let callers = count(&mut fields, 8 + 4, "functions with tail calls")?;
    calls.tail_calls.reserve(callers);
    for _ in 0..callers {
        let entry = fields.u64("tail-calling function")?;
        let callees = count(&mut fields, MIN_CALLEE, "tail calls")?;
        let mut list = Vec::with_capacity(callees);
        for _ in 0..callees {
            list.push(callee(&mut fields)?);
        }
        calls.tail_calls.insert(entry, list);
    }
    let functions = count(&mut fields, 24, "functions")?;
    calls.functions.reserve(functions);
    for _ in 0..functions {
        let start = fields.u64("function start")?;
        let end = fields.u64("function end")?;
        let entry = fields.u64("function entry")?;
        calls.functions.push((start, end, entry));
    }
    fields.finish("the call sites")?;
    Ok((Sources { image, debug }, calls))
}

fn put_stamp(out: &mut Vec<u8>, stamp: &FileStamp) {
    for value in [stamp.dev, stamp.ino, stamp.size] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&stamp.mtime_ns.to_le_bytes());
}

fn stamp(fields: &mut Fields<'_>, what: &str) -> Result<FileStamp, CacheError> {
    Ok(FileStamp {
        dev: fields.u64(what)?,
        ino: fields.u64(what)?,
        size: fields.u64(what)?,
        mtime_ns: fields.u64(what)? as i64,
    })
}

/// Appends a count as a `u32` (the walk of one image finds far fewer).
fn put_count(out: &mut Vec<u8>, count: usize) {
    out.extend_from_slice(&u32::try_from(count).unwrap_or(u32::MAX).to_le_bytes());
}

/// The next count of records of at least `min_size` bytes each; an error
/// when the payload's remaining bytes cannot hold them, so nothing is
/// allocated for a count a short file claims.
fn count(fields: &mut Fields<'_>, min_size: usize, what: &str) -> Result<usize, CacheError> {
    let count = usize::try_from(fields.u32(what)?).unwrap_or(usize::MAX);
    if count.saturating_mul(min_size) > fields.remaining() {
        return Err(CacheError::Malformed(format!(
            "{count} {what} cannot fit in the {} bytes left",
            fields.remaining()
        )));
    }
    Ok(count)
}

fn put_callee(out: &mut Vec<u8>, callee: &Callee) {
    match callee {
        Callee::Address(address) => {
            out.push(0);
            out.extend_from_slice(&address.to_le_bytes());
        }
        Callee::Symbol(name) => {
            out.push(1);
            put_short_str(out, name);
        }
    }
}

fn callee(fields: &mut Fields<'_>) -> Result<Callee, CacheError> {
    match fields.bytes(1, "callee kind")?[0] {
        0 => Ok(Callee::Address(fields.u64("callee address")?)),
        1 => Ok(Callee::Symbol(fields.short_str("callee name")?.to_owned())),
        other => Err(CacheError::Malformed(format!(
            "callee kind {other} is neither 0 nor 1"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::boot_cache::BootKey;
    use std::fs;
    use std::os::unix::fs::PermissionsExt as _;

    fn sources() -> Sources {
        let image = FileStamp {
            dev: 0x803,
            ino: 1234,
            size: 2_000_000,
            mtime_ns: 1_700_000_000_123_456_789,
        };
        let debug = FileStamp {
            ino: 99,
            size: 9_000_000,
            ..image
        };
        Sources {
            image,
            debug: Some(("/usr/lib/debug/.build-id/93/ac.debug".into(), debug)),
        }
    }

    fn calls() -> DwarfCalls {
        DwarfCalls {
            by_return_address: HashMap::from([
                (0x1005, Callee::Address(0x2000)),
                (0x1105, Callee::Symbol("__libc_write".into())),
            ]),
            tail_calls: HashMap::from([(
                0x3000,
                vec![Callee::Address(0x4000), Callee::Symbol("abort".into())],
            )]),
            functions: vec![(0x1000, 0x1200, 0x1000), (0x3000, 0x3040, 0x3000)],
        }
    }

    fn key() -> BootKey {
        BootKey::new("call-site-test-boot", "6.18.0", b"")
    }

    #[test]
    fn round_trip_only_for_the_same_files() {
        let payload = encode(&sources(), &calls());
        assert_eq!(decode(&payload, &sources()).unwrap(), Some(calls()));
        let mut replaced = sources();
        replaced.image.mtime_ns += 1;
        assert_eq!(decode(&payload, &replaced).unwrap(), None, "new mtime");
        let no_debug = Sources {
            debug: None,
            ..sources()
        };
        assert_eq!(decode(&payload, &no_debug).unwrap(), None, "debug file");
        for len in 0..payload.len() {
            assert!(decode(&payload[..len], &sources()).is_err(), "{len}");
        }
    }

    #[test]
    fn a_huge_count_is_malformed_before_allocating() {
        let mut payload = encode(&sources(), &DwarfCalls::default());
        let at = payload.len() - 12;
        payload[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let error = decode(&payload, &sources()).unwrap_err().to_string();
        assert!(error.contains("cannot fit"), "{error}");
    }

    #[test]
    fn stored_files_are_used_under_their_key_and_rebuilt_when_bad() {
        let scratch = gmr_tests::scratch::Scratch::new("call-site-cache");
        let dir = scratch.path().join("cache");
        let cache = BootCache::new(&dir, key());
        assert_eq!(load(&cache, &sources()), None, "nothing yet");
        store(&cache, &sources(), &calls());
        assert_eq!(load(&cache, &sources()), Some(calls()));
        let other_boot = BootCache::new(&dir, BootKey::new("another boot", "6.18.0", b""));
        assert_eq!(load(&other_boot, &sources()), None, "another boot");
        let mut replaced = sources();
        replaced.image.mtime_ns += 1;
        assert_eq!(load(&cache, &replaced), None, "replaced image");

        let path = dir.join(file_name(&sources().image));
        fs::write(&path, b"garbage").unwrap();
        assert_eq!(load(&cache, &sources()), None, "malformed");
        store(&cache, &sources(), &calls());
        assert_eq!(load(&cache, &sources()), Some(calls()), "rebuilt");

        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load(&cache, &sources()), None, "readable by others");
    }

    #[test]
    fn only_the_newest_files_are_kept() {
        let scratch = gmr_tests::scratch::Scratch::new("call-site-evict");
        let dir = scratch.path().join("cache");
        let cache = BootCache::new(&dir, key());
        for ino in 0..MAX_FILES as u64 + 3 {
            let mut sources = sources();
            sources.image.ino = ino;
            store(&cache, &sources, &calls());
        }
        assert_eq!(fs::read_dir(&dir).unwrap().count(), MAX_FILES);
        let mut newest = sources();
        newest.image.ino = MAX_FILES as u64 + 2;
        assert_eq!(load(&cache, &newest), Some(calls()));
    }
}
