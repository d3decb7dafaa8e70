//! The file trigger's kernel hooks: BTF tracepoints (`tp_btf`) on the
//! `timestamp` ctime events (Linux 6.13+).
//!
//! Such a program gets the event's arguments (the `struct inode *`), not a
//! formatted record, so it needs no tracefs and costs the kernel no record
//! per ctime change; the inode's fields are read at offsets from BTF
//! (`KernelOffsets`). Every tracepoint the kernel has appears in its BTF as
//! a `btf_trace_<name>` typedef, which tells whether these exist.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{Array, HashMap, MapData},
    programs::{BtfTracePoint, tp_btf::BtfTracePointLink},
};
use gmr_common::{TriggerFileKey, TriggerFileState, trigger_ino_bit};

use crate::kernel::{btf::Btf, offsets::VMLINUX_BTF};

/// The `timestamp` tracepoints the file trigger attaches to, with the name
/// of the program for each.
pub const CTIME_TRACEPOINTS: [(&str, &str); 3] = [
    ("ctime_ns_xchg", "file_ctime_ns_xchg"),
    ("ctime_xchg_skip", "file_ctime_xchg_skip"),
    ("inode_set_ctime_to_ts", "file_inode_set_ctime_to_ts"),
];

/// The maps the file programs read.
pub struct CtimeMaps {
    /// `TRIGGER_FILES`: armed files → tag and rate-limit state.
    pub files: HashMap<MapData, TriggerFileKey, TriggerFileState>,
    /// `TRIGGER_INO_FILTER`, the eBPF object's only `.bss` variable (so
    /// aya's `.bss` map, one 8-byte slot): the bits of the armed inode
    /// numbers.
    ino_filter: Array<MapData, u64>,
}

impl CtimeMaps {
    /// Sets the inode filter to exactly the bits of `inos`. It must hold
    /// every inode number in [`Self::files`]; a stale bit only costs a hash
    /// lookup.
    pub fn set_ino_filter(&mut self, inos: impl IntoIterator<Item = u64>) -> Result<()> {
        let bits = inos
            .into_iter()
            .fold(0, |bits, ino| bits | trigger_ino_bit(ino));
        self.ino_filter
            .set(0, bits, 0)
            .context("cannot update the trigger files' inode filter in the kernel")
    }
}

/// Fails, naming the first missing one, unless the running kernel has all
/// of [`CTIME_TRACEPOINTS`].
pub fn ctime_tracepoints_present() -> Result<()> {
    let btf = Btf::from_file(Path::new(VMLINUX_BTF))?;
    for (tracepoint, _) in CTIME_TRACEPOINTS {
        if !btf.has_typedef(&format!("btf_trace_{tracepoint}")) {
            bail!(
                "the kernel has no tracepoint timestamp:{tracepoint} (the ctime tracepoints need Linux 6.13+)"
            );
        }
    }
    Ok(())
}

/// Loads the programs of [`CTIME_TRACEPOINTS`] without attaching them and
/// takes their maps (no file armed); on failure nothing stays loaded.
///
/// Loading checks that the kernel has the tracepoints and accepts the
/// programs, at no cost per event; [`attach_ctime_programs`] hooks them in
/// once a file is armed.
pub fn load_ctime_programs(ebpf: &mut Ebpf) -> Result<CtimeMaps> {
    let files = ebpf
        .take_map("TRIGGER_FILES")
        .context("TRIGGER_FILES map missing from the eBPF object")?;
    let ino_filter = ebpf
        .take_map(".bss")
        .context("the .bss map (TRIGGER_INO_FILTER) missing from the eBPF object")?;
    let kernel_btf = aya::Btf::from_sys_fs().context("reading kernel BTF")?;
    let mut loaded = Vec::new();
    let result = CTIME_TRACEPOINTS.iter().try_for_each(|(tracepoint, program)| {
        ctime_program(ebpf, program)?
            .load(tracepoint, &kernel_btf)
            .with_context(|| {
                format!("loading the {program} tp_btf program (the ctime tracepoints need Linux 6.13+)")
            })?;
        loaded.push(*program);
        Ok::<_, anyhow::Error>(())
    });
    if let Err(e) = result {
        for program in loaded {
            if let Ok(tp_btf) = ctime_program(ebpf, program) {
                let _ = tp_btf.unload();
            }
        }
        return Err(e);
    }
    Ok(CtimeMaps {
        files: HashMap::try_from(files)?,
        ino_filter: Array::try_from(ino_filter)
            .context("the .bss map (TRIGGER_INO_FILTER) is not an array of 8-byte values")?,
    })
}

/// Attaches the programs [`load_ctime_programs`] loaded; dropping the
/// links detaches them. On failure none stays attached.
pub fn attach_ctime_programs(ebpf: &mut Ebpf) -> Result<Vec<BtfTracePointLink>> {
    let mut links = Vec::with_capacity(CTIME_TRACEPOINTS.len());
    for (tracepoint, program) in CTIME_TRACEPOINTS {
        let tp_btf = ctime_program(ebpf, program)?;
        let link = tp_btf
            .attach()
            .and_then(|id| tp_btf.take_link(id))
            .with_context(|| format!("attaching to tracepoint {tracepoint}"))?;
        links.push(link);
    }
    Ok(links)
}

/// The ctime program named `program` in `ebpf`.
fn ctime_program<'a>(ebpf: &'a mut Ebpf, program: &str) -> Result<&'a mut BtfTracePoint> {
    Ok(ebpf
        .program_mut(program)
        .with_context(|| format!("program {program} missing from the eBPF object"))?
        .try_into()?)
}
