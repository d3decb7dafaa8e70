//! Loads the embedded eBPF object: offsets and options become read-only
//! globals, then programs are loaded (not yet attached).
//!
//! One straight line, as libbpf-tools do it: open → set globals → load.
//! Attaching is the job of `trigger` and `capture`.

use anyhow::{Context as _, Result};
use aya::{Ebpf, EbpfLoader, programs::Iter};

use super::{
    attach_btf,
    btf::BtfError,
    offsets::{ITER_TASK_FUNC, KernelLayout},
    stack_cap::StackCap,
};

/// The eBPF object built by `build.rs`.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gmr"));

/// Name of the capture iterator program.
pub const CAPTURE_PROGRAM: &str = "capture_threads";
/// Name of the signal trigger program.
pub const SIGNAL_PROGRAM: &str = "signal_generate";
/// Name of the signal guard program (LSM `task_kill`).
pub const GUARD_PROGRAM: &str = "task_kill";

/// Options that become the programs' read-only globals.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// The trigger signal number.
    pub trigger_signal: u32,
    /// The most user stack the capture copies per thread.
    pub stack_cap: StackCap,
}

/// The loaded object and what the guard needs to know about it.
pub struct Loaded {
    /// The object, with the capture iterator loaded.
    pub ebpf: Ebpf,
    /// Why the guard cannot read signal dispositions on this kernel (its
    /// offsets were not all in BTF), if it cannot.
    pub guard_layout: Result<(), BtfError>,
}

/// Loads the object with `options` and the running kernel's offsets, and
/// loads the capture iterator (the trigger programs
/// are loaded by `trigger`).
pub fn load(options: LoadOptions) -> Result<Ebpf> {
    load_object(options).map(|loaded| loaded.ebpf)
}

/// [`load`], also telling whether the guard's offsets were found (the
/// object loads either way: the guard is optional).
pub fn load_object(options: LoadOptions) -> Result<Loaded> {
    // The layout comes from this boot's cache when it exists. aya still
    // parses the kernel's BTF once in `EbpfLoader::new` and keeps it to
    // itself; the iterator's load needs only its attach id.
    let layout = KernelLayout::running().context("reading kernel struct offsets")?;
    let guard_offsets = layout.guard.as_ref().copied().unwrap_or_default();
    let mut ebpf = EbpfLoader::new()
        .override_global("TRIGGER_SIGNAL", &options.trigger_signal, true)
        .override_global("KERNEL_OFFSETS", &layout.offsets, true)
        .override_global("GUARD_OFFSETS", &guard_offsets, true)
        .override_global("MAX_STACK_PAGES", &options.stack_cap.pages(), true)
        .load(EBPF_OBJECT)
        .context("loading gmr's eBPF object (are you root, with BPF enabled?)")?;
    let btf = attach_btf::with_func_at(ITER_TASK_FUNC, layout.iter_task_id)?;
    let iter: &mut Iter = ebpf
        .program_mut(CAPTURE_PROGRAM)
        .context("capture program missing from the eBPF object")?
        .try_into()?;
    iter.load("task", &btf)
        .context("loading the capture iterator (needs sleepable task iterators, Linux 5.18+)")?;
    Ok(Loaded {
        ebpf,
        guard_layout: layout.guard.map(|_| ()).map_err(BtfError::new),
    })
}
