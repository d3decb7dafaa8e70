//! The code modules mapped into a process, as framehop modules.
//!
//! Every executable file mapping in `/proc/PID/maps` becomes one module: its
//! ELF is opened through `/proc/PID/map_files/` (which reaches deleted files
//! and other mount namespaces), falling back to `/proc/PID/root/<path>`; the
//! vDSO is copied out of the process. Parsed images live in a
//! [`ModuleCache`] keyed by file identity, so a warm report only stats each
//! mapping. A mapping that cannot be read is recorded as skipped with its
//! reason; unwinding through it falls back to frame pointers.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::fs::{self, File, Metadata};
use std::ops::Range;
use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use framehop::Unwinder as _;
use framehop::x86_64::UnwinderX86_64;
use procfs::process::{MMPermissions, MMapPath, MemoryMap};

use super::elf::{ElfImage, SectionBytes};
use crate::go::GoBinary;
use crate::proc::maps::{self, MapsError};
use crate::proc::memory::read_exact;

/// framehop's module type over our section bytes.
type FramehopModule = framehop::Module<SectionBytes>;
/// framehop's x86_64 unwinder over our section bytes.
pub(super) type FramehopUnwinder = UnwinderX86_64<SectionBytes>;

/// Parsed files a [`ModuleCache`] keeps by default. Each holds an open file
/// descriptor and its unwind sections.
pub const DEFAULT_CACHED_FILES: usize = 256;
/// Placements (load addresses) remembered per image, so re-reporting the
/// same few processes reuses framehop's per-module index.
const PLACEMENTS_PER_IMAGE: usize = 8;
/// Distinct vDSO images remembered (one per kernel ABI in practice).
const CACHED_VDSOS: usize = 4;
/// How `/proc/PID/maps` names the vDSO.
const VDSO_NAME: &str = "[vdso]";
/// How `/proc/PID/maps` marks a file unlinked after it was mapped.
const DELETED_SUFFIX: &str = " (deleted)";

/// Why a process's modules could not be listed at all.
#[derive(Debug, thiserror::Error)]
pub enum ModulesError {
    /// `/proc/PID/maps` could not be read (process gone, or no permission).
    #[error(transparent)]
    Maps(#[from] MapsError),
}

/// One executable mapping whose ELF image was read.
#[derive(Clone)]
pub struct ModuleInfo {
    /// Path as `/proc/PID/maps` shows it, without ` (deleted)`; `[vdso]` for
    /// the vDSO.
    pub path: String,
    /// True when the file was unlinked after it was mapped.
    pub deleted: bool,
    /// Addresses of the executable mapping.
    pub avma_range: Range<u64>,
    /// File offset mapped at `avma_range.start`.
    pub file_offset: u64,
    /// Address where the image's stated address 0 lies; an address minus
    /// this is the address `readelf`, `addr2line` and `objdump` use.
    pub base_avma: u64,
    /// True when the image has `.eh_frame` or `.debug_frame` to unwind with.
    pub has_unwind_info: bool,
    image: Arc<ElfImage>,
}

impl ModuleInfo {
    /// The address `address` has in the ELF file's own address space.
    pub fn stated_address(&self, address: u64) -> Option<u64> {
        address.checked_sub(self.base_avma)
    }

    /// The Go runtime's tables when the module is a Go binary, read the
    /// first time they are asked for and kept with the image.
    pub fn go_binary(&self) -> Option<&GoBinary> {
        self.image.go_binary()
    }
}

impl fmt::Debug for ModuleInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ModuleInfo")
            .field("path", &self.path)
            .field("deleted", &self.deleted)
            .field("avma_range", &format_args!("{:#x?}", self.avma_range))
            .field("file_offset", &format_args!("{:#x}", self.file_offset))
            .field("base_avma", &format_args!("{:#x}", self.base_avma))
            .field("has_unwind_info", &self.has_unwind_info)
            .finish()
    }
}

/// An executable mapping that could not be turned into a module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedModule {
    /// Path or pseudo-path as `/proc/PID/maps` shows it.
    pub path: String,
    /// Addresses of the executable mapping.
    pub avma_range: Range<u64>,
    /// Why it was skipped.
    pub reason: String,
}

/// The modules of one process at one moment, ready for [`super::unwind`].
///
/// [`Default`] gives a set without modules, with which unwinding uses frame
/// pointers only.
#[derive(Clone, Default)]
pub struct ProcessModules {
    pid: u32,
    modules: Vec<ModuleInfo>,
    skipped: Vec<SkippedModule>,
    unwinder: FramehopUnwinder,
}

impl ProcessModules {
    /// Lists and parses the modules of process `pid` without a cache.
    /// Agents should keep a [`ModuleCache`] and call
    /// [`ModuleCache::modules_for`] instead.
    ///
    /// # Errors
    ///
    /// When `/proc/PID/maps` cannot be read; unreadable modules are only
    /// recorded in [`Self::skipped`].
    pub fn load(pid: u32) -> Result<Self, ModulesError> {
        ModuleCache::new().modules_for(pid)
    }

    /// The process these modules belong to (0 for [`Default`]).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Modules in address order.
    pub fn modules(&self) -> &[ModuleInfo] {
        &self.modules
    }

    /// Executable mappings that could not be read, in address order.
    pub fn skipped(&self) -> &[SkippedModule] {
        &self.skipped
    }

    /// The module whose executable mapping holds `address`.
    pub fn module_at(&self, address: u64) -> Option<&ModuleInfo> {
        let after = self
            .modules
            .partition_point(|m| m.avma_range.start <= address);
        let module = self.modules.get(after.checked_sub(1)?)?;
        module.avma_range.contains(&address).then_some(module)
    }

    /// The skipped mapping holding `address`, telling why unwinding there
    /// had no CFI.
    pub fn skipped_at(&self, address: u64) -> Option<&SkippedModule> {
        self.skipped
            .iter()
            .find(|skipped| skipped.avma_range.contains(&address))
    }

    /// Fills `buf` with the code bytes at `address`, read from the module's
    /// ELF image rather than the live process. Returns false when `address`
    /// is outside every module or the bytes could not be read.
    pub fn read_code(&self, address: u64, buf: &mut [u8]) -> bool {
        let Some(module) = self.module_at(address) else {
            return false;
        };
        let in_mapping = address - module.avma_range.start;
        let fits = in_mapping
            .checked_add(buf.len() as u64)
            .is_some_and(|end| end <= module.avma_range.end - module.avma_range.start);
        fits && module
            .file_offset
            .checked_add(in_mapping)
            .is_some_and(|offset| module.image.read_at(offset, buf))
    }

    /// Adds the ELF image `bytes` as the module of a code mapping at
    /// `avma_range` of file offset `file_offset`, as `/proc/PID/maps` would
    /// list it. Builds a module list without a live process, so unwinding
    /// can run on recorded or made-up inputs (tests, fuzzing).
    ///
    /// # Errors
    ///
    /// When `bytes` is not an ELF image, or no `PT_LOAD` segment of it
    /// covers `file_offset`.
    pub fn add_image(
        &mut self,
        path: &str,
        bytes: Arc<[u8]>,
        avma_range: Range<u64>,
        file_offset: u64,
    ) -> Result<(), String> {
        let image = ElfImage::from_bytes(bytes)?;
        let base_avma = image
            .base_avma(avma_range.start, file_offset)
            .ok_or_else(|| format!("no PT_LOAD segment covers file offset {file_offset:#x}"))?;
        let module = framehop::Module::new(
            path.to_owned(),
            avma_range.clone(),
            base_avma,
            image.section_info(),
        );
        let info = ModuleInfo {
            path: path.to_owned(),
            deleted: false,
            avma_range,
            file_offset,
            base_avma,
            has_unwind_info: image.has_unwind_info(),
            image: Arc::new(image),
        };
        let at = self
            .modules
            .partition_point(|m| m.avma_range.start <= info.avma_range.start);
        self.unwinder.add_module(module);
        self.modules.insert(at, info);
        Ok(())
    }

    /// The framehop unwinder holding every module.
    pub(super) fn unwinder(&self) -> &FramehopUnwinder {
        &self.unwinder
    }

    fn add(&mut self, info: ModuleInfo, module: FramehopModule) {
        self.unwinder.add_module(module);
        self.modules.push(info);
    }
}

impl fmt::Debug for ProcessModules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProcessModules")
            .field("pid", &self.pid)
            .field("modules", &self.modules)
            .field("skipped", &self.skipped)
            .finish()
    }
}

/// What identifies a file's contents without reading it.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
struct FileKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileKey {
    fn of(meta: &Metadata) -> Self {
        FileKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_nsec: meta.mtime_nsec(),
        }
    }
}

/// A parsed image and the framehop modules built from it.
struct CachedImage {
    image: Arc<ElfImage>,
    /// Most recent first.
    placements: Vec<FramehopModule>,
    last_used: u64,
}

impl CachedImage {
    fn new(image: ElfImage, tick: u64) -> Self {
        CachedImage {
            image: Arc::new(image),
            placements: Vec::new(),
            last_used: tick,
        }
    }

    /// The framehop module for this image at `avma_range` / `base_avma`,
    /// reused when this placement was seen before so framehop's index over
    /// `.eh_frame` (built when there is no `.eh_frame_hdr`) is not rebuilt.
    fn module(&mut self, name: &str, avma_range: Range<u64>, base_avma: u64) -> FramehopModule {
        let seen = self
            .placements
            .iter()
            .position(|m| m.avma_range() == avma_range && m.base_avma() == base_avma);
        let module = match seen {
            Some(index) => self.placements.remove(index),
            None => framehop::Module::new(
                name.to_owned(),
                avma_range,
                base_avma,
                self.image.section_info(),
            ),
        };
        self.placements.insert(0, module.clone());
        self.placements.truncate(PLACEMENTS_PER_IMAGE);
        module
    }
}

/// Parsed module unwind data kept across reports.
///
/// Files are keyed by device, inode, size and modification time, so an
/// upgraded library is parsed afresh while every process mapping the same
/// file shares one parse. Files not used by the latest call are dropped,
/// least recently used first, once more than the capacity are held.
pub struct ModuleCache {
    files: HashMap<FileKey, CachedImage>,
    vdsos: Vec<(SectionBytes, CachedImage)>,
    capacity: usize,
    tick: u64,
}

impl Default for ModuleCache {
    fn default() -> Self {
        Self::new()
    }
}

impl ModuleCache {
    /// A cache holding up to [`DEFAULT_CACHED_FILES`] files.
    pub fn new() -> Self {
        Self::with_capacity(DEFAULT_CACHED_FILES)
    }

    /// A cache holding up to `files` parsed files beyond those the latest
    /// process needed.
    pub fn with_capacity(files: usize) -> Self {
        ModuleCache {
            files: HashMap::new(),
            vdsos: Vec::new(),
            capacity: files,
            tick: 0,
        }
    }

    /// Number of parsed files held.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// True when no file is held.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The modules of process `pid` now, parsing only files not seen before.
    ///
    /// # Errors
    ///
    /// When `/proc/PID/maps` cannot be read; unreadable modules are only
    /// recorded in [`ProcessModules::skipped`].
    pub fn modules_for(&mut self, pid: u32) -> Result<ProcessModules, ModulesError> {
        Ok(self.modules_in(pid, &maps::read(pid)?))
    }

    /// The modules `maps` (the memory map of process `pid`, read by the
    /// caller) shows, parsing only files not seen before. Unreadable
    /// modules are recorded in [`ProcessModules::skipped`].
    pub fn modules_in(&mut self, pid: u32, maps: &[MemoryMap]) -> ProcessModules {
        self.tick += 1;
        let mut modules = ProcessModules {
            pid,
            ..ProcessModules::default()
        };
        for map in maps {
            if !map.perms.contains(MMPermissions::EXECUTE) {
                continue;
            }
            let placed = match &map.pathname {
                MMapPath::Path(path) => self.file_module(pid, map, path),
                MMapPath::Vdso => self.vdso_module(pid, map),
                // Anonymous code (JITs), the vsyscall page and the like have
                // no image; framehop unwinds them with frame pointers.
                _ => continue,
            };
            match placed {
                Ok((info, module)) => modules.add(info, module),
                Err(reason) => modules.skipped.push(SkippedModule {
                    path: display_path(&map.pathname),
                    avma_range: map.address.0..map.address.1,
                    reason,
                }),
            }
        }
        self.evict();
        modules
    }

    fn file_module(
        &mut self,
        pid: u32,
        map: &MemoryMap,
        path: &Path,
    ) -> Result<(ModuleInfo, FramehopModule), String> {
        let (start, end) = map.address;
        let shown = path.to_string_lossy();
        let (shown, deleted) = match shown.strip_suffix(DELETED_SUFFIX) {
            Some(stripped) => (stripped.to_owned(), true),
            None => (shown.into_owned(), false),
        };
        let (source, meta) = open_target(pid, map, &shown, deleted)?;
        let key = FileKey::of(&meta);
        let tick = self.tick;
        let cached = match self.files.entry(key) {
            Entry::Occupied(entry) => entry.into_mut(),
            Entry::Vacant(entry) => {
                let file = File::open(&source)
                    .map_err(|e| format!("could not open {}: {e}", source.display()))?;
                let image = ElfImage::from_file(file)?;
                entry.insert(CachedImage::new(image, tick))
            }
        };
        cached.last_used = tick;
        let base_avma = cached
            .image
            .base_avma(start, map.offset)
            .ok_or_else(|| format!("no PT_LOAD segment covers file offset {:#x}", map.offset))?;
        let module = cached.module(&shown, start..end, base_avma);
        let info = ModuleInfo {
            path: shown,
            deleted,
            avma_range: start..end,
            file_offset: map.offset,
            base_avma,
            has_unwind_info: cached.image.has_unwind_info(),
            image: Arc::clone(&cached.image),
        };
        Ok((info, module))
    }

    fn vdso_module(
        &mut self,
        pid: u32,
        map: &MemoryMap,
    ) -> Result<(ModuleInfo, FramehopModule), String> {
        let (start, end) = map.address;
        let len = usize::try_from(end - start).map_err(|e| e.to_string())?;
        let mut bytes = vec![0; len];
        read_exact(pid, start, &mut bytes).map_err(|e| format!("could not read the vDSO: {e}"))?;
        let tick = self.tick;
        let index = match self.vdsos.iter().position(|(seen, _)| **seen == bytes[..]) {
            Some(index) => index,
            None => {
                let bytes = SectionBytes::from(bytes);
                let image = ElfImage::from_bytes(bytes.clone())?;
                self.vdsos.push((bytes, CachedImage::new(image, tick)));
                self.vdsos.len() - 1
            }
        };
        let cached = &mut self.vdsos[index].1;
        cached.last_used = tick;
        // The whole vDSO image is mapped from its start, as if at offset 0.
        let base_avma = cached
            .image
            .base_avma(start, 0)
            .ok_or("the vDSO has no PT_LOAD segment at offset 0")?;
        let module = cached.module(VDSO_NAME, start..end, base_avma);
        let info = ModuleInfo {
            path: VDSO_NAME.to_owned(),
            deleted: false,
            avma_range: start..end,
            file_offset: 0,
            base_avma,
            has_unwind_info: cached.image.has_unwind_info(),
            image: Arc::clone(&cached.image),
        };
        Ok((info, module))
    }

    /// Drops the least recently used files not needed by the latest call
    /// until at most `capacity` remain.
    fn evict(&mut self) {
        let tick = self.tick;
        if self.files.len() > self.capacity {
            let mut stale = self
                .files
                .iter()
                .filter(|(_, cached)| cached.last_used < tick)
                .map(|(key, cached)| (cached.last_used, *key))
                .collect::<Vec<_>>();
            stale.sort_unstable_by_key(|(last_used, _)| *last_used);
            let excess = self.files.len() - self.capacity;
            for (_, key) in stale.into_iter().take(excess) {
                self.files.remove(&key);
            }
        }
        if self.vdsos.len() > CACHED_VDSOS {
            self.vdsos
                .sort_by_key(|(_, cached)| std::cmp::Reverse(cached.last_used));
            self.vdsos.truncate(CACHED_VDSOS);
        }
    }
}

/// Finds the file behind `map`: the `map_files` link names exactly the
/// mapped file; the path under the process's root is only trusted while it
/// still has the mapped inode.
fn open_target(
    pid: u32,
    map: &MemoryMap,
    shown: &str,
    deleted: bool,
) -> Result<(PathBuf, Metadata), String> {
    let (start, end) = map.address;
    let map_files = PathBuf::from(format!("/proc/{pid}/map_files/{start:x}-{end:x}"));
    let map_files_error = match fs::metadata(&map_files) {
        Ok(meta) => return Ok((map_files, meta)),
        Err(e) => e,
    };
    if deleted {
        return Err(format!(
            "file was deleted and {} is unreadable: {map_files_error}",
            map_files.display()
        ));
    }
    let root = Path::new(&format!("/proc/{pid}/root")).join(shown.trim_start_matches('/'));
    let meta = fs::metadata(&root).map_err(|e| {
        format!(
            "could not open {} ({map_files_error}) or {}: {e}",
            map_files.display(),
            root.display()
        )
    })?;
    if meta.ino() != map.inode {
        return Err(format!(
            "{} ({map_files_error}) is unreadable and {} was replaced since it was mapped",
            map_files.display(),
            root.display()
        ));
    }
    Ok((root, meta))
}

fn display_path(path: &MMapPath) -> String {
    match path {
        MMapPath::Path(path) => path.to_string_lossy().into_owned(),
        MMapPath::Vdso => VDSO_NAME.to_owned(),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{ModuleCache, ProcessModules};
    use crate::proc::memory::read_exact;

    #[inline(never)]
    fn some_code() -> u64 {
        std::hint::black_box(7)
    }

    #[test]
    fn own_process_modules_read_the_mapped_code() {
        let pid = std::process::id();
        let modules = ModuleCache::new().modules_for(pid).expect("own maps");
        let address = some_code as *const () as u64;
        let module = modules
            .module_at(address)
            .expect("module holding this code");
        assert!(module.has_unwind_info);
        assert!(module.stated_address(address).is_some());
        let mut from_file = [0; 32];
        let mut from_memory = [0; 32];
        assert!(modules.read_code(address, &mut from_file));
        read_exact(pid, address, &mut from_memory).expect("own memory");
        assert_eq!(from_file, from_memory);
        assert!(modules.modules().iter().any(|m| m.path == "[vdso]"));
        assert!(!modules.read_code(0x10, &mut from_file));
    }

    #[test]
    fn an_image_added_from_bytes_places_and_reads_like_the_live_mapping() {
        let live = ModuleCache::new()
            .modules_for(std::process::id())
            .expect("own maps");
        let address = some_code as *const () as u64;
        let mapped = live.module_at(address).expect("module holding this code");
        let bytes = std::fs::read("/proc/self/exe").expect("own executable");
        let mut modules = ProcessModules::default();
        modules
            .add_image(
                "self",
                bytes.into(),
                mapped.avma_range.clone(),
                mapped.file_offset,
            )
            .expect("own executable is an ELF image");
        let added = modules.module_at(address).expect("added module");
        assert_eq!(added.base_avma, mapped.base_avma);
        assert!(added.has_unwind_info);
        let mut from_bytes = [0; 32];
        let mut from_memory = [0; 32];
        assert!(modules.read_code(address, &mut from_bytes));
        read_exact(std::process::id(), address, &mut from_memory).expect("own memory");
        assert_eq!(from_bytes, from_memory);
        let err = modules
            .add_image("junk", vec![0x7f, b'E', b'L'].into(), 0x1000..0x2000, 0)
            .unwrap_err();
        assert!(!err.is_empty());
        assert_eq!(modules.modules().len(), 1);
    }

    #[test]
    fn cache_keeps_only_what_recent_processes_use() {
        let pid = std::process::id();
        let mut cache = ModuleCache::with_capacity(0);
        let first = cache.modules_for(pid).expect("own maps");
        let files = first
            .modules()
            .iter()
            .filter(|m| m.path != "[vdso]")
            .count();
        assert_eq!(cache.len(), files);
        let again = cache.modules_for(pid).expect("own maps");
        assert_eq!(cache.len(), files);
        assert_eq!(
            first
                .modules()
                .iter()
                .map(|m| m.base_avma)
                .collect::<Vec<_>>(),
            again
                .modules()
                .iter()
                .map(|m| m.base_avma)
                .collect::<Vec<_>>()
        );
        assert!(cache.modules_for(u32::MAX).is_err());
    }
}
