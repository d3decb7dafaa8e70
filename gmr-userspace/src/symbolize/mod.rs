//! Symbolize: turns addresses into function, module, file and line.
//!
//! The only user of blazesym. One [`Symbolizer`] lives as long as the agent:
//! blazesym keeps every ELF and DWARF file it opened, parsed, so a warm
//! report costs lookups only. User addresses are resolved through
//! `/proc/PID/map_files/`, which reaches deleted binaries and other mount
//! namespaces; kernel addresses through kallsyms ([`KernelSymbols`], read
//! again when modules change). Module paths and offsets come from the
//! unwinder's [`ProcessModules`], so they are filled in even where no symbol
//! is known.
//! Go code is named from the Go runtime's own tables ([`crate::go`]),
//! which every Go binary keeps even when stripped; blazesym names the rest
//! (C code of a cgo binary included); code outside every mapped file is
//! looked up in the runtime's perf map ([`jit`]). Frames a tail call
//! removed are rebuilt from DWARF call sites ([`tail_calls`]). Nothing here
//! fails as a whole: an address nothing resolves stays an address.

pub mod call_site_cache;
pub mod call_sites;
pub mod cxx_names;
pub mod jit;
pub mod names;
pub mod tail_calls;

use std::cell::{OnceCell, RefCell};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::ops::Range;
use std::os::unix::fs::MetadataExt as _;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::SystemTime;

use blazesym::symbolize::source::{Elf, Process, Source};
use blazesym::symbolize::{CodeInfo, Input, Sym, evict};
use procfs::process::{MMPermissions, MMapPath};

use self::call_site_cache::FileStamp;
use self::call_sites::CallSites;
use self::jit::{PerfMap, map_version, perf_map_path};
use self::names::{libiberty_literals, without_return_type};
use self::tail_calls::TailCalls;
use crate::kernel::boot_cache::{BOOT_ID, BootCache, BootKey};
use crate::kernel::kallsyms::{KernelSymbols, Loading};
use crate::model::{FrameKind, KernelFrame, UserFrame};
use crate::unwind::{Frame, ModuleInfo, ProcessModules};

/// Processes whose files stay cached; older ones are evicted, so a
/// long-running agent does not hold every binary it ever symbolized open.
const CACHED_PROCESSES: usize = 16;
/// Shown for a signal trampoline without a symbol, as gdb does.
const SIGNAL_FRAME: &str = "<signal handler called>";
/// Images whose call sites stay cached; the table is emptied beyond this.
const CACHED_CALL_SITES: usize = 64;

/// A file by its device and inode.
type FileId = (u64, u64);

/// Files blazesym opened for one process, to evict them later.
struct CachedProcess {
    pid: u32,
    map_files: Vec<PathBuf>,
}

/// Resolves user and kernel addresses, caching parsed files across calls.
///
/// Not `Send`: blazesym's caches use `Rc`. Keep it on the thread that builds
/// reports.
pub struct Symbolizer {
    inner: RefCell<blazesym::symbolize::Symbolizer>,
    /// Most recently symbolized first.
    recent: RefCell<VecDeque<CachedProcess>>,
    /// The kernel's functions.
    kernel: RefCell<KernelTable>,
    /// Perf maps read, by pid, with the file's version they were read at.
    perf_maps: RefCell<HashMap<u32, PerfMapRead>>,
    /// Call sites of images, by the file's device and inode.
    call_sites: RefCell<HashMap<FileId, Option<Rc<CallSites>>>>,
    /// The per-boot cache of call sites on disk (for one-shot reports and
    /// restarts), opened when first needed; `None` without a boot key.
    call_sites_disk: OnceCell<Option<BootCache>>,
}

/// One process's perf map as last read.
struct PerfMapRead {
    /// The file's modification time and size then.
    version: Option<(SystemTime, u64)>,
    /// The map, `None` when the process has none.
    map: Option<Rc<PerfMap>>,
}

/// The kernel's functions, as far as they were read.
enum KernelTable {
    /// Being read in the background.
    Loading(Loading),
    /// Read (`None`: not yet, or unreadable last time).
    Read(Option<KernelSymbols>),
}

impl Default for Symbolizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Symbolizer {
    /// A symbolizer with source locations, inlined functions and
    /// demangling; it reads the kernel's symbols when first asked.
    pub fn new() -> Self {
        Self::with_kernel_table(KernelTable::Read(None))
    }

    /// [`Self::new`], taking the kernel's symbols from `kernel` (started
    /// earlier, e.g. while the eBPF programs loaded).
    pub fn with_kernel_symbols(kernel: Loading) -> Self {
        Self::with_kernel_table(KernelTable::Loading(kernel))
    }

    fn with_kernel_table(kernel: KernelTable) -> Self {
        Symbolizer {
            inner: RefCell::new(blazesym_symbolizer()),
            recent: RefCell::new(VecDeque::new()),
            kernel: RefCell::new(kernel),
            perf_maps: RefCell::new(HashMap::new()),
            call_sites: RefCell::new(HashMap::new()),
            call_sites_disk: OnceCell::new(),
        }
    }

    /// Parses the files process `pid` maps as code (symbols and debug
    /// info), as its first report would. A one-shot report calls it while
    /// its eBPF programs load on another thread, so the parsing (for libc,
    /// decompressing tens of MB of DWARF) is not on the report's path.
    pub fn prepare(&self, pid: u32) {
        if pid == 0 {
            return;
        }
        let Ok(maps) = crate::proc::maps::read(pid) else {
            return;
        };
        let inner = self.inner.borrow();
        for map in maps.iter().filter(|map| {
            map.perms.contains(MMPermissions::EXECUTE) && matches!(map.pathname, MMapPath::Path(_))
        }) {
            let range = map.address.0..map.address.1;
            let source = Source::Elf(Elf::new(map_files_path(pid, &range)));
            if let Err(e) = inner.symbolize(&source, Input::FileOffset(&[map.offset])) {
                log::debug!("could not parse the files of process {pid} ahead: {e}");
            }
        }
    }

    /// Drops the parsed files of every process (the kernel's symbols,
    /// compact, stay).
    pub fn drop_files(&mut self) {
        *self.inner.get_mut() = blazesym_symbolizer();
        self.recent.get_mut().clear();
        self.perf_maps.get_mut().clear();
        self.call_sites.get_mut().clear();
    }

    /// Symbolizes one unwound stack of process `pid`. See
    /// [`Self::symbolize_user_stacks`].
    pub fn symbolize_user(
        &self,
        pid: u32,
        frames: &[Frame],
        modules: &ProcessModules,
    ) -> Vec<UserFrame> {
        self.symbolize_user_stacks(pid, &[frames], modules)
            .pop()
            .unwrap_or_default()
    }

    /// Symbolizes several stacks of process `pid` in one pass over its
    /// memory map (one entry per stack in the result).
    ///
    /// Each frame gives at least one [`UserFrame`] carrying the frame's own
    /// address; functions inlined at that address come first, innermost
    /// first, marked `inlined`. Return addresses are looked up one byte
    /// back, inside the call instruction. Functions a tail call left off
    /// the stack follow their callee, at their entry, marked `tail_call`.
    pub fn symbolize_user_stacks(
        &self,
        pid: u32,
        stacks: &[&[Frame]],
        modules: &ProcessModules,
    ) -> Vec<Vec<UserFrame>> {
        // Most threads of a service wait in the same few places: each
        // distinct stack is expanded once, each distinct frame looked up
        // and built once, then copied.
        let mut distinct_stacks = Distinct::default();
        for &stack in stacks {
            distinct_stacks.add(stack);
        }
        let tail_calls = TailCalls::new(modules, |module| self.call_sites(pid, module));
        let expanded = distinct_stacks
            .items
            .iter()
            .map(|stack| {
                if pid == 0 {
                    stack.iter().map(|frame| (*frame, false)).collect()
                } else {
                    tail_calls.expand(stack)
                }
            })
            .collect::<Vec<_>>();
        let mut distinct = Distinct::default();
        for (frame, _) in expanded.iter().flat_map(|stack| stack.iter()) {
            distinct.add(*frame);
        }
        let lookups = distinct
            .items
            .iter()
            .map(Frame::lookup_address)
            .collect::<Vec<_>>();
        // blazesym reads pid 0 as "this process", never what is meant here.
        let resolve = pid != 0 && !lookups.is_empty();
        if resolve {
            self.remember(pid, modules);
        }
        let inner = self.inner.borrow();
        let symbolized = if resolve {
            look_up_user(&inner, pid, modules, &lookups)
        } else {
            Vec::new()
        };
        let mut symbolized = symbolized.into_iter();
        let mut perf_map = None;
        let built = distinct
            .items
            .iter()
            .map(|frame| {
                let mut out = Vec::new();
                let sym = symbolized.next().flatten();
                if sym.is_none() && resolve && modules.module_at(frame.address).is_none() {
                    let map = perf_map.get_or_insert_with(|| self.perf_map(pid));
                    if let Some(name) = map.as_ref().and_then(|map| map.name_of(frame.address)) {
                        out.push(jit_frame(frame, name));
                        return out;
                    }
                }
                let sites = modules
                    .module_at(frame.address)
                    .filter(|_| resolve)
                    .and_then(|module| self.call_sites(pid, module));
                push_user_frames(&mut out, frame, sym.as_ref(), modules, sites.as_deref());
                out
            })
            .collect::<Vec<_>>();
        let frames_of_stacks: Vec<Vec<UserFrame>> = expanded
            .iter()
            .map(|stack| {
                stack
                    .iter()
                    .flat_map(|(frame, tail_call)| {
                        built[distinct.index[frame]]
                            .iter()
                            .cloned()
                            .map(|built| UserFrame {
                                tail_call: *tail_call,
                                ..built
                            })
                    })
                    .collect()
            })
            .collect();
        stacks
            .iter()
            .map(|stack| frames_of_stacks[distinct_stacks.index[stack]].clone())
            .collect()
    }

    /// The call sites of `module` of process `pid`, read once per file.
    fn call_sites(&self, pid: u32, module: &ModuleInfo) -> Option<Rc<CallSites>> {
        if !module.path.starts_with('/') {
            return None;
        }
        let path = map_files_path(pid, &module.avma_range);
        let meta = std::fs::metadata(&path).ok()?;
        let key = (meta.dev(), meta.ino());
        if let Some(known) = self.call_sites.borrow().get(&key) {
            return known.clone();
        }
        let disk = self
            .call_sites_disk
            .get_or_init(|| {
                BootKey::running_now()
                    .inspect_err(|e| log::debug!("no call-site cache: {BOOT_ID}: {e}"))
                    .ok()
                    .map(BootCache::running)
            })
            .as_ref()
            .map(|cache| (cache, FileStamp::of(&meta)));
        let sites = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| CallSites::read(&bytes, &format!("/proc/{pid}/root"), disk))
            .inspect_err(|e| log::debug!("no tail-call frames in {}: {e}", module.path))
            .ok()
            .map(Rc::new);
        let mut cache = self.call_sites.borrow_mut();
        if cache.len() >= CACHED_CALL_SITES {
            cache.clear();
        }
        cache.insert(key, sites.clone());
        sites
    }

    /// Process `pid`'s perf map, read again only when the file changed.
    pub fn perf_map(&self, pid: u32) -> Option<Rc<PerfMap>> {
        let path = perf_map_path(pid);
        let version = map_version(&path);
        let mut maps = self.perf_maps.borrow_mut();
        if let Some(read) = maps.get(&pid).filter(|read| read.version == version) {
            return read.map.clone();
        }
        let map = version
            .and_then(|_| {
                std::fs::read(&path)
                    .inspect_err(|e| log::debug!("cannot read {}: {e}", path.display()))
                    .ok()
            })
            .map(|bytes| Rc::new(PerfMap::parse(&String::from_utf8_lossy(&bytes))));
        maps.insert(
            pid,
            PerfMapRead {
                version,
                map: map.clone(),
            },
        );
        map
    }

    /// Makes the kernel's symbols ready: waits for a background read,
    /// reads them if they are missing or modules changed since.
    pub fn load_kernel_symbols(&self) {
        let mut table = self.kernel.borrow_mut();
        let read = match std::mem::replace(&mut *table, KernelTable::Read(None)) {
            KernelTable::Loading(loading) => loading.wait(),
            KernelTable::Read(Some(symbols)) if !symbols.is_stale() => Ok(symbols),
            KernelTable::Read(_) => KernelSymbols::read(),
        };
        *table = KernelTable::Read(
            read.inspect_err(|e| log::debug!("kernel frames stay addresses: {e}"))
                .ok(),
        );
    }

    /// Symbolizes kernel return addresses as `symbol+0xoff` (and
    /// ` [module]` in a module).
    pub fn symbolize_kernel(&self, addrs: &[u64]) -> Vec<KernelFrame> {
        if addrs.is_empty() {
            return Vec::new();
        }
        self.load_kernel_symbols();
        let table = self.kernel.borrow();
        let KernelTable::Read(kernel) = &*table else {
            unreachable!("the table was just loaded");
        };
        let mut distinct = Distinct::default();
        for &address in addrs {
            distinct.add(address);
        }
        let names = distinct
            .items
            .iter()
            .map(|&address| {
                let symbol = kernel.as_ref()?.find(address)?;
                Some(symbol.to_string())
            })
            .collect::<Vec<_>>();
        addrs
            .iter()
            .map(|&address| KernelFrame {
                address,
                function: names[distinct.index[&address]].clone(),
            })
            .collect()
    }

    /// Records that `pid` is being symbolized and evicts the files of the
    /// least recently symbolized process beyond [`CACHED_PROCESSES`].
    ///
    /// blazesym looks files up by their `/proc/PID/map_files/` path, which
    /// no other process shares, but keeps each parsed file once by device,
    /// inode, size and modification time: every process mapping the same
    /// libc shares one parse, which lives until the last path naming it is
    /// evicted.
    fn remember(&self, pid: u32, modules: &ProcessModules) {
        let map_files = modules
            .modules()
            .iter()
            .filter(|m| m.path.starts_with('/'))
            .map(|m| map_files_path(pid, &m.avma_range))
            .collect::<Vec<_>>();
        let mut recent = self.recent.borrow_mut();
        let mut entry = recent
            .iter()
            .position(|p| p.pid == pid)
            .and_then(|index| recent.remove(index))
            .unwrap_or_else(|| CachedProcess {
                pid,
                map_files: Vec::new(),
            });
        for path in map_files {
            if !entry.map_files.contains(&path) {
                entry.map_files.push(path);
            }
        }
        recent.push_front(entry);
        if recent.len() <= CACHED_PROCESSES {
            return;
        }
        let mut inner = self.inner.borrow_mut();
        for old in recent.drain(CACHED_PROCESSES..) {
            for path in old.map_files {
                if let Err(e) = inner.evict(&evict::Elf::new(path).into()) {
                    log::debug!("could not evict symbols: {e}");
                }
            }
            if let Err(e) = inner.evict(&evict::Process::new(old.pid.into()).into()) {
                log::debug!("could not evict process {}: {e}", old.pid);
            }
            self.perf_maps.borrow_mut().remove(&old.pid);
        }
    }
}

/// Looks `addresses` of process `pid` up (`None` where nothing names one).
///
/// Each address is looked up in the file its module maps, at its file
/// offset, through `/proc/PID/map_files/` (which reaches deleted files and
/// other mount namespaces): `modules` was read from the report's one read of
/// `/proc/PID/maps`, which blazesym's process source would read again (2 ms
/// for a 2,000-thread process's 4,000 mappings). Addresses in the vDSO,
/// which no file holds, go through the process source, which reads the
/// vDSO from the process; addresses outside every module stay unknown here
/// (perf maps are read by the caller, not by blazesym: one it cannot parse
/// would fail every address of the process, see `jit`).
fn look_up_user<'s>(
    symbolizer: &'s blazesym::symbolize::Symbolizer,
    pid: u32,
    modules: &ProcessModules,
    addresses: &[u64],
) -> Vec<Option<Sym<'s>>> {
    /// The lookups of one source: positions in `addresses`, and inputs.
    #[derive(Default)]
    struct Batch {
        positions: Vec<usize>,
        inputs: Vec<u64>,
    }
    let mut files: HashMap<u64, (&ModuleInfo, Batch)> = HashMap::new();
    let mut vdso = Batch::default();
    for (position, &address) in addresses.iter().enumerate() {
        let Some(module) = modules.module_at(address) else {
            continue;
        };
        let (batch, input) = if module.path.starts_with('/') {
            let (_, batch) = files
                .entry(module.avma_range.start)
                .or_insert_with(|| (module, Batch::default()));
            (
                batch,
                address - module.avma_range.start + module.file_offset,
            )
        } else {
            (&mut vdso, address)
        };
        batch.positions.push(position);
        batch.inputs.push(input);
    }
    let mut found: Vec<Option<Sym<'s>>> = addresses.iter().map(|_| None).collect();
    let mut fill = |positions: &[usize], source: &Source<'_>, input: Input<&[u64]>| match symbolizer
        .symbolize(source, input)
    {
        Ok(symbolized) => {
            for (&position, sym) in positions.iter().zip(symbolized) {
                found[position] = sym.into_sym();
            }
        }
        Err(e) => log::debug!("could not symbolize addresses of process {pid}: {e}"),
    };
    for (module, batch) in files.values() {
        let source = Source::Elf(Elf::new(map_files_path(pid, &module.avma_range)));
        fill(&batch.positions, &source, Input::FileOffset(&batch.inputs));
    }
    if !vdso.positions.is_empty() {
        let source = Source::Process(Process {
            perf_map: false,
            ..Process::new(pid.into())
        });
        fill(&vdso.positions, &source, Input::AbsAddr(&vdso.inputs));
    }
    found
}

/// `/proc/PID/map_files/START-END`: the file process `pid` maps at
/// `range`, even when deleted or in another mount namespace.
fn map_files_path(pid: u32, range: &Range<u64>) -> PathBuf {
    PathBuf::from(format!(
        "/proc/{pid}/map_files/{:x}-{:x}",
        range.start, range.end
    ))
}

/// blazesym's symbolizer with source locations, inlined functions and
/// demangling.
fn blazesym_symbolizer() -> blazesym::symbolize::Symbolizer {
    blazesym::symbolize::Symbolizer::builder()
        .enable_code_info(true)
        .enable_inlined_fns(true)
        .enable_demangling(true)
        .build()
}

/// Distinct items in first-seen order, each with its position.
struct Distinct<T> {
    items: Vec<T>,
    index: HashMap<T, usize>,
}

impl<T> Default for Distinct<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            index: HashMap::new(),
        }
    }
}

impl<T: Copy + Eq + Hash> Distinct<T> {
    /// Adds `item` unless it was seen before.
    fn add(&mut self, item: T) {
        if let Entry::Vacant(slot) = self.index.entry(item) {
            slot.insert(self.items.len());
            self.items.push(item);
        }
    }
}

/// Appends the frames for `frame`: its inlined functions innermost first,
/// then the function the code belongs to. Functions of C++ code take
/// gdb's names from the image's DWARF (`sites`); a function only the
/// symbol table names takes its public alias, as gdb shows it.
fn push_user_frames(
    out: &mut Vec<UserFrame>,
    frame: &Frame,
    sym: Option<&Sym<'_>>,
    modules: &ProcessModules,
    sites: Option<&CallSites>,
) {
    let module = modules.module_at(frame.address);
    let module_path = module.map(|m| m.path.clone()).or_else(|| {
        sym.and_then(|s| s.module.as_ref())
            .map(|m| m.to_string_lossy().into_owned())
    });
    let base = UserFrame {
        kind: FrameKind::Native,
        address: frame.address,
        function: None,
        module: module_path,
        module_offset: module.and_then(|m| m.stated_address(frame.address)),
        file: None,
        line: None,
        inlined: false,
        tail_call: false,
        source: None,
    };
    let go_frames = module.and_then(|m| {
        let pc = m.stated_address(frame.lookup_address())?;
        m.go_binary()?.frames(pc)
    });
    if let Some(go_frames) = go_frames {
        out.extend(go_frames.into_iter().map(|go| UserFrame {
            function: Some(go.function),
            file: go.file,
            line: go.line,
            inlined: go.inlined,
            ..base.clone()
        }));
        return;
    }
    let Some(sym) = sym else {
        out.push(UserFrame {
            function: frame.is_signal_trampoline.then(|| SIGNAL_FRAME.to_owned()),
            ..base
        });
        return;
    };
    // gdb's names for the function and its inlined ones, outermost first,
    // where the DWARF has them for every one blazesym lists.
    let cxx = sites
        .and_then(CallSites::cxx_names)
        .zip(module.and_then(|m| m.stated_address(frame.lookup_address())))
        .and_then(|(names, address)| names.frame_names(address))
        .filter(|names| names.len() == sym.inlined.len() + 1)
        .unwrap_or_default();
    // gdb names a function only the symbol table knows by its whole
    // demangled name, a template's return type included.
    let symbol_table_only = sym.code_info.is_none();
    let name_of = |index: usize, blazesym: &str| -> String {
        match cxx.get(index).cloned().flatten() {
            Some(name) => name,
            None if index == 0 && symbol_table_only => libiberty_literals(blazesym),
            None => libiberty_literals(without_return_type(blazesym)),
        }
    };
    // blazesym lists inlined calls outermost first, each with the location
    // inside it; the symbol's own location is where it calls the first one.
    for (index, inlined) in sym.inlined.iter().enumerate().rev() {
        out.push(UserFrame {
            function: Some(name_of(index + 1, &inlined.name)),
            inlined: true,
            ..located(&base, inlined.code_info.as_ref())
        });
    }
    let public = sites
        .map(CallSites::public_names)
        .filter(|_| symbol_table_only)
        .and_then(|names| names.public_alias(sym.addr, &sym.name));
    out.push(UserFrame {
        function: Some(name_of(0, public.unwrap_or(&sym.name))),
        ..located(&base, sym.code_info.as_deref())
    });
}

/// A frame of JIT code that the runtime's perf map names `name`.
fn jit_frame(frame: &Frame, name: &str) -> UserFrame {
    UserFrame {
        kind: FrameKind::Jit,
        address: frame.address,
        function: Some(name.to_owned()),
        module: None,
        module_offset: None,
        file: None,
        line: None,
        inlined: false,
        tail_call: false,
        source: None,
    }
}

/// `base` with the source file and line of `code_info`, if any.
fn located(base: &UserFrame, code_info: Option<&CodeInfo<'_>>) -> UserFrame {
    UserFrame {
        file: code_info.map(|info| info.to_path().to_string_lossy().into_owned()),
        line: code_info.and_then(|info| info.line),
        ..base.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_keeps_first_seen_order_and_positions() {
        let mut distinct = Distinct::default();
        for item in [7u64, 3, 7, 9, 3] {
            distinct.add(item);
        }
        assert_eq!(distinct.items, [7, 3, 9]);
        assert_eq!(distinct.index[&9], 2);
    }

    #[test]
    fn repeated_frames_get_the_same_symbols_in_every_stack() {
        let pid = std::process::id();
        let modules = ProcessModules::load(pid).expect("our own modules");
        let here = repeated_frames_get_the_same_symbols_in_every_stack as *const () as u64;
        let exact = Frame {
            address: here,
            is_return_address: false,
            is_signal_trampoline: false,
        };
        let ret = Frame {
            address: here + 1,
            is_return_address: true,
            ..exact
        };
        let stacks = [&[exact, ret][..], &[ret][..], &[exact, ret][..]];
        let out = Symbolizer::new().symbolize_user_stacks(pid, &stacks, &modules);
        assert_eq!(out.len(), 3);
        assert_eq!(out[0], out[2]);
        assert!(out[0].ends_with(&out[1]), "{out:#?}");
        let name = out[0][0].function.as_deref().expect("a function name");
        assert!(
            name.ends_with("repeated_frames_get_the_same_symbols_in_every_stack"),
            "{name}"
        );
    }

    /// vDSO code is in no file: it is named from the process's memory,
    /// beside code named from files (libc's `getpid`) in the same pass.
    #[test]
    fn vdso_and_file_code_are_named_in_one_pass() {
        use object::{Object as _, ObjectSymbol as _};
        let pid = std::process::id();
        let modules = ProcessModules::load(pid).expect("our own modules");
        let Some(vdso) = modules.modules().iter().find(|m| m.path == "[vdso]") else {
            println!("SKIP: this process maps no vDSO");
            return;
        };
        // SAFETY: the vDSO's mapping is readable for the process's lifetime.
        let image = unsafe {
            std::slice::from_raw_parts(
                vdso.avma_range.start as *const u8,
                (vdso.avma_range.end - vdso.avma_range.start) as usize,
            )
        };
        let elf = object::File::parse(image).expect("the vDSO is an ELF image");
        let clock_gettime = elf
            .dynamic_symbols()
            .find(|symbol| symbol.name() == Ok("__vdso_clock_gettime"))
            .expect("the vDSO exports __vdso_clock_gettime");
        let in_vdso = Frame {
            address: vdso.base_avma + clock_gettime.address(),
            is_return_address: false,
            is_signal_trampoline: false,
        };
        let in_libc = Frame {
            address: libc::getpid as *const () as u64,
            ..in_vdso
        };
        let out = Symbolizer::new().symbolize_user(pid, &[in_vdso, in_libc], &modules);
        let names = out
            .iter()
            .map(|frame| frame.function.as_deref().unwrap_or("?"))
            .collect::<Vec<_>>();
        assert!(names[0].ends_with("clock_gettime"), "{names:?}");
        assert!(
            names.last().is_some_and(|name| name.contains("getpid")),
            "{names:?}"
        );
    }

    #[test]
    fn repeated_kernel_addresses_get_the_same_symbol() {
        let kallsyms = std::fs::read_to_string("/proc/kallsyms").unwrap_or_default();
        let Some(address) = kallsyms
            .lines()
            .filter_map(|line| u64::from_str_radix(line.split(' ').next()?, 16).ok())
            .find(|&address| address != 0)
        else {
            println!("SKIP: /proc/kallsyms shows no addresses (needs root)");
            return;
        };
        let frames = Symbolizer::new().symbolize_kernel(&[address, address + 1, address]);
        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], frames[2]);
        assert_eq!(frames[1].address, address + 1);
        assert!(frames[0].function.is_some(), "{frames:?}");
    }
}
