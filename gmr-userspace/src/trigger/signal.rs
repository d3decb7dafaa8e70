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
    programs::{RawTracePoint, raw_trace_point::RawTracePointLink},
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

/// The signal observer; dropping it untags the cgroups and detaches it.
///
/// Its program is loaded once and attached only while some tag uses the
/// signal trigger, so a host whose tags all do without it pays nothing per
/// signal sent.
pub struct SignalObserver {
    tagged: HashMap<MapData, u64, u32>,
    /// The entries of `tagged`: cgroup id and tag index (a tag covering
    /// several cgroups, a namespace's pods, has an entry for each).
    entries: Vec<(u64, u32)>,
    /// The attached program, while some cgroup is tagged.
    link: Option<RawTracePointLink>,
}

impl SignalObserver {
    /// Loads the program, fills the tagged-cgroup map and attaches the
    /// program if some tag uses the signal trigger.
    pub fn attach(ebpf: &mut Ebpf, tags: &[Tag]) -> Result<Self> {
        let tagged: HashMap<MapData, u64, u32> = HashMap::try_from(
            ebpf.take_map("TAGGED_CGROUPS")
                .context("TAGGED_CGROUPS map")?,
        )?;
        signal_program(ebpf)?
            .load()
            .context("loading the signal_generate raw tracepoint program")?;
        let mut this = Self {
            tagged,
            entries: Vec::new(),
            link: None,
        };
        this.retag(ebpf, tags)?;
        Ok(this)
    }

    /// The tagged cgroups: cgroup id and tag index.
    pub fn tagged(&self) -> &[(u64, u32)] {
        &self.entries
    }

    /// True while the program is attached.
    pub fn is_attached(&self) -> bool {
        self.link.is_some()
    }

    /// Makes the cgroups of `tags` that use the signal trigger the tagged
    /// ones, in place while the program runs, and attaches or detaches the
    /// program as some or none are left. On error the previous ones stay
    /// tagged.
    pub fn retag(&mut self, ebpf: &mut Ebpf, tags: &[Tag]) -> Result<()> {
        let cgroups: Vec<(u32, &Cgroup)> = tags
            .iter()
            .enumerate()
            .filter(|(_, tag)| tag.signal_trigger)
            .flat_map(|(index, tag)| tag.cgroups.iter().map(move |c| (index as u32, c)))
            .collect();
        let entries = cgroups.iter().map(|(index, c)| (c.id, *index)).collect();
        self.set(entries).map_err(|(at, e)| {
            anyhow::Error::new(e)
                .context(format!("tagging cgroup {}", cgroups[at].1.path.display()))
        })?;
        self.hook(ebpf)
    }

    /// Tags `entries` (as returned by [`Self::tagged`]) again, undoing a
    /// later [`Self::retag`]. On error the entries of that retag stay tagged.
    pub(super) fn restore(&mut self, ebpf: &mut Ebpf, entries: &[(u64, u32)]) -> Result<()> {
        self.set(entries.to_vec()).map_err(|(at, e)| {
            anyhow::Error::new(e).context(format!("retagging cgroup id {}", entries[at].0))
        })?;
        self.hook(ebpf)
    }

    /// Attaches the program while a cgroup is tagged, detaches it otherwise.
    fn hook(&mut self, ebpf: &mut Ebpf) -> Result<()> {
        let wanted = !self.entries.is_empty();
        if wanted && self.link.is_none() {
            let program = signal_program(ebpf)?;
            let link = program
                .attach("signal_generate")
                .and_then(|id| program.take_link(id))
                .context("attaching to the signal_generate tracepoint")?;
            self.link = Some(link);
        } else if !wanted {
            self.link = None;
        }
        Ok(())
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

/// The signal program in `ebpf`.
fn signal_program(ebpf: &mut Ebpf) -> Result<&mut RawTracePoint> {
    Ok(ebpf
        .program_mut(SIGNAL_PROGRAM)
        .context("signal program missing")?
        .try_into()?)
}
