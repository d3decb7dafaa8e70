//! The floor of a hook's cost: an empty eBPF program (`r0 = 0; exit`)
//! attached by name to the same tracepoint as gmr's, so the bench can say
//! what any eBPF tool pays there and how much more gmr's programs cost.
//!
//! Hand-written on the bpf(2) syscall: the program is two instructions, and
//! loading it through aya would need an eBPF object built for the bench
//! alone. A raw tracepoint program runs through the same `bpf_trace_run`
//! dispatch as gmr's `raw_tp` and `tp_btf` programs.

use std::os::fd::{FromRawFd as _, OwnedFd};

use anyhow::{Result, bail};

/// `BPF_PROG_LOAD`.
const BPF_PROG_LOAD: libc::c_long = 5;
/// `BPF_RAW_TRACEPOINT_OPEN`.
const BPF_RAW_TRACEPOINT_OPEN: libc::c_long = 17;
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

/// Empty programs attached to tracepoints; dropping it detaches them.
pub struct FloorPrograms {
    _links: Vec<OwnedFd>,
}

impl FloorPrograms {
    /// Loads one empty program and attaches it to each of `tracepoints`.
    pub fn attach(tracepoints: &[&str]) -> Result<Self> {
        let program = load_empty_program()?;
        let links = tracepoints
            .iter()
            .map(|tracepoint| attach_raw_tracepoint(&program, tracepoint))
            .collect::<Result<_>>()?;
        Ok(Self { _links: links })
    }
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
    use std::os::fd::AsRawFd as _;
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
    // SAFETY: `attr` is a live `#[repr(C)]` value of ATTR_SIZE bytes whose
    // pointers (instructions, license, name) outlive the call.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            command,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    };
    if fd < 0 {
        bail!("{what}: {}", std::io::Error::last_os_error());
    }
    // SAFETY: bpf(2) returned a new fd that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

#[cfg(test)]
mod tests {
    use super::{ATTR_SIZE, ProgramLoad, RawTracepointOpen};

    #[test]
    fn attrs_have_the_kernel_union_size() {
        assert_eq!(std::mem::size_of::<ProgramLoad>(), ATTR_SIZE);
        assert_eq!(std::mem::size_of::<RawTracepointOpen>(), ATTR_SIZE);
    }
}
