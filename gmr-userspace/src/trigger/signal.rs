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

use crate::{config::Tag, kernel::loader::SIGNAL_PROGRAM, targets::cgroup::Cgroup};

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
    /// The entries of `tagged`: cgroup id and tag index (a tag covering
    /// several cgroups, a namespace's pods, has an entry for each).
    entries: Vec<(u64, u32)>,
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
            entries: Vec::new(),
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

    /// The tagged cgroups: cgroup id and tag index.
    pub fn tagged(&self) -> &[(u64, u32)] {
        &self.entries
    }

    /// Makes `tags`' cgroups the tagged ones, in place while the program
    /// runs. On error the previous ones stay tagged.
    pub fn retag(&mut self, tags: &[Tag]) -> Result<()> {
        let cgroups: Vec<(u32, &Cgroup)> = tags
            .iter()
            .enumerate()
            .flat_map(|(index, tag)| tag.cgroups.iter().map(move |c| (index as u32, c)))
            .collect();
        let entries = cgroups.iter().map(|(index, c)| (c.id, *index)).collect();
        self.set(entries).map_err(|(at, e)| {
            anyhow::Error::new(e)
                .context(format!("tagging cgroup {}", cgroups[at].1.path.display()))
        })
    }

    /// Tags `entries` (as returned by [`Self::tagged`]) again, undoing a
    /// later [`Self::retag`]. On error the entries of that retag stay tagged.
    pub(super) fn restore(&mut self, entries: &[(u64, u32)]) -> Result<()> {
        self.set(entries.to_vec()).map_err(|(at, e)| {
            anyhow::Error::new(e).context(format!("retagging cgroup id {}", entries[at].0))
        })
    }

    /// Makes `entries` (cgroup id, tag index) the tagged cgroups. The new
    /// entries go in first and the stale ones are removed after, so a cgroup
    /// tagged before and after is never missing. On error (with the position
    /// of the failed entry) the previous entries are back in place, best
    /// effort: the map had room for them.
    fn set(&mut self, entries: Vec<(u64, u32)>) -> Result<(), (usize, MapError)> {
        let has = |list: &[(u64, u32)], id: u64| list.iter().any(|(other, _)| *other == id);
        for (at, (id, index)) in entries.iter().enumerate() {
            if let Err(e) = self.tagged.insert(id, index, 0) {
                for (id, index) in &self.entries {
                    if let Err(e) = self.tagged.insert(id, index, 0) {
                        log::error!("cannot tag cgroup id {id} again: {e}");
                    }
                }
                for (added, _) in entries.iter().filter(|(id, _)| !has(&self.entries, *id)) {
                    // An error means it was never inserted.
                    let _ = self.tagged.remove(added);
                }
                return Err((at, e));
            }
        }
        for (stale, _) in self.entries.iter().filter(|(id, _)| !has(&entries, *id)) {
            // An error means the entry is already gone: nothing to undo.
            let _ = self.tagged.remove(stale);
        }
        self.entries = entries;
        Ok(())
    }
}
