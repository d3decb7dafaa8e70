//! Loads the embedded eBPF object: offsets, tracepoint record layouts and
//! options become read-only globals, then programs are loaded (not yet
//! attached).
//!
//! One straight line, as libbpf-tools do it: open → set globals → load.
//! Attaching is the job of `trigger` and `capture`.

use anyhow::{Context as _, Result};
use aya::{Btf, Ebpf, EbpfLoader, programs::Iter};

use super::offsets::running_kernel_offsets;
use crate::trigger::tracefs::timestamp_offsets;

/// The eBPF object built by `build.rs`.
static EBPF_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/gmr"));

/// Name of the capture iterator program.
pub const CAPTURE_PROGRAM: &str = "capture_threads";
/// Name of the signal trigger program.
pub const SIGNAL_PROGRAM: &str = "signal_generate";

/// Options that become the programs' read-only globals.
#[derive(Clone, Copy, Debug)]
pub struct LoadOptions {
    /// The trigger signal number.
    pub trigger_signal: u32,
}

/// Loads the object with `options`, the running kernel's offsets and
/// tracepoint layouts, and loads the capture iterator (the trigger programs
/// are loaded by `trigger`).
pub fn load(options: LoadOptions) -> Result<Ebpf> {
    let offsets = running_kernel_offsets().context("reading kernel struct offsets")?;
    // Without them the file trigger does not attach its tracepoints (it
    // reads the same files then, and falls back to inotify), so zeros are
    // never used.
    let timestamp = timestamp_offsets().unwrap_or_default();
    let mut ebpf = EbpfLoader::new()
        .override_global("TRIGGER_SIGNAL", &options.trigger_signal, true)
        .override_global("KERNEL_OFFSETS", &offsets, true)
        .override_global("TIMESTAMP_OFFSETS", &timestamp, true)
        .load(EBPF_OBJECT)
        .context("loading gmr's eBPF object (are you root, with BPF enabled?)")?;
    let btf = Btf::from_sys_fs().context("reading kernel BTF")?;
    let iter: &mut Iter = ebpf
        .program_mut(CAPTURE_PROGRAM)
        .context("capture program missing from the eBPF object")?
        .try_into()?;
    iter.load("task", &btf)
        .context("loading the capture iterator (needs sleepable task iterators, Linux 5.18+)")?;
    Ok(ebpf)
}
