//! The signal trigger: tags cgroups in the kernel and attaches the
//! `signal_generate` observer.
//!
//! The tagged cgroups go into the kernel's hash map before the program is
//! attached; processes that join those cgroups (or their descendants) later
//! are covered with no further work, since the program checks ancestry.

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{HashMap, MapData},
    programs::RawTracePoint,
};

use crate::{config::Tag, kernel::loader::SIGNAL_PROGRAM};

/// What the kernel reported about the signal's delivery.
pub fn delivery_name(result: u32) -> &'static str {
    // `enum trace_signal_result` in include/trace/events/signal.h.
    match result {
        0 => "delivered",
        1 => "ignored",
        2 => "already pending",
        3 => "queue overflow",
        4 => "delivered without siginfo",
        _ => "unknown",
    }
}

/// The attached signal observer; dropping it untags the cgroups.
pub struct SignalObserver {
    _tagged: HashMap<MapData, u64, u32>,
}

impl SignalObserver {
    /// Fills the tagged-cgroup map, then loads and attaches the program.
    pub fn attach(ebpf: &mut Ebpf, tags: &[Tag]) -> Result<Self> {
        let mut tagged: HashMap<MapData, u64, u32> = HashMap::try_from(
            ebpf.take_map("TAGGED_CGROUPS")
                .context("TAGGED_CGROUPS map")?,
        )?;
        for (index, tag) in tags.iter().enumerate() {
            tagged
                .insert(tag.cgroup.id, index as u32, 0)
                .with_context(|| format!("tagging cgroup {}", tag.cgroup.path.display()))?;
        }
        let program: &mut RawTracePoint = ebpf
            .program_mut(SIGNAL_PROGRAM)
            .context("signal program missing")?
            .try_into()?;
        program
            .load()
            .context("loading the signal_generate raw tracepoint program")?;
        program
            .attach("signal_generate")
            .context("attaching to the signal_generate tracepoint")?;
        Ok(Self { _tagged: tagged })
    }
}
