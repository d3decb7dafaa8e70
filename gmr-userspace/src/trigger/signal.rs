//! The signal trigger: tags cgroups in the kernel and attaches the
//! `signal_generate` observer.
//!
//! The tagged cgroups go into the kernel's hash map before the program is
//! attached; processes that join those cgroups (or their descendants) later
//! are covered with no further work, since the program checks ancestry.

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{HashMap, MapData, MapError},
    programs::RawTracePoint,
};

use gmr_common::TRIGGER_RESULT_REFUSED;

use crate::{config::Tag, kernel::loader::SIGNAL_PROGRAM};

/// What the kernel reported about the signal's delivery, or that the guard
/// refused it.
pub fn delivery_name(result: u32) -> &'static str {
    // `enum trace_signal_result` in include/trace/events/signal.h.
    match result {
        TRIGGER_RESULT_REFUSED => "refused by the guard: the target does not handle it",
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
    tagged: HashMap<MapData, u64, u32>,
    /// The cgroup ids in `tagged`, by tag index.
    ids: Vec<u64>,
}

impl SignalObserver {
    /// Fills the tagged-cgroup map, then loads and attaches the program.
    pub fn attach(ebpf: &mut Ebpf, tags: &[Tag]) -> Result<Self> {
        let tagged: HashMap<MapData, u64, u32> = HashMap::try_from(
            ebpf.take_map("TAGGED_CGROUPS")
                .context("TAGGED_CGROUPS map")?,
        )?;
        let mut this = Self {
            tagged,
            ids: Vec::new(),
        };
        this.retag(tags)?;
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
        Ok(this)
    }

    /// The tagged cgroup ids, by tag index.
    pub fn tagged(&self) -> &[u64] {
        &self.ids
    }

    /// Makes `tags`' cgroups the tagged ones, in place while the program
    /// runs. On error the previous ones stay tagged.
    pub fn retag(&mut self, tags: &[Tag]) -> Result<()> {
        let ids = tags.iter().map(|tag| tag.cgroup.id).collect();
        self.set(ids).map_err(|(index, e)| {
            anyhow::Error::new(e).context(format!(
                "tagging cgroup {}",
                tags[index].cgroup.path.display()
            ))
        })
    }

    /// Tags `ids` (as returned by [`Self::tagged`]) again, undoing a later
    /// [`Self::retag`]. On error the ids of that retag stay tagged.
    pub(super) fn restore(&mut self, ids: &[u64]) -> Result<()> {
        self.set(ids.to_vec()).map_err(|(index, e)| {
            anyhow::Error::new(e).context(format!("retagging cgroup id {}", ids[index]))
        })
    }

    /// Makes `ids` the tagged cgroups, tag index = position. The new ids go
    /// in first and the stale ones are removed after, so a cgroup tagged
    /// before and after is never missing. On error (with the position of
    /// the failed id) the previous ids are back in place, best effort: the
    /// map had room for them.
    fn set(&mut self, ids: Vec<u64>) -> Result<(), (usize, MapError)> {
        for (index, id) in ids.iter().enumerate() {
            if let Err(e) = self.tagged.insert(id, index as u32, 0) {
                for (index, id) in self.ids.iter().enumerate() {
                    if let Err(e) = self.tagged.insert(id, index as u32, 0) {
                        log::error!("cannot tag cgroup id {id} again: {e}");
                    }
                }
                for added in ids.iter().filter(|id| !self.ids.contains(id)) {
                    // An error means it was never inserted.
                    let _ = self.tagged.remove(added);
                }
                return Err((index, e));
            }
        }
        for stale in self.ids.iter().filter(|id| !ids.contains(id)) {
            // An error means the entry is already gone: nothing to undo.
            let _ = self.tagged.remove(stale);
        }
        self.ids = ids;
        Ok(())
    }
}
