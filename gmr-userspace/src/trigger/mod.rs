//! Trigger: attaches the kernel observers and yields trigger events.
//!
//! Two kinds of trigger share one ring buffer: the trigger signal sent to
//! a process in a tagged cgroup (`signal`), and a tag's trigger file being
//! touched (`file`). [`Triggers`] owns the ring buffer and both observers
//! and hands out [`Triggered`] values of either kind.

pub mod ctime;
pub mod file;
mod file_setup;
mod identity;
mod inotify;
pub mod signal;

#[cfg(test)]
mod kernel_tests;

use anyhow::{Context as _, Result};
use aya::{
    Ebpf,
    maps::{MapData, RingBuf},
};
use gmr_common::{TRIGGER_KIND_FILE, TRIGGER_KIND_SIGNAL, TriggerEvent};
use tokio::io::unix::AsyncFd;

pub use self::{
    file::{FileHook, FileRequester, FileTrigger, FileTriggerEvent, TriggerFileSpec},
    signal::{SignalObserver, delivery_name},
};
use crate::config::Tag;

/// One trigger.
#[derive(Clone, Debug)]
pub enum Triggered {
    /// The trigger signal was generated for a process in a tagged cgroup.
    Signal(TriggerEvent),
    /// A tag's trigger file was touched.
    File(FileTriggerEvent),
}

/// The attached observers and their shared event stream.
pub struct Triggers {
    events: AsyncFd<RingBuf<MapData>>,
    files: FileTrigger,
    signal: SignalObserver,
}

impl Triggers {
    /// Tags `tags`' cgroups and attaches the signal observer, then sets up
    /// and arms `files` with `hook` (see [`FileTrigger::attach`]). Call it
    /// within a tokio runtime: it registers fds with the reactor.
    pub fn attach(
        ebpf: &mut Ebpf,
        tags: &[Tag],
        files: &[TriggerFileSpec],
        hook: FileHook,
    ) -> Result<Self> {
        let events = RingBuf::try_from(ebpf.take_map("TRIGGERS").context("TRIGGERS map")?)?;
        let signal = SignalObserver::attach(ebpf, tags)?;
        let files = FileTrigger::attach(ebpf, files, hook)?;
        // SAFETY: the ring buffer owns its fd and the AsyncFd owns the ring
        // buffer, so the fd stays open for as long as it is registered.
        let events = unsafe { AsyncFd::register(events) }.map_err(|e| e.into_parts().1)?;
        Ok(Self {
            events,
            files,
            signal,
        })
    }

    /// Replaces the tagged cgroups and the trigger files with these, keeping
    /// events flowing; each observer is attached while something uses it
    /// and detached once nothing does. On error the previous set stays armed.
    ///
    /// The cgroups are retagged first, since their map can be restored when
    /// the files then fail; see [`SignalObserver::retag`] and
    /// [`FileTrigger::reconfigure`].
    pub fn reconfigure(
        &mut self,
        ebpf: &mut Ebpf,
        tags: &[Tag],
        files: &[TriggerFileSpec],
    ) -> Result<()> {
        let previous = self.signal.tagged().to_vec();
        self.signal.retag(ebpf, tags)?;
        if let Err(e) = self.files.reconfigure(ebpf, files) {
            if let Err(undo) = self.signal.restore(ebpf, &previous) {
                log::error!("{undo:#}");
            }
            return Err(e);
        }
        Ok(())
    }

    /// The kernel hooks attached now, for the agent's log: each observer
    /// is attached only while some tag uses it.
    pub fn attached_hooks(&self) -> String {
        let mut hooks = Vec::new();
        if self.signal.is_attached() {
            hooks.push("signal_generate".to_owned());
        }
        match self.files.attached_hooks() {
            0 => {}
            count => hooks.push(format!("{count} ctime tracepoints")),
        }
        if hooks.is_empty() {
            "none".to_owned()
        } else {
            hooks.join(", ")
        }
    }

    /// Replaces the tagged cgroups with `tags`' (the trigger files stay as
    /// they are); on error the previous ones stay tagged.
    pub fn retag(&mut self, ebpf: &mut Ebpf, tags: &[Tag]) -> Result<()> {
        self.signal.retag(ebpf, tags)
    }

    /// The file trigger (its hook in use, its armed files).
    pub fn files(&self) -> &FileTrigger {
        &self.files
    }

    /// Waits for the next triggers. Cancel-safe.
    pub async fn next_events(&mut self) -> Result<Vec<Triggered>> {
        loop {
            let triggered = tokio::select! {
                guard = self.events.readable_mut() => {
                    let mut guard = guard?;
                    let mut raw = Vec::new();
                    while let Some(item) = guard.get_inner_mut().next() {
                        match decode_event(&item) {
                            Some(event) => raw.push(event),
                            None => log::warn!("ignoring a trigger event of {} bytes", item.len()),
                        }
                    }
                    guard.clear_ready();
                    drop(guard);
                    let mut triggered = Vec::new();
                    if raw.iter().any(|event| event.kind == TRIGGER_KIND_FILE) {
                        let touched = self.files.apply_pending_changes()?;
                        triggered.extend(touched.into_iter().map(Triggered::File));
                    }
                    triggered.extend(raw.iter().filter_map(|event| self.classify(event)));
                    triggered
                }
                touched = self.files.next_events() => {
                    touched?.into_iter().map(Triggered::File).collect::<Vec<_>>()
                }
            };
            if !triggered.is_empty() {
                return Ok(triggered);
            }
        }
    }

    /// Sorts a kernel event by kind; file events are checked first.
    fn classify(&self, event: &TriggerEvent) -> Option<Triggered> {
        match event.kind {
            TRIGGER_KIND_SIGNAL => Some(Triggered::Signal(*event)),
            TRIGGER_KIND_FILE => self.files.accept(event).map(Triggered::File),
            kind => {
                log::warn!("ignoring a trigger event of unknown kind {kind}");
                None
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

#[cfg(test)]
mod tests {
    use gmr_common::COMM_LEN;

    use super::*;

    /// The bytes the file program writes for a `touch` by nobody.
    fn file_event_bytes() -> Vec<u8> {
        let mut comm = [0u8; COMM_LEN];
        comm[..5].copy_from_slice(b"touch");
        let event = TriggerEvent {
            boot_time_ns: 42,
            tagged_cgroup_id: 0,
            file_ino: 1234,
            target_tgid: 0,
            target_tid: 0,
            sender_tgid: 77,
            sender_tid: 78,
            sender_uid: 65534,
            signal: 0,
            result: 0,
            kind: TRIGGER_KIND_FILE,
            tag_index: 3,
            file_dev: (8 << 20) | 1,
            target_comm: [0; COMM_LEN],
            sender_comm: comm,
        };
        // SAFETY: a padding-free plain-data struct viewed as its bytes.
        unsafe {
            std::slice::from_raw_parts(
                (&event as *const TriggerEvent).cast::<u8>(),
                size_of::<TriggerEvent>(),
            )
        }
        .to_vec()
    }

    #[test]
    fn decodes_a_file_event_and_rejects_wrong_sizes() {
        let bytes = file_event_bytes();
        assert_eq!(bytes.len(), 96);
        let event = decode_event(&bytes).unwrap();
        assert_eq!(event.kind, TRIGGER_KIND_FILE);
        assert_eq!(
            (event.tag_index, event.file_dev, event.file_ino),
            (3, (8 << 20) | 1, 1234)
        );
        assert_eq!(
            (event.sender_tgid, event.sender_tid, event.sender_uid),
            (77, 78, 65534)
        );
        assert_eq!(
            crate::capture::decode::comm_string(&event.sender_comm),
            "touch"
        );
        assert!(decode_event(&bytes[1..]).is_none());
        assert!(decode_event(&[bytes.clone(), vec![0]].concat()).is_none());
    }
}
