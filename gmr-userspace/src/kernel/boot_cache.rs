//! Per-boot caches of what the running kernel cannot change while it runs
//! (the BTF offsets gmr needs, its compact symbol table), so that a
//! one-shot `report --pid` neither parses 5 MB of BTF nor makes the kernel
//! format `/proc/kallsyms` again.
//!
//! Each file starts with the key it was made under: the boot id, the kernel
//! release and a SHA-256 digest of `/proc/modules`. A file made under
//! another key is rebuilt; a malformed one is never trusted (the error is
//! logged, the file rebuilt). The directory is root-only (0700) and must be
//! owned by the agent's user with no group or other access, the files 0600;
//! a file is written whole under a temporary name, then renamed.

use std::{
    fmt, fs,
    io::{self, Write as _},
    os::unix::fs::{DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use sha2::{Digest as _, Sha256};

use super::kallsyms::MODULES;

/// Where the caches live.
pub const CACHE_DIR: &str = "/run/gmr/cache";
/// Where the kernel names the current boot.
pub const BOOT_ID: &str = "/proc/sys/kernel/random/boot_id";
/// First bytes of every cache file (the format's version is its last byte).
const MAGIC: &[u8; 8] = b"gmrboot1";

/// What a cache file is valid for: one boot of one kernel with one set of
/// loaded modules.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootKey {
    boot_id: String,
    release: String,
    modules_digest: [u8; 32],
}

impl BootKey {
    /// The key of `boot_id`, kernel `release` and `/proc/modules` text
    /// `modules`.
    pub fn new(boot_id: &str, release: &str, modules: &[u8]) -> Self {
        Self {
            boot_id: boot_id.to_owned(),
            release: release.to_owned(),
            modules_digest: Sha256::digest(modules).into(),
        }
    }

    /// The running kernel's key, with `modules` as `/proc/modules` read by
    /// the caller (the symbol table keeps the same bytes to notice changes).
    pub fn running(modules: &[u8]) -> io::Result<Self> {
        let boot_id = fs::read_to_string(BOOT_ID)?;
        Ok(Self::new(
            boot_id.trim(),
            &crate::sections::package::kernel_release(),
            modules,
        ))
    }

    /// The running kernel's key, reading `/proc/modules` (absent on a
    /// kernel without modules: no module is loaded).
    pub fn running_now() -> io::Result<Self> {
        Self::running(&fs::read(MODULES).unwrap_or_default())
    }
}

/// Why a cache file was not used.
#[derive(Debug)]
pub enum CacheError {
    /// Reading or writing failed.
    Io(PathBuf, io::Error),
    /// The directory or file may be written by someone else than the
    /// agent's user: it is not trusted.
    NotPrivate(PathBuf, String),
    /// The bytes are not a cache file of this format.
    Malformed(String),
}

impl fmt::Display for CacheError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Self::NotPrivate(path, why) => write!(f, "{}: not trusted: {why}", path.display()),
            Self::Malformed(why) => write!(f, "malformed: {why}"),
        }
    }
}

impl std::error::Error for CacheError {}

/// Reads the fields of a cache file in order, naming the offset of any
/// that runs past the end.
pub struct Fields<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Fields<'a> {
    /// Fields from the start of `bytes`.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, at: 0 }
    }

    /// The next `len` bytes.
    pub fn bytes(&mut self, len: usize, what: &str) -> Result<&'a [u8], CacheError> {
        let field = self
            .at
            .checked_add(len)
            .and_then(|end| self.bytes.get(self.at..end))
            .ok_or_else(|| {
                CacheError::Malformed(format!(
                    "{what} ({len} bytes at byte {}) runs past the end ({} bytes)",
                    self.at,
                    self.bytes.len()
                ))
            })?;
        self.at += len;
        Ok(field)
    }

    /// The next little-endian `u16`.
    pub fn u16(&mut self, what: &str) -> Result<u16, CacheError> {
        Ok(u16::from_le_bytes(self.array(what)?))
    }

    /// The next little-endian `u32`.
    pub fn u32(&mut self, what: &str) -> Result<u32, CacheError> {
        Ok(u32::from_le_bytes(self.array(what)?))
    }

    /// The next little-endian `u64`.
    pub fn u64(&mut self, what: &str) -> Result<u64, CacheError> {
        Ok(u64::from_le_bytes(self.array(what)?))
    }

    /// A string of at most `u16::MAX` bytes, its length first.
    pub fn short_str(&mut self, what: &str) -> Result<&'a str, CacheError> {
        let len = self.u16(what)?;
        std::str::from_utf8(self.bytes(usize::from(len), what)?)
            .map_err(|e| CacheError::Malformed(format!("{what} is not UTF-8: {e}")))
    }

    /// How many bytes are left to read.
    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// An error unless every byte was read.
    pub fn finish(&self, what: &str) -> Result<(), CacheError> {
        if self.at == self.bytes.len() {
            Ok(())
        } else {
            Err(CacheError::Malformed(format!(
                "{} bytes after the end of {what}",
                self.bytes.len() - self.at
            )))
        }
    }

    fn array<const N: usize>(&mut self, what: &str) -> Result<[u8; N], CacheError> {
        let bytes = self.bytes(N, what)?;
        Ok(bytes.try_into().expect("bytes(N) is N bytes long"))
    }
}

/// Appends `text` as a [`Fields::short_str`] (cut at `u16::MAX` bytes, on
/// a character boundary).
pub fn put_short_str(out: &mut Vec<u8>, text: &str) {
    let mut end = text.len().min(usize::from(u16::MAX));
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    out.extend_from_slice(&(end as u16).to_le_bytes());
    out.extend_from_slice(&text.as_bytes()[..end]);
}

/// The payload of cache file `bytes` if it was made under `key`, `None`
/// if under another key (stale, to rebuild), an error if malformed.
pub fn decode<'a>(bytes: &'a [u8], key: &BootKey) -> Result<Option<&'a [u8]>, CacheError> {
    let mut fields = Fields::new(bytes);
    if fields.bytes(MAGIC.len(), "magic")? != MAGIC {
        return Err(CacheError::Malformed(
            "not a gmr boot cache (bad magic)".into(),
        ));
    }
    let boot_id = fields.short_str("boot id")?;
    let release = fields.short_str("kernel release")?;
    let modules_digest = fields.bytes(32, "modules digest")?;
    let len = fields.u64("payload length")?;
    let len = usize::try_from(len)
        .map_err(|_| CacheError::Malformed(format!("payload length {len} too large")))?;
    let payload = fields.bytes(len, "payload")?;
    fields.finish("the payload")?;
    let same = boot_id == key.boot_id
        && release == key.release
        && modules_digest == key.modules_digest.as_slice();
    Ok(same.then_some(payload))
}

/// A cache file holding `payload`, made under `key`.
pub fn encode(key: &BootKey, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(payload.len() + 128);
    out.extend_from_slice(MAGIC);
    put_short_str(&mut out, &key.boot_id);
    put_short_str(&mut out, &key.release);
    out.extend_from_slice(&key.modules_digest);
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

/// A directory of cache files valid under one key.
pub struct BootCache {
    dir: PathBuf,
    key: BootKey,
}

impl BootCache {
    /// The caches of the running boot, in [`CACHE_DIR`].
    pub fn running(key: BootKey) -> Self {
        Self::new(Path::new(CACHE_DIR), key)
    }

    /// The caches in `dir` under `key`.
    pub fn new(dir: &Path, key: BootKey) -> Self {
        Self {
            dir: dir.to_owned(),
            key,
        }
    }

    /// The cache called `name`, decoded by `decode_payload`, if a good one
    /// exists under this key. A malformed or untrusted one is logged (it
    /// is rebuilt by the caller's [`Self::store`]).
    pub fn load<T>(
        &self,
        name: &str,
        decode_payload: impl FnOnce(&[u8]) -> Result<T, CacheError>,
    ) -> Option<T> {
        let path = self.dir.join(name);
        match self.read(&path) {
            Ok(Some(bytes)) => match decode(&bytes, &self.key)
                .and_then(|payload| payload.map(decode_payload).transpose())
            {
                Ok(Some(value)) => {
                    log::debug!("{} used", path.display());
                    Some(value)
                }
                Ok(None) => {
                    log::debug!(
                        "{} is of another boot, kernel or module set",
                        path.display()
                    );
                    None
                }
                Err(e) => {
                    log::warn!("boot cache {} ignored and rebuilt: {e}", path.display());
                    None
                }
            },
            Ok(None) => None,
            Err(e) => {
                log::warn!("boot cache ignored: {e}");
                None
            }
        }
    }

    /// Writes `payload` as the cache called `name`; a failure is logged
    /// (the cache only saves time).
    pub fn store(&self, name: &str, payload: &[u8]) {
        if let Err(e) = self.write(name, payload) {
            log::warn!("boot cache {name} not written: {e}");
        }
    }

    /// Removes the oldest files (by modification time) whose names start
    /// with `prefix` until at most `keep` are left, so that caches kept
    /// per file (one per image) stay bounded; failures are logged.
    pub fn evict(&self, prefix: &str, keep: usize) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .filter(|entry| entry.file_name().to_string_lossy().starts_with(prefix))
            .map(|entry| {
                let modified = entry.metadata().and_then(|m| m.modified()).ok();
                (modified, entry.path())
            })
            .collect();
        if files.len() <= keep {
            return;
        }
        files.sort_unstable();
        for (_, path) in &files[..files.len() - keep] {
            if let Err(e) = fs::remove_file(path) {
                log::warn!("boot cache {} not removed: {e}", path.display());
            }
        }
    }

    /// The file's bytes, `None` when it does not exist.
    fn read(&self, path: &Path) -> Result<Option<Vec<u8>>, CacheError> {
        let file = match fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(CacheError::Io(path.to_owned(), e)),
        };
        private(&self.dir, &fs::metadata(&self.dir), 0o700)?;
        private(path, &file.metadata(), 0o600)?;
        let mut bytes = Vec::new();
        io::Read::read_to_end(&mut &file, &mut bytes)
            .map_err(|e| CacheError::Io(path.to_owned(), e))?;
        Ok(Some(bytes))
    }

    fn write(&self, name: &str, payload: &[u8]) -> Result<(), CacheError> {
        let io_error = |path: &Path| {
            let path = path.to_owned();
            move |e| CacheError::Io(path, e)
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(io_error(&self.dir))?;
        private(&self.dir, &fs::metadata(&self.dir), 0o700)?;
        let path = self.dir.join(name);
        let temporary = self.dir.join(format!(".{name}.{}", std::process::id()));
        let _ = fs::remove_file(&temporary);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)
            .map_err(io_error(&temporary))?;
        let written = file
            .write_all(&encode(&self.key, payload))
            .and_then(|()| fs::rename(&temporary, &path));
        if written.is_err() {
            let _ = fs::remove_file(&temporary);
        }
        written.map_err(io_error(&path))
    }
}

/// An error unless `path` belongs to this process's user and grants no
/// more than `mode`.
fn private(path: &Path, metadata: &io::Result<fs::Metadata>, mode: u32) -> Result<(), CacheError> {
    let metadata = metadata
        .as_ref()
        .map_err(|e| CacheError::Io(path.to_owned(), io::Error::new(e.kind(), e.to_string())))?;
    let uid = rustix::process::geteuid().as_raw();
    if metadata.uid() != uid {
        return Err(CacheError::NotPrivate(
            path.to_owned(),
            format!("owned by uid {}, not {uid}", metadata.uid()),
        ));
    }
    let extra = metadata.mode() & 0o777 & !mode;
    if extra != 0 {
        return Err(CacheError::NotPrivate(
            path.to_owned(),
            format!(
                "mode {:o} grants more than {mode:o}",
                metadata.mode() & 0o777
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn key() -> BootKey {
        BootKey::new(
            "75d65559-5c5d-4296-a499-7831a341ffbe",
            "6.18.0",
            b"ext4 1 0 - Live\n",
        )
    }

    #[test]
    fn a_file_is_used_only_under_its_own_key() {
        let file = encode(&key(), b"payload");
        assert_eq!(decode(&file, &key()).unwrap(), Some(&b"payload"[..]));
        for other in [
            BootKey::new("another boot", "6.18.0", b"ext4 1 0 - Live\n"),
            BootKey::new(
                "75d65559-5c5d-4296-a499-7831a341ffbe",
                "6.19.0",
                b"ext4 1 0 - Live\n",
            ),
            BootKey::new("75d65559-5c5d-4296-a499-7831a341ffbe", "6.18.0", b""),
        ] {
            assert_eq!(decode(&file, &other).unwrap(), None, "{other:?}");
        }
    }

    #[test]
    fn every_truncation_and_any_trailing_byte_is_malformed() {
        let file = encode(&key(), b"payload");
        for len in 0..file.len() {
            let error = decode(&file[..len], &key()).unwrap_err();
            assert!(
                error.to_string().contains("runs past the end"),
                "{len}: {error}"
            );
        }
        let mut longer = file.clone();
        longer.push(0);
        assert!(matches!(
            decode(&longer, &key()),
            Err(CacheError::Malformed(_))
        ));
        let mut other_magic = file;
        other_magic[0] ^= 1;
        assert!(
            decode(&other_magic, &key())
                .unwrap_err()
                .to_string()
                .contains("bad magic")
        );
    }

    #[test]
    fn stores_private_files_and_refuses_a_shared_directory() {
        let scratch = gmr_tests::scratch::Scratch::new("boot-cache");
        let dir = scratch.path().join("cache");
        let cache = BootCache::new(&dir, key());
        assert_eq!(cache.load("table", |p| Ok(p.to_vec())), None, "nothing yet");
        cache.store("table", b"entries");
        assert_eq!(
            cache.load("table", |p| Ok(p.to_vec())).as_deref(),
            Some(&b"entries"[..])
        );
        let mode = |path: &Path| fs::metadata(path).unwrap().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&dir.join("table")), 0o600);
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file left"
        );

        let other_boot = BootCache::new(&dir, BootKey::new("next boot", "6.18.0", b""));
        assert_eq!(other_boot.load("table", |p| Ok(p.to_vec())), None);

        let rejected = cache.load("table", |_| -> Result<(), _> {
            Err(CacheError::Malformed("bad payload".into()))
        });
        assert_eq!(rejected, None, "a payload its decoder rejects is not used");

        fs::set_permissions(&dir, fs::Permissions::from_mode(0o777)).unwrap();
        assert_eq!(
            cache.load("table", |p| Ok(p.to_vec())),
            None,
            "a directory others may write is not trusted"
        );
        assert!(matches!(
            cache.write("table", b"x"),
            Err(CacheError::NotPrivate(..))
        ));
    }
}
