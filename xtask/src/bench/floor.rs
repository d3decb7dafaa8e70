//! The floor of a hook's cost: an empty eBPF program (`r0 = 0; exit`)
//! attached by name to the same tracepoint as gmr's, so the bench can say
//! what any eBPF tool pays there and how much more gmr's programs cost;
//! and each program's own run time as the kernel counts it
//! (`BPF_ENABLE_STATS`: `run_time_ns` and `run_cnt` per program), which
//! is exact where timing a syscall loop drowns a few ns in the machine's
//! noise.
//!
//! Hand-written on the bpf(2) syscall: the program is two instructions, and
//! loading it through aya would need an eBPF object built for the bench
//! alone. A raw tracepoint program runs through the same `bpf_trace_run`
//! dispatch as gmr's `raw_tp` and `tp_btf` programs.

use std::{
    ops::{Add, Sub},
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{Context as _, Result, bail};

/// `BPF_PROG_LOAD`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_RAW_TRACEPOINT_OPEN`.
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
/// `BPF_PROG_GET_FD_BY_ID`.
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
/// `BPF_OBJ_GET_INFO_BY_FD`.
const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
/// `BPF_ENABLE_STATS`.
const BPF_ENABLE_STATS: libc::c_long = 32;
/// `BPF_STATS_RUN_TIME`.
const BPF_STATS_RUN_TIME: u32 = 0;
/// `BPF_PROG_TYPE_RAW_TRACEPOINT`.
const BPF_PROG_TYPE_RAW_TRACEPOINT: u32 = 17;
/// `sizeof(union bpf_attr)` the kernel reads; the rest is zero.
const ATTR_SIZE: usize = 128;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Clone, Copy)]
struct Instruction {
    code: u8,
    /// `dst_reg` in the low nibble, `src_reg` in the high one.
    registers: u8,
    offset: i16,
    immediate: i32,
}

/// `r0 = 0; exit`.
const EMPTY_PROGRAM: [Instruction; 2] = [
    // BPF_ALU64 | BPF_MOV | BPF_K
    Instruction {
        code: 0xb7,
        registers: 0,
        offset: 0,
        immediate: 0,
    },
    // BPF_JMP | BPF_EXIT
    Instruction {
        code: 0x95,
        registers: 0,
        offset: 0,
        immediate: 0,
    },
];

/// The `BPF_PROG_LOAD` part of `union bpf_attr`, padded to [`ATTR_SIZE`].
#[repr(C)]
struct ProgramLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    padding: [u8; ATTR_SIZE - 24],
}

/// The `BPF_RAW_TRACEPOINT_OPEN` part of `union bpf_attr`, padded.
#[repr(C)]
struct RawTracepointOpen {
    name: u64,
    prog_fd: u32,
    padding: [u8; ATTR_SIZE - 12],
}

/// The `BPF_ENABLE_STATS`, `BPF_PROG_GET_FD_BY_ID` and
/// `BPF_OBJ_GET_INFO_BY_FD` parts of `union bpf_attr` share this shape:
/// one u32 (the stats type, the program id or the fd), then for the last
/// the info buffer's length and address.
#[repr(C)]
struct ObjectAttr {
    first: u32,
    info_len: u32,
    info: u64,
    padding: [u8; ATTR_SIZE - 16],
}

impl ObjectAttr {
    fn new(first: u32) -> Self {
        Self {
            first,
            info_len: 0,
            info: 0,
            padding: [0; ATTR_SIZE - 16],
        }
    }
}

/// `struct bpf_prog_info` up to `run_cnt`, as bytes; the kernel fills the
/// `info_len` bytes it is given.
const PROG_INFO_LEN: usize = 208;
/// Offset of `name` (`char[16]`) in `struct bpf_prog_info`.
const PROG_INFO_NAME: usize = 64;
/// Offset of `run_time_ns` (u64) in `struct bpf_prog_info`.
const PROG_INFO_RUN_TIME_NS: usize = 192;
/// Offset of `run_cnt` (u64) in `struct bpf_prog_info`.
const PROG_INFO_RUN_CNT: usize = 200;

/// Empty programs attached to tracepoints; dropping it detaches them.
pub struct FloorPrograms {
    program: OwnedFd,
    _links: Vec<OwnedFd>,
}

/// The kernel's run-time statistics of every eBPF program, kept while this
/// lives: a `BPF_ENABLE_STATS` fd, so the statistics go back to what they
/// were (`kernel.bpf_stats_enabled` and other holders count) when it is
/// dropped, even if the bench fails half-way.
pub struct RunTimeStats {
    _enabled: OwnedFd,
}

impl RunTimeStats {
    /// Turns the statistics on (they cost each program run two clock
    /// reads, floor and gmr's alike).
    pub fn enable() -> Result<Self> {
        let enabled = bpf(
            BPF_ENABLE_STATS,
            &ObjectAttr::new(BPF_STATS_RUN_TIME),
            "enabling the eBPF run-time statistics",
        )?;
        Ok(Self { _enabled: enabled })
    }
}

/// Time spent in programs and how many runs it was, as the kernel counts
/// them while [`RunTimeStats`] lives.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ProgramRuns {
    /// Total `run_time_ns`.
    pub run_time_ns: u64,
    /// Total `run_cnt`.
    pub runs: u64,
}

impl ProgramRuns {
    /// Mean time per run in ns, if any ran.
    pub fn ns_per_run(self) -> Option<f64> {
        (self.runs > 0).then(|| self.run_time_ns as f64 / self.runs as f64)
    }
}

impl Add for ProgramRuns {
    type Output = Self;

    fn add(self, other: Self) -> Self {
        Self {
            run_time_ns: self.run_time_ns + other.run_time_ns,
            runs: self.runs + other.runs,
        }
    }
}

impl Sub for ProgramRuns {
    type Output = Self;

    fn sub(self, earlier: Self) -> Self {
        Self {
            run_time_ns: self.run_time_ns.saturating_sub(earlier.run_time_ns),
            runs: self.runs.saturating_sub(earlier.runs),
        }
    }
}

impl FloorPrograms {
    /// Loads one empty program and attaches it to each of `tracepoints`.
    pub fn attach(tracepoints: &[&str]) -> Result<Self> {
        let program = load_empty_program()?;
        let links = tracepoints
            .iter()
            .map(|tracepoint| attach_raw_tracepoint(&program, tracepoint))
            .collect::<Result<_>>()?;
        Ok(Self {
            program,
            _links: links,
        })
    }

    /// The empty program's runs so far.
    pub fn runs(&self) -> Result<ProgramRuns> {
        Ok(program_info(&self.program)?.1)
    }
}

/// The runs so far of the programs process `pid` holds whose names are
/// among `names` (as the kernel keeps them: cut to 15 bytes).
pub fn runs_of_programs(pid: u32, names: &[&str]) -> Result<ProgramRuns> {
    let mut total = ProgramRuns::default();
    for id in program_ids(pid)? {
        let attr = ObjectAttr::new(id);
        let Ok(program) = bpf(BPF_PROG_GET_FD_BY_ID, &attr, "opening a program") else {
            continue; // unloaded meanwhile
        };
        let (name, runs) = program_info(&program)?;
        if names
            .iter()
            .any(|full| !name.is_empty() && full.starts_with(&name))
        {
            total = total + runs;
        }
    }
    Ok(total)
}

/// The ids of the eBPF programs process `pid` holds an fd of (a program's
/// fdinfo has `prog_tag`; a link's names its program's id too, not a tag).
fn program_ids(pid: u32) -> Result<Vec<u32>> {
    let dir = format!("/proc/{pid}/fdinfo");
    let mut ids = Vec::new();
    for entry in std::fs::read_dir(&dir).with_context(|| dir.clone())? {
        let Ok(info) = std::fs::read_to_string(entry?.path()) else {
            continue;
        };
        if !info.lines().any(|line| line.starts_with("prog_tag:")) {
            continue;
        }
        ids.extend(
            info.lines()
                .filter_map(|line| line.strip_prefix("prog_id:"))
                .filter_map(|id| id.trim().parse::<u32>().ok()),
        );
    }
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}

/// `program`'s name and runs, from `BPF_OBJ_GET_INFO_BY_FD`.
fn program_info(program: &OwnedFd) -> Result<(String, ProgramRuns)> {
    let mut info = [0u8; PROG_INFO_LEN];
    let attr = ObjectAttr {
        first: program.as_raw_fd() as u32,
        info_len: PROG_INFO_LEN as u32,
        info: info.as_mut_ptr() as u64,
        padding: [0; ATTR_SIZE - 16],
    };
    bpf_call(BPF_OBJ_GET_INFO_BY_FD, &attr, "reading a program's info")?;
    let name = &info[PROG_INFO_NAME..PROG_INFO_NAME + 16];
    let name = name.split(|&b| b == 0).next().unwrap_or_default();
    let word = |at: usize| u64::from_ne_bytes(info[at..at + 8].try_into().expect("8 bytes"));
    Ok((
        String::from_utf8_lossy(name).into_owned(),
        ProgramRuns {
            run_time_ns: word(PROG_INFO_RUN_TIME_NS),
            runs: word(PROG_INFO_RUN_CNT),
        },
    ))
}

/// Loads [`EMPTY_PROGRAM`] as a raw tracepoint program.
fn load_empty_program() -> Result<OwnedFd> {
    let license = c"GPL";
    let attr = ProgramLoad {
        prog_type: BPF_PROG_TYPE_RAW_TRACEPOINT,
        insn_cnt: EMPTY_PROGRAM.len() as u32,
        insns: EMPTY_PROGRAM.as_ptr() as u64,
        license: license.as_ptr() as u64,
        padding: [0; ATTR_SIZE - 24],
    };
    bpf(BPF_PROG_LOAD, &attr, "loading the empty program")
}

/// Attaches `program` to the tracepoint named `tracepoint`.
fn attach_raw_tracepoint(program: &OwnedFd, tracepoint: &str) -> Result<OwnedFd> {
    let name = std::ffi::CString::new(tracepoint)?;
    let attr = RawTracepointOpen {
        name: name.as_ptr() as u64,
        prog_fd: program.as_raw_fd() as u32,
        padding: [0; ATTR_SIZE - 12],
    };
    bpf(
        BPF_RAW_TRACEPOINT_OPEN,
        &attr,
        &format!("attaching the empty program to {tracepoint}"),
    )
}

/// Calls bpf(2) with `command` and `attr`, which returns a new fd.
fn bpf<T>(command: libc::c_long, attr: &T, what: &str) -> Result<OwnedFd> {
    let fd = bpf_call(command, attr, what)?;
    // SAFETY: bpf(2) returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Calls bpf(2) with `command` and `attr`; returns what it returned.
fn bpf_call<T>(command: libc::c_long, attr: &T, what: &str) -> Result<libc::c_long> {
    // SAFETY: `attr` is a live `#[repr(C)]` value of ATTR_SIZE bytes whose
    // pointers (instructions, license, name, info buffer) outlive the call
    // and point at as many bytes as the attr says.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    };
    if rc < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    Ok(rc)
}

#[cfg(test)]
mod tests {
    use super::{ATTR_SIZE, ObjectAttr, ProgramLoad, ProgramRuns, RawTracepointOpen};

    #[test]
    fn attrs_have_the_kernel_union_size() {
        assert_eq!(std::mem::size_of::<ProgramLoad>(), ATTR_SIZE);
        assert_eq!(std::mem::size_of::<RawTracepointOpen>(), ATTR_SIZE);
        assert_eq!(std::mem::size_of::<ObjectAttr>(), ATTR_SIZE);
    }

    #[test]
    fn runs_add_up_and_give_the_mean() {
        let runs = |run_time_ns, runs| ProgramRuns { run_time_ns, runs };
        let total = runs(300, 10) + runs(100, 10);
        assert_eq!(total, runs(400, 20));
        assert_eq!(total.ns_per_run(), Some(20.0));
        assert_eq!((total - runs(100, 10)).ns_per_run(), Some(30.0));
        assert_eq!(ProgramRuns::default().ns_per_run(), None);
    }
}
