//! A small non-blocking inotify instance: add watches, read decoded events.
//!
//! The file trigger watches the directories holding trigger files, to
//! re-arm a file that was deleted or replaced (and, without the kernel
//! hook, to notice touches at all).

use std::{
    ffi::{OsStr, OsString},
    io,
    os::{
        fd::{AsRawFd, OwnedFd, RawFd},
        unix::ffi::OsStrExt as _,
    },
    path::Path,
};

use rustix::{
    fs::inotify::{self, CreateFlags, WatchFlags},
    io::Errno,
};

/// Size of `struct inotify_event` before its name.
const HEADER: usize = size_of::<libc::inotify_event>();

/// One inotify event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InotifyEvent {
    /// The watch it belongs to.
    pub wd: i32,
    /// `IN_*` bits.
    pub mask: u32,
    /// Name of the directory entry, for events about a watched directory's
    /// children.
    pub name: Option<OsString>,
}

/// A non-blocking, close-on-exec inotify instance.
#[derive(Debug)]
pub struct Inotify {
    fd: OwnedFd,
}

impl Inotify {
    /// Creates the instance.
    pub fn new() -> io::Result<Self> {
        let fd = inotify::init(CreateFlags::NONBLOCK | CreateFlags::CLOEXEC)?;
        Ok(Self { fd })
    }

    /// Watches `path` for `mask`; the same path always gets the same watch
    /// descriptor, and its mask is replaced.
    pub fn add_watch(&self, path: &Path, mask: u32) -> io::Result<i32> {
        Ok(inotify::add_watch(
            &self.fd,
            path,
            WatchFlags::from_bits_retain(mask),
        )?)
    }

    /// Stops watch `wd` (an `IN_IGNORED` event follows).
    pub fn remove_watch(&self, wd: i32) -> io::Result<()> {
        Ok(inotify::remove_watch(&self.fd, wd)?)
    }

    /// Reads every queued event; `WouldBlock` when none is queued.
    pub fn read_events(&self) -> io::Result<Vec<InotifyEvent>> {
        let mut events = Vec::new();
        // Room for many events at once; one event never exceeds
        // HEADER + NAME_MAX + 1.
        let mut buffer = vec![0u8; 64 * 1024];
        loop {
            match rustix::io::read(&self.fd, &mut buffer[..]) {
                Ok(n) => events.extend(decode(&buffer[..n])),
                Err(Errno::INTR) => {}
                Err(Errno::AGAIN) if !events.is_empty() => return Ok(events),
                Err(error) => return Err(error.into()),
            }
        }
    }
}

impl AsRawFd for Inotify {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Decodes a buffer of `struct inotify_event`s, each followed by its
/// NUL-padded name; a truncated tail is dropped.
pub fn decode(mut bytes: &[u8]) -> Vec<InotifyEvent> {
    let mut events = Vec::new();
    while bytes.len() >= HEADER {
        let field = |at: usize| {
            let mut word = [0u8; 4];
            word.copy_from_slice(&bytes[at..at + 4]);
            word
        };
        // struct inotify_event: wd, mask, cookie, len, then the name.
        let (wd, mask, len) = (
            i32::from_ne_bytes(field(0)),
            u32::from_ne_bytes(field(4)),
            u32::from_ne_bytes(field(12)),
        );
        let end = HEADER + len as usize;
        let Some(name) = bytes.get(HEADER..end) else {
            break;
        };
        let name = name.split(|&b| b == 0).next().unwrap_or_default();
        events.push(InotifyEvent {
            wd,
            mask,
            name: (!name.is_empty()).then(|| OsStr::from_bytes(name).to_owned()),
        });
        bytes = &bytes[end..];
    }
    events
}

/// Encodes events as the kernel does (for tests).
#[cfg(test)]
pub fn encode(events: &[InotifyEvent]) -> Vec<u8> {
    use std::os::unix::ffi::OsStringExt as _;

    let mut out = Vec::new();
    for event in events {
        let mut name = event
            .name
            .clone()
            .map(OsString::into_vec)
            .unwrap_or_default();
        if !name.is_empty() {
            name.resize(name.len().div_ceil(16) * 16 + 16, 0);
        }
        out.extend_from_slice(&event.wd.to_ne_bytes());
        out.extend_from_slice(&event.mask.to_ne_bytes());
        out.extend_from_slice(&0u32.to_ne_bytes());
        out.extend_from_slice(&(name.len() as u32).to_ne_bytes());
        out.extend_from_slice(&name);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_named_and_unnamed_events_and_drops_a_truncated_tail() {
        let events = vec![
            InotifyEvent {
                wd: 1,
                mask: libc::IN_CREATE,
                name: Some("mogan-api.trigger".into()),
            },
            InotifyEvent {
                wd: 1,
                mask: libc::IN_IGNORED,
                name: None,
            },
        ];
        let bytes = encode(&events);
        assert_eq!(decode(&bytes), events);
        assert_eq!(decode(&bytes[..bytes.len() - 1]), events[..1]);
    }

    #[test]
    fn reports_a_created_child() {
        let dir = std::env::temp_dir().join(format!("gmr-inotify-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let inotify = Inotify::new().unwrap();
        let wd = inotify.add_watch(&dir, libc::IN_CREATE).unwrap();
        assert_eq!(
            inotify.read_events().unwrap_err().kind(),
            io::ErrorKind::WouldBlock
        );
        std::fs::write(dir.join("x"), "").unwrap();
        let events = inotify.read_events().unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            events,
            [InotifyEvent {
                wd,
                mask: libc::IN_CREATE,
                name: Some("x".into()),
            }]
        );
    }
}
