//! Trigger: attaches the signal observer and yields trigger events.
//!
//! The tagged cgroups go into the kernel's hash map before the program is
//! attached; processes that join those cgroups (or their descendants) later
//! are covered with no further work, since the program checks ancestry.

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{HashMap, MapData, RingBuf},
    programs::RawTracePoint,
};
use gmr_common::TriggerEvent;
use tokio::io::unix::AsyncFd;

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

/// The attached signal trigger and its event stream.
pub struct SignalTrigger {
    events: AsyncFd<RingBuf<MapData>>,
    _tagged: HashMap<MapData, u64, u32>,
}

impl SignalTrigger {
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
        let events = RingBuf::try_from(ebpf.take_map("TRIGGERS").context("TRIGGERS map")?)?;
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
        // SAFETY: the ring buffer owns its fd and the AsyncFd owns the ring
        // buffer, so the fd stays open for as long as it is registered.
        let events = unsafe { AsyncFd::register(events) }.map_err(|e| e.into_parts().1)?;
        Ok(Self {
            events,
            _tagged: tagged,
        })
    }

    /// Waits for the next events.
    pub async fn next_events(&mut self) -> Result<Vec<TriggerEvent>> {
        loop {
            let mut guard = self.events.readable_mut().await?;
            let ring = guard.get_inner_mut();
            let mut events = Vec::new();
            while let Some(item) = ring.next() {
                match decode_event(&item) {
                    Some(event) => events.push(event),
                    None => log::warn!("ignoring a trigger event of {} bytes", item.len()),
                }
            }
            guard.clear_ready();
            if !events.is_empty() {
                return Ok(events);
            }
        }
    }
}

/// Decodes one ring-buffer item; `None` if its size is wrong.
pub fn decode_event(bytes: &[u8]) -> Option<TriggerEvent> {
    (bytes.len() == size_of::<TriggerEvent>())
        // SAFETY: exactly one event's bytes; every bit pattern is valid.
        .then(|| unsafe { std::ptr::read_unaligned(bytes.as_ptr().cast()) })
}
