//! Every goroutine of a running Go process, read from its memory with
//! `process_vm_readv` while it runs (no ptrace, no pause): the runtime's
//! list `runtime.allgs`, then each `runtime.g` (id, status, wait reason
//! and time, thread, creator) and the stack its saved registers point at.
//!
//! The process keeps running, so each goroutine is read, walked, and read
//! again; one whose status or registers moved meanwhile is read again (up
//! to [`ATTEMPTS`] times) and otherwise kept with its id and state only,
//! marked unreliable with the reason. States are printed with the
//! runtime's own words: its `gStatusStrings` and `waitReasonStrings`,
//! read from the process, so each Go release names its states itself.
//! Field offsets come from the executable's DWARF when it has it, else
//! per Go release ([`layout`]); the runtime's
//! variables from the symbol table, or by content when it was stripped
//! ([`unsymbolled`]).

pub mod dwarf_layout;
pub mod layout;
pub mod stack;
pub mod unsymbolled;

use std::collections::HashMap;
use std::fs::File;
use std::time::{Duration, Instant};

use object::read::ReadCache;
use object::{Object, ObjectSegment, ObjectSymbol};
use procfs::process::{MMapPath, MemoryMap};

use self::layout::GLayout;
use self::stack::{Walker, name_for_print, shown, trace_pc};
use super::{GoBinary, GoFrame};
use crate::proc::memory::{ProcessMemory, ReadError};

/// Most goroutines read; a larger `allgs` is cut there, saying so.
pub const MAX_GOROUTINES: usize = 1_000_000;
/// Reads of one goroutine before it is kept without its stack.
pub const ATTEMPTS: usize = 4;
/// Most bytes of one goroutine's stack read (the deepest real stacks are
/// a few hundred KiB; the runtime's own limit is 1 GB).
const MAX_STACK: u64 = 8 << 20;
/// `_Gscan`: the bit the garbage collector sets while scanning a stack.
const G_SCAN: u32 = 0x1000;
/// `_Grunning`, `_Gsyscall`, `_Gwaiting`, `_Gdead`, and (Go 1.26 on;
/// unused numbers before) `_Gleaked`, a waiting goroutine found leaked,
/// and `_Gdeadextra`, the dead goroutine kept for a cgo callback's thread.
const G_RUNNING: u32 = 2;
const G_SYSCALL: u32 = 3;
const G_WAITING: u32 = 4;
const G_DEAD: u32 = 6;
const G_LEAKED: u32 = 10;
const G_DEAD_EXTRA: u32 = 11;
/// Longest state string read from the runtime's tables.
const MAX_STATE: u64 = 128;

/// Why the goroutines could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum GoroutineError {
    /// The executable could not be opened or parsed.
    #[error("could not read the Go executable /proc/{pid}/exe: {reason}")]
    Executable {
        /// The process.
        pid: u32,
        /// What failed.
        reason: String,
    },
    /// A runtime variable the reader needs was found neither by its
    /// symbol nor, in a stripped binary, by its contents.
    #[error("{0} not found: no symbol, and no candidate passed the check by content")]
    NotFound(&'static str),
    /// No usable DWARF and no offset table for this Go release.
    #[error(transparent)]
    NoLayout(#[from] layout::NoLayout),
    /// The version string could not be parsed.
    #[error("unrecognised Go version {0:?}")]
    BadVersion(String),
    /// A read of the runtime's own tables failed.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The runtime's list of goroutines kept changing.
    #[error("runtime.allgs changed on each of {ATTEMPTS} reads")]
    Unstable,
}

/// One goroutine as read.
#[derive(Clone, Debug)]
pub struct Goroutine {
    /// `goid`.
    pub id: u64,
    /// The runtime's word for its state (`chan receive`, `running`).
    pub state: String,
    /// Whole minutes it has been blocked, as the runtime prints them;
    /// `None` unless waiting or in a system call with a recorded start.
    pub wait_minutes: Option<u64>,
    /// The OS thread (tid) it runs on, when running or in a system call.
    pub thread: Option<u32>,
    /// True when locked to its thread (`runtime.LockOSThread`).
    pub locked: bool,
    /// The `go` statement that created it.
    pub created_by: Option<CreatedBy>,
    /// Its frames, innermost first (empty while it runs: its stack is its
    /// thread's).
    pub frames: Vec<GoFrame>,
    /// Why its frames are missing or cut, if they are.
    pub note: Option<String>,
}

/// Where a goroutine was created.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreatedBy {
    /// The function holding the `go` statement.
    pub function: String,
    /// Its file and line.
    pub file: Option<String>,
    /// See `file`.
    pub line: Option<u32>,
    /// The creating goroutine's id (Go 1.21 and later).
    pub goroutine: Option<u64>,
}

/// Every goroutine found.
#[derive(Clone, Debug)]
pub struct Goroutines {
    /// The Go release that built the binary (`go1.22.10`).
    pub version: String,
    /// Where the field offsets came from (`layout: DWARF of /usr/bin/x`).
    pub layout: String,
    /// User goroutines in `allgs` order (the ones `runtime.Stack` lists).
    pub goroutines: Vec<Goroutine>,
    /// The runtime's own goroutines (garbage collector, scavenger…), left
    /// out as `runtime.Stack` leaves them out.
    pub system: usize,
    /// Why the list is partial, if it is.
    pub incomplete: Option<String>,
    /// How long reading took.
    pub elapsed: Duration,
}

/// A Go process, ready for its goroutines to be read.
pub struct GoProcess {
    memory: ProcessMemory,
    binary: GoBinary,
    version: String,
    layout: GLayout,
    /// Where `layout` came from, for the section's note.
    layout_source: String,
    /// Run-time address minus stated address.
    bias: u64,
    allgs: u64,
    statuses: Vec<String>,
    wait_reasons: Vec<String>,
}

impl GoProcess {
    /// Opens the executable of Go process `pid` (built by `version`),
    /// whose memory map is `maps`.
    ///
    /// # Errors
    ///
    /// When the executable cannot be read, lacks the runtime's symbols,
    /// or was built by a release without a layout here.
    pub fn open(pid: u32, version: &str, maps: &[MemoryMap]) -> Result<Self, GoroutineError> {
        let minor = minor_version(version)?;
        let exe = format!("/proc/{pid}/exe");
        let failed = |reason: String| GoroutineError::Executable { pid, reason };
        let file = File::open(&exe).map_err(|e| failed(e.to_string()))?;
        let cache = ReadCache::new(file);
        let elf = object::File::parse(&cache).map_err(|e| failed(e.to_string()))?;
        let name = std::fs::read_link(&exe).map_or(exe, |path| path.display().to_string());
        let (layout, layout_source) = GLayout::choose(&elf, &name, version, minor)?;
        let binary = GoBinary::read(&cache)
            .map_err(|e| failed(e.to_string()))?
            .ok_or_else(|| failed("no .gopclntab".to_owned()))?;
        let symbol = |name: &str| {
            elf.symbols()
                .find(|s| s.name_bytes().ok() == Some(name.as_bytes()))
                .map(|s| (s.address(), s.size() / 16))
        };
        let bias = load_bias(&elf, pid, maps);
        let memory = ProcessMemory::new(pid);
        let arrays = symbol("runtime.gStatusStrings").zip(symbol("runtime.waitReasonStrings"));
        let ((statuses, statuses_len), (reasons, reasons_len)) = arrays
            .or_else(|| unsymbolled::string_arrays(&elf, &memory, bias))
            .ok_or(GoroutineError::NotFound(
                "runtime.gStatusStrings and runtime.waitReasonStrings",
            ))?;
        let allgs = match symbol("runtime.allgs") {
            Some((address, _)) => address + bias,
            None => unsymbolled::allgs(&elf, &binary, &layout, &memory, bias)
                .ok_or(GoroutineError::NotFound("runtime.allgs"))?,
        };
        Ok(GoProcess {
            statuses: read_strings(&memory, statuses + bias, statuses_len)?,
            wait_reasons: read_strings(&memory, reasons + bias, reasons_len)?,
            memory,
            binary,
            version: version.to_owned(),
            layout,
            layout_source,
            bias,
            allgs,
        })
    }

    /// Reads every goroutine, stopping at [`MAX_GOROUTINES`] or after
    /// `budget`.
    ///
    /// # Errors
    ///
    /// When `runtime.allgs` cannot be read consistently.
    pub fn goroutines(&self, budget: Duration) -> Result<Goroutines, GoroutineError> {
        let started = Instant::now();
        let pointers = self.all_gs()?;
        let mut incomplete = (pointers.len() == MAX_GOROUTINES)
            .then(|| format!("only the first {MAX_GOROUTINES} goroutines are read"));
        let now = monotonic_ns();
        let mut seen = Seen {
            walker: Walker::new(&self.binary, self.bias, self.layout.wrapper_func_id),
            system: HashMap::new(),
            creators: HashMap::new(),
        };
        let mut goroutines = Vec::new();
        let mut system = 0;
        let mut unreadable = 0;
        let mut first_error = None;
        for (index, &g) in pointers.iter().enumerate() {
            if started.elapsed() > budget {
                incomplete = Some(format!(
                    "the section's time ran out after {index} of {} goroutines",
                    pointers.len()
                ));
                break;
            }
            match self.goroutine(&mut seen, g, now) {
                Read::Dead => {}
                Read::System => system += 1,
                Read::User(goroutine) => goroutines.push(*goroutine),
                Read::Failed(error) => {
                    unreadable += 1;
                    first_error.get_or_insert(format!("the one at {g:#x}: {error}"));
                }
            }
        }
        if let Some(error) = first_error {
            // An unreadable `runtime.g` (freed memory, a torn pointer) has
            // no id or state to show: counted, never listed with made-up ones.
            let unread = format!("{unreadable} goroutine(s) could not be read ({error})");
            incomplete = Some(match incomplete {
                Some(reason) => format!("{reason}; {unread}"),
                None => unread,
            });
        }
        Ok(Goroutines {
            version: self.version.clone(),
            layout: self.layout_source.clone(),
            goroutines,
            system,
            incomplete,
            elapsed: started.elapsed(),
        })
    }

    /// The `allgs` slice's pointers, read until the slice stays put.
    fn all_gs(&self) -> Result<Vec<u64>, GoroutineError> {
        for _ in 0..ATTEMPTS {
            let header = self.memory.read_bytes(self.allgs, 16)?;
            let (array, len) = (u64_at(&header, 0), u64_at(&header, 8));
            let len = usize::try_from(len)
                .unwrap_or(usize::MAX)
                .min(MAX_GOROUTINES);
            let mut bytes = vec![0; len * 8];
            self.memory.read_into(array, &mut bytes)?;
            if self.memory.read_bytes(self.allgs, 16)? == header {
                return Ok((0..len).map(|i| u64_at(&bytes, i * 8)).collect());
            }
        }
        Err(GoroutineError::Unstable)
    }

    /// Reads the goroutine at `g`, at monotonic time `now`.
    fn goroutine(&self, seen: &mut Seen, g: u64, now: u64) -> Read {
        let mut last = None;
        for _ in 0..ATTEMPTS {
            let before = match self.memory.read_bytes(g, self.layout.g_size()) {
                Ok(bytes) => Fields::of(&bytes, &self.layout),
                Err(error) => return Read::Failed(error.to_string()),
            };
            if matches!(before.status, G_DEAD | G_DEAD_EXTRA) {
                return Read::Dead;
            }
            let system = *seen
                .system
                .entry(before.startpc)
                .or_insert_with(|| self.is_system(&before));
            if system {
                return Read::System;
            }
            let (frames, cut) = self.stack(&mut seen.walker, &before);
            let after = match self.memory.read_bytes(g, self.layout.g_size()) {
                Ok(bytes) => Fields::of(&bytes, &self.layout),
                Err(error) => return Read::Failed(error.to_string()),
            };
            if after == before {
                return Read::User(Box::new(self.described(seen, &before, now, frames, cut)));
            }
            last = Some(after);
        }
        let Some(fields) = last else {
            return Read::Failed("not read".to_owned());
        };
        let note =
            format!("its stack is not shown: it moved while being read ({ATTEMPTS} attempts)");
        Read::User(Box::new(self.described(
            seen,
            &fields,
            now,
            Vec::new(),
            Some(note),
        )))
    }

    /// Whether the goroutine is the runtime's own (its first function is
    /// in package `runtime` and is not `runtime.main`), which
    /// `runtime.Stack` leaves out.
    fn is_system(&self, fields: &Fields) -> bool {
        let stated = fields.startpc.wrapping_sub(self.bias);
        let table = self.binary.table();
        table
            .func_at(stated)
            .and_then(|func| table.name(func))
            .is_some_and(|name| name.starts_with("runtime.") && name != "runtime.main")
    }

    /// The frames of a parked goroutine, or why there are none.
    fn stack(&self, walker: &mut Walker, fields: &Fields) -> (Vec<GoFrame>, Option<String>) {
        let (pc, sp) = match fields.status {
            G_RUNNING => return (Vec::new(), None),
            G_SYSCALL => (fields.syscall_pc, fields.syscall_sp),
            _ => (fields.sched_pc, fields.sched_sp),
        };
        if sp == 0 || pc == 0 || sp >= fields.stack_hi {
            return (
                Vec::new(),
                Some("no saved registers to walk its stack from".to_owned()),
            );
        }
        let len = (fields.stack_hi - sp).min(MAX_STACK);
        let mut stack = vec![0; len as usize];
        if let Err(error) = self.memory.read_into(sp, &mut stack) {
            return (
                Vec::new(),
                Some(format!("its stack could not be read: {error}")),
            );
        }
        let walked = walker.walk(&stack, pc, sp);
        (walked.frames, walked.cut)
    }

    /// The goroutine `fields` describe, as reported.
    fn described(
        &self,
        seen: &mut Seen,
        fields: &Fields,
        now: u64,
        frames: Vec<GoFrame>,
        cut: Option<String>,
    ) -> Goroutine {
        let status = fields.status;
        let mut state = self
            .statuses
            .get(status as usize)
            .cloned()
            .unwrap_or_else(|| "???".to_owned());
        if matches!(status, G_WAITING | G_LEAKED) && fields.waitreason != 0 {
            state = self
                .wait_reasons
                .get(usize::from(fields.waitreason))
                .cloned()
                .unwrap_or_else(|| "unknown wait reason".to_owned());
        }
        let waiting = matches!(status, G_WAITING | G_SYSCALL) && fields.waitsince != 0;
        let wait_minutes = waiting.then(|| now.saturating_sub(fields.waitsince) / 60_000_000_000);
        let thread = match (status, fields.m) {
            (G_RUNNING | G_SYSCALL, m) if m != 0 => self
                .memory
                .read_u64(m + self.layout.m_procid)
                .ok()
                .and_then(|tid| u32::try_from(tid).ok()),
            _ => None,
        };
        let note = match (status, thread) {
            (G_RUNNING, Some(tid)) => Some(format!(
                "running on thread {tid}: its stack is that thread's, under Threads"
            )),
            (G_RUNNING, None) => {
                Some("running: its stack is its thread's, under Threads".to_owned())
            }
            _ => cut,
        };
        Goroutine {
            id: fields.goid,
            state,
            wait_minutes,
            thread,
            locked: fields.lockedm != 0,
            created_by: seen
                .creators
                .entry(fields.gopc)
                .or_insert_with(|| self.created_by(fields))
                .clone()
                .filter(|_| fields.goid != 1)
                .map(|mut creator| {
                    creator.goroutine = fields.parent_goid;
                    creator
                }),
            frames,
            note,
        }
    }

    /// The `go` statement at `gopc`, as the runtime prints it: the
    /// function holding it, the line of the call (the innermost inlined
    /// position), and the parent's id; none for goroutine 1.
    fn created_by(&self, fields: &Fields) -> Option<CreatedBy> {
        if fields.gopc == 0 {
            return None;
        }
        let stated = fields.gopc.wrapping_sub(self.bias);
        let table = self.binary.table();
        let func = table.func_at(stated)?;
        let frames = self.binary.frames(trace_pc(stated, func.entry))?;
        let (innermost, outer) = (frames.first()?, frames.last()?);
        if !shown(&innermost.function) {
            return None;
        }
        Some(CreatedBy {
            function: name_for_print(&outer.function),
            file: innermost.file.clone(),
            line: innermost.line,
            goroutine: fields.parent_goid,
        })
    }
}

/// What one report has worked out so far, by address: many goroutines
/// share their first function, creator and stack pcs.
struct Seen<'a> {
    walker: Walker<'a>,
    /// Whether a first function (`startpc`) makes a goroutine the runtime's.
    system: HashMap<u64, bool>,
    /// The creator at a `gopc`, without the parent's id.
    creators: HashMap<u64, Option<CreatedBy>>,
}

/// What reading one `allgs` entry gave.
enum Read {
    /// A free goroutine kept for reuse: not listed.
    Dead,
    /// One of the runtime's own.
    System,
    /// A user goroutine.
    User(Box<Goroutine>),
    /// Its `runtime.g` could not be read.
    Failed(String),
}

/// The fields of one `runtime.g` read; two reads agree when these do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Fields {
    stack_hi: u64,
    m: u64,
    sched_sp: u64,
    sched_pc: u64,
    syscall_sp: u64,
    syscall_pc: u64,
    status: u32,
    goid: u64,
    waitsince: u64,
    waitreason: u8,
    lockedm: u64,
    parent_goid: Option<u64>,
    gopc: u64,
    startpc: u64,
}

impl Fields {
    /// Decodes `bytes` (a `runtime.g`, [`GLayout::g_size`] long).
    fn of(bytes: &[u8], layout: &GLayout) -> Self {
        let word = |offset: u64| u64_at(bytes, offset as usize);
        Fields {
            stack_hi: word(layout.stack_hi),
            m: word(layout.m),
            sched_sp: word(layout.sched_sp),
            sched_pc: word(layout.sched_pc),
            syscall_sp: word(layout.syscall_sp),
            syscall_pc: word(layout.syscall_pc),
            status: (word(layout.status) as u32) & !G_SCAN,
            goid: word(layout.goid),
            waitsince: word(layout.waitsince),
            waitreason: bytes.get(layout.waitreason as usize).copied().unwrap_or(0),
            lockedm: word(layout.lockedm),
            parent_goid: layout.parent_goid.map(word),
            gopc: word(layout.gopc),
            startpc: word(layout.startpc),
        }
    }
}

/// The minor number of Go release `version` (`go1.22.10` → 22).
fn minor_version(version: &str) -> Result<u32, GoroutineError> {
    version
        .strip_prefix("go1.")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|minor| minor.parse().ok())
        .ok_or_else(|| GoroutineError::BadVersion(version.to_owned()))
}

/// How far above its stated addresses the executable is loaded: 0 for a
/// fixed-address one, the start of its first mapping for a
/// position-independent one.
fn load_bias<'data, R: object::ReadRef<'data>>(
    elf: &object::File<'data, R>,
    pid: u32,
    maps: &[MemoryMap],
) -> u64 {
    if elf.kind() != object::ObjectKind::Dynamic {
        return 0;
    }
    let Ok(path) = std::fs::read_link(format!("/proc/{pid}/exe")) else {
        return 0;
    };
    let first_segment = elf
        .segments()
        .find(|s| s.file_range().0 == 0)
        .map_or(0, |s| s.address());
    maps.iter()
        .find(|m| m.offset == 0 && matches!(&m.pathname, MMapPath::Path(p) if *p == path))
        .map_or(0, |m| m.address.0.wrapping_sub(first_segment))
}

/// The `count` Go strings (pointer, length) of the array at `address`.
fn read_strings(
    memory: &ProcessMemory,
    address: u64,
    count: u64,
) -> Result<Vec<String>, ReadError> {
    let headers = memory.read_bytes(address, usize::try_from(count * 16).unwrap_or(usize::MAX))?;
    (0..count as usize)
        .map(|i| {
            let (pointer, len) = (u64_at(&headers, i * 16), u64_at(&headers, i * 16 + 8));
            if len == 0 {
                return Ok(String::new());
            }
            let bytes = memory.read_bytes(pointer, len.min(MAX_STATE) as usize)?;
            Ok(String::from_utf8_lossy(&bytes).into_owned())
        })
        .collect()
}

/// `CLOCK_MONOTONIC` in nanoseconds: the runtime's `nanotime`, which
/// stamps `waitsince`.
fn monotonic_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    (now.tv_sec as u64).saturating_mul(1_000_000_000) + now.tv_nsec as u64
}

/// The little-endian word at `at` in `bytes`; 0 past the end.
fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes
        .get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::minor_version;

    #[test]
    fn minor_versions_are_parsed_and_garbage_refused() {
        assert_eq!(minor_version("go1.22.10").unwrap(), 22);
        assert_eq!(minor_version("go1.27rc1").unwrap(), 27);
        assert!(minor_version("devel +abc").is_err());
    }
}
