//! The file trigger's kernel hooks: raw tracepoints on the `timestamp`
//! ctime events (Linux 6.13+).
//!
//! A raw tracepoint gets the event's arguments (the `struct inode *`), not
//! a formatted record, so it needs no tracefs and costs the kernel no
//! record per ctime change; the inode's fields are read at offsets from BTF
//! (`KernelOffsets`). Every tracepoint the kernel has appears in its BTF as
//! a `btf_trace_<name>` typedef, which tells whether these exist.

use std::path::Path;

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{HashMap, MapData},
    programs::RawTracePoint,
};
use gmr_common::{TriggerFileKey, TriggerFileState};

use crate::kernel::{btf::Btf, offsets::VMLINUX_BTF};

/// The `timestamp` tracepoints the file trigger attaches to, with the name
/// of the program for each.
pub const CTIME_TRACEPOINTS: [(&str, &str); 3] = [
    ("ctime_ns_xchg", "file_ctime_ns_xchg"),
    ("ctime_xchg_skip", "file_ctime_xchg_skip"),
    ("inode_set_ctime_to_ts", "file_inode_set_ctime_to_ts"),
];

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

/// Loads and attaches the programs of [`CTIME_TRACEPOINTS`] and takes their
/// map; on failure nothing stays attached.
pub fn attach_ctime_programs(
    ebpf: &mut Ebpf,
) -> Result<HashMap<MapData, TriggerFileKey, TriggerFileState>> {
    let map = ebpf
        .take_map("TRIGGER_FILES")
        .context("TRIGGER_FILES map missing from the eBPF object")?;
    let mut loaded = Vec::new();
    let result = (|| -> Result<()> {
        for (tracepoint, program) in CTIME_TRACEPOINTS {
            let raw: &mut RawTracePoint = ebpf
                .program_mut(program)
                .with_context(|| format!("program {program} missing from the eBPF object"))?
                .try_into()?;
            raw.load()
                .with_context(|| format!("loading the {program} raw tracepoint program"))?;
            loaded.push(program);
            raw.attach(tracepoint).with_context(|| {
                format!(
                    "attaching to raw tracepoint {tracepoint} (the ctime tracepoints need Linux 6.13+)"
                )
            })?;
        }
        Ok(())
    })();
    if let Err(e) = result {
        for program in loaded {
            if let Some(Ok(raw)) = ebpf
                .program_mut(program)
                .map(<&mut RawTracePoint>::try_from)
            {
                let _ = raw.unload();
            }
        }
        return Err(e);
    }
    Ok(HashMap::try_from(map)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_ctime_tracepoints_from_linux_6_13() {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut numbers = release.trim().split(['.', '-']).map(str::parse::<u32>);
        let version = (
            numbers.next().and_then(Result::ok).unwrap_or(0),
            numbers.next().and_then(Result::ok).unwrap_or(0),
        );
        match ctime_tracepoints_present() {
            Ok(()) => {}
            Err(e) if version >= (6, 13) && Path::new(VMLINUX_BTF).exists() => {
                panic!("Linux {release} should have them: {e:#}")
            }
            Err(e) => eprintln!("SKIP: {e:#}"),
        }
    }
}
