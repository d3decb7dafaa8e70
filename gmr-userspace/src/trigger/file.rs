//! The file trigger: one trigger file per tag; changing its ctime (`touch`,
//! a write, a chmod) asks for a report.
//!
//! The agent creates each file (root-owned; mode 0660 with the configured
//! group, else 0600; its directory 0755 if missing) and arms it: the file's
//! (device, inode) goes into the kernel's `TRIGGER_FILES` map, and BTF
//! tracepoints on the `timestamp` ctime events (Linux 6.13+, see
//! [`super::ctime`]) report its ctime changes with the toucher's pid, uid
//! and name. The kernel sends at most one event per file
//! per [`FILE_TRIGGER_MIN_INTERVAL_NS`] (100 ms) and drops the rest, so a
//! burst of touches costs a handful of ring-buffer records; merging
//! triggers per process is the agent's job.
//!
//! An inotify watch on each file's directory notices the file being
//! deleted, renamed away, or replaced (`mv new x.trigger`): a missing file
//! is recreated (a file put there by someone else keeps their owner and
//! mode), and the map is updated to the inode now at the path. The ctime
//! change that an unlink or a rename-over itself makes is not a request: a
//! kernel event counts only if it is newer than the arming of its file and
//! that file is still at the path when the agent reads the event.
//!
//! The agent removes the files it created when it stops or when a reload
//! drops their tag, so no stale trigger file is left that silently does
//! nothing when touched. A file it did not create (there before it
//! started, or put in place of its own) is left alone. A killed agent
//! (`kill -9`) cannot clean up: the next agent adopts the files its tags
//! still name.
//!
//! Where the tracepoints are missing (kernels before 6.13)
//! the same watch also reports touches, as `IN_ATTRIB`, `IN_MODIFY` or
//! `IN_CLOSE_WRITE` on the file's name, rate-limited the same way; the
//! requester is then unknown.

use std::{
    ffi::{OsStr, OsString},
    fmt,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use aya::{Ebpf, programs::tp_btf::BtfTracePointLink};
use gmr_common::{FILE_TRIGGER_MIN_INTERVAL_NS, TriggerEvent, TriggerFileKey, TriggerFileState};
use tokio::io::unix::AsyncFd;

use super::{
    ctime::{CtimeMaps, attach_ctime_programs, load_ctime_programs},
    file_setup::{Ownership, create, ensure_dir, fix_existing, remove_if_same},
    identity::{FileIdentity, file_identity},
    inotify::{Inotify, InotifyEvent},
};
use crate::capture::decode::comm_string;

/// Where trigger files go unless configured otherwise.
pub const DEFAULT_TRIGGER_DIR: &str = "/run/gmr";

/// Directory events that may mean the file at a trigger path changed.
const REPLACE_EVENTS: u32 =
    libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_DELETE | libc::IN_MOVED_FROM;
/// Events on a watched directory itself: it is gone or elsewhere.
const DIR_GONE_EVENTS: u32 = libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_IGNORED;
/// Events that count as a touch when inotify is the only hook. With the
/// tracepoints they are not watched: `IN_ATTRIB` would wake the agent on
/// every touch for nothing.
const TOUCH_EVENTS: u32 = libc::IN_ATTRIB | libc::IN_MODIFY | libc::IN_CLOSE_WRITE;

/// One tag's trigger file, as configured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerFileSpec {
    /// Index of the tag in the configuration; reported back in events.
    pub tag_index: u32,
    /// Absolute path of the file.
    pub path: PathBuf,
    /// Group owner; `None` means root.
    pub group: Option<u32>,
    /// Permission bits, at most `0o777`.
    pub mode: u32,
}

impl TriggerFileSpec {
    /// A spec with the default mode: 0660 when a group may touch the file,
    /// else 0600.
    pub fn new(tag_index: u32, path: impl Into<PathBuf>, group: Option<u32>) -> Self {
        Self {
            tag_index,
            path: path.into(),
            group,
            mode: if group.is_some() { 0o660 } else { 0o600 },
        }
    }

    /// The default path of tag `tag_name`'s trigger file,
    /// `/run/gmr/<tag name>.trigger`.
    pub fn default_path(tag_name: &str) -> PathBuf {
        Path::new(DEFAULT_TRIGGER_DIR).join(format!("{tag_name}.trigger"))
    }

    fn ownership(&self) -> Ownership {
        Ownership {
            gid: self.group.unwrap_or(0),
            mode: self.mode,
        }
    }
}

/// How touches of trigger files are noticed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileHook {
    /// The kernel's `timestamp` tracepoints: the requester is known.
    /// Asking for it falls back to [`FileHook::Inotify`] when they are
    /// missing.
    Tracepoints,
    /// inotify alone: the requester is unknown.
    Inotify,
}

impl fmt::Display for FileHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tracepoints => "timestamp tracepoints",
            Self::Inotify => "inotify",
        })
    }
}

/// The task that touched a trigger file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileRequester {
    /// Its process id.
    pub pid: u32,
    /// Its thread id.
    pub tid: u32,
    /// Its real uid.
    pub uid: u32,
    /// Its thread name.
    pub comm: String,
}

/// A trigger file was touched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileTriggerEvent {
    /// [`TriggerFileSpec::tag_index`] of the file.
    pub tag_index: u32,
    /// The file.
    pub path: PathBuf,
    /// Who touched it; `None` with the inotify hook.
    pub requester: Option<FileRequester>,
    /// `CLOCK_BOOTTIME` in ns when the kernel saw the touch (tracepoints)
    /// or the agent read it (inotify).
    pub boot_time_ns: u64,
}

/// One trigger file and what is known about it.
#[derive(Debug)]
struct Armed {
    spec: TriggerFileSpec,
    dir: PathBuf,
    name: OsString,
    /// inotify watch of `dir`.
    wd: i32,
    /// The armed file; `None` while the path holds no usable file.
    identity: Option<FileIdentity>,
    /// The last file the agent itself created at the path: removed when
    /// the agent stops or the tag goes, if it is still there.
    created: Option<FileIdentity>,
    /// `CLOCK_BOOTTIME` (ns) when it was armed: earlier kernel events are
    /// from its predecessor's removal or replacement, or from the agent
    /// setting it up, even when it reuses its predecessor's inode number.
    armed_at: u64,
    /// Last touch reported with the inotify hook.
    last_touch: Option<Instant>,
}

/// The armed trigger files and the watch that keeps them armed.
pub struct FileTrigger {
    /// The programs' maps, present when the tracepoint programs are loaded.
    kernel: Option<CtimeMaps>,
    /// The attached tracepoints: present only while a file is armed, so a
    /// host with no trigger file pays nothing per ctime change.
    hooks: Vec<BtfTracePointLink>,
    inotify: AsyncFd<Inotify>,
    files: Vec<Armed>,
    /// Touches read while reconfiguring, for the next caller.
    pending: Vec<FileTriggerEvent>,
}

impl FileTrigger {
    /// Creates or fixes the files of `specs`, loads the tracepoint programs
    /// when `hook` asks for them (falling back to inotify with a warning
    /// when they are missing), and arms every file. The tracepoints are
    /// attached only while a file is armed. Call it within a tokio runtime:
    /// it registers an fd with the reactor.
    pub fn attach(ebpf: &mut Ebpf, specs: &[TriggerFileSpec], hook: FileHook) -> Result<Self> {
        let mut files = Vec::with_capacity(specs.len());
        for spec in specs {
            files.push(prepare(spec, specs)?);
        }
        let kernel = match hook {
            FileHook::Tracepoints => match load_ctime_programs(ebpf) {
                Ok(maps) => Some(maps),
                Err(e) => {
                    log::warn!(
                        "trigger files fall back to inotify, so who touched them stays unknown: {e:#}"
                    );
                    None
                }
            },
            FileHook::Inotify => None,
        };
        let inotify =
            Inotify::new().context("cannot create an inotify instance for trigger files")?;
        // SAFETY: `Inotify` owns its fd and the AsyncFd owns the `Inotify`,
        // so the fd stays open for as long as it is registered.
        let inotify = unsafe { AsyncFd::register(inotify) }
            .map_err(|e| e.into_parts().1)
            .context("registering the trigger files' inotify fd")?;
        let mut this = Self {
            kernel,
            hooks: Vec::new(),
            inotify,
            files,
            pending: Vec::new(),
        };
        this.hook_in(ebpf, specs)?;
        for index in 0..this.files.len() {
            // Watch before arming, so a replacement in between is noticed.
            let wd = this.watch(&this.files[index].dir)?;
            this.files[index].wd = wd;
            this.rearm(index)?;
        }
        Ok(this)
    }

    /// Attaches the loaded tracepoints when `specs` arm a file and they are
    /// not attached yet.
    fn hook_in(&mut self, ebpf: &mut Ebpf, specs: &[TriggerFileSpec]) -> Result<()> {
        if self.kernel.is_some() && self.hooks.is_empty() && !specs.is_empty() {
            self.hooks = attach_ctime_programs(ebpf)?;
        }
        Ok(())
    }

    /// Detaches the tracepoints once no file is armed.
    fn unhook_if_idle(&mut self) {
        if self.files.is_empty() {
            self.hooks.clear();
        }
    }

    /// How many tracepoints are attached (0 while no file is armed).
    pub fn attached_hooks(&self) -> usize {
        self.hooks.len()
    }

    /// The hook in use.
    pub fn hook(&self) -> FileHook {
        if self.kernel.is_some() {
            FileHook::Tracepoints
        } else {
            FileHook::Inotify
        }
    }

    /// The paths of the armed files and their (kernel device, inode).
    pub fn armed(&self) -> Vec<(&Path, Option<TriggerFileKey>)> {
        self.files
            .iter()
            .map(|f| (f.spec.path.as_path(), f.identity.map(|i| i.key)))
            .collect()
    }

    /// Turns a kernel event of kind `TRIGGER_KIND_FILE` into a trigger;
    /// `None` when its inode is no longer at the trigger path (the event
    /// was the file's own removal or replacement).
    pub fn accept(&self, event: &TriggerEvent) -> Option<FileTriggerEvent> {
        let key = TriggerFileKey {
            ino: event.file_ino,
            dev: event.file_dev,
            reserved: 0,
        };
        let comm = comm_string(&event.sender_comm);
        let Some((file, identity)) = self
            .files
            .iter()
            .find_map(|f| f.identity.filter(|i| i.key == key).map(|i| (f, i)))
        else {
            log::debug!(
                "ignoring a file trigger for inode {} no longer armed",
                key.ino
            );
            return None;
        };
        if event.boot_time_ns < file.armed_at {
            log::debug!(
                "ignoring a change of {} from before it was armed",
                file.spec.path.display()
            );
            return None;
        }
        if !matches!(file_identity(&file.spec.path), Ok(Some(now)) if now == identity) {
            log::info!(
                "{} was removed or replaced by {} ({comm}, uid {}); not a request",
                file.spec.path.display(),
                event.sender_tgid,
                event.sender_uid
            );
            return None;
        }
        Some(FileTriggerEvent {
            tag_index: file.spec.tag_index,
            path: file.spec.path.clone(),
            requester: Some(FileRequester {
                pid: event.sender_tgid,
                tid: event.sender_tid,
                uid: event.sender_uid,
                comm,
            }),
            boot_time_ns: event.boot_time_ns,
        })
    }

    /// Applies the directory changes inotify has queued, without waiting;
    /// returns the touches among them (inotify hook). Call it before
    /// [`Self::accept`], so a removal or replacement racing the kernel
    /// event is known.
    pub fn apply_pending_changes(&mut self) -> Result<Vec<FileTriggerEvent>> {
        let mut touched = std::mem::take(&mut self.pending);
        touched.extend(self.read_changes()?);
        Ok(touched)
    }

    /// Applies the queued inotify events, without waiting; returns the
    /// touches among them.
    fn read_changes(&mut self) -> Result<Vec<FileTriggerEvent>> {
        match self.inotify.get_ref().read_events() {
            Ok(events) => Ok(self.handle(&events)),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => Ok(Vec::new()),
            Err(e) => Err(e).context("reading trigger file changes (inotify)"),
        }
    }

    /// Keeps the files armed as they are deleted or replaced, and waits for
    /// touches seen by inotify (never returns with the tracepoints, whose
    /// events come through the trigger ring buffer). Cancel-safe.
    pub async fn next_events(&mut self) -> Result<Vec<FileTriggerEvent>> {
        if !self.pending.is_empty() {
            return Ok(std::mem::take(&mut self.pending));
        }
        loop {
            let events = {
                let mut guard = self
                    .inotify
                    .readable()
                    .await
                    .context("waiting for trigger file changes")?;
                match guard.try_io(|inner| inner.get_ref().read_events()) {
                    Ok(events) => events.context("reading trigger file changes (inotify)")?,
                    Err(_would_block) => continue,
                }
            };
            let touched = self.handle(&events);
            if !touched.is_empty() {
                return Ok(touched);
            }
        }
    }

    /// Replaces the trigger files with `specs`, keeping the hook. A file
    /// whose path is unchanged stays armed, with its new tag, group and
    /// mode; a file no longer configured is disarmed and left on disk; a
    /// new file is set up and armed as [`Self::attach`] does. The
    /// tracepoints are attached when the first file comes and detached when
    /// the last goes. On error the previous files stay armed, though a kept
    /// file may already have its new group and mode.
    pub fn reconfigure(&mut self, ebpf: &mut Ebpf, specs: &[TriggerFileSpec]) -> Result<()> {
        self.hook_in(ebpf, specs)?;
        let replaced = self.replace_files(specs);
        self.unhook_if_idle();
        replaced
    }

    /// [`Self::reconfigure`]'s work on the files, the hooks aside.
    fn replace_files(&mut self, specs: &[TriggerFileSpec]) -> Result<()> {
        // Whatever may fail comes before any file is armed or disarmed.
        let mut added = Vec::new();
        let mut refit = Vec::new();
        for spec in specs {
            match self.position(&spec.path) {
                Some(index) => {
                    check(spec, specs)?;
                    if self.files[index].spec.ownership() != spec.ownership() {
                        refit.push((index, spec));
                    }
                }
                None => added.push(prepare(spec, specs)?),
            }
        }
        for index in 0..added.len() {
            // Watch before arming, so a replacement in between is noticed.
            match self.watch(&added[index].dir) {
                Ok(wd) => added[index].wd = wd,
                Err(e) => {
                    self.unwatch_unused(added[..index].iter().map(|f| f.wd));
                    return Err(e);
                }
            }
        }
        if let Err(e) = self.refit(&refit) {
            self.unwatch_unused(added.iter().map(|f| f.wd));
            return Err(e);
        }
        let first_added = self.files.len();
        self.files.extend(added);
        for index in first_added..self.files.len() {
            if let Err(e) = self.rearm(index) {
                for index in first_added..self.files.len() {
                    self.disarm(index);
                }
                let added = self.files.split_off(first_added);
                self.unwatch_unused(added.iter().map(|f| f.wd));
                return Err(e);
            }
        }

        // Nothing fails from here on.
        for spec in specs {
            if let Some(index) = self.position(&spec.path) {
                self.retag(index, spec);
            }
        }
        let (kept, removed) = std::mem::take(&mut self.files)
            .into_iter()
            .partition(|f| specs.iter().any(|spec| spec.path == f.spec.path));
        self.files = kept;
        for file in &removed {
            self.forget(file);
            remove_created(file);
        }
        self.unwatch_unused(removed.iter().map(|f| f.wd));
        Ok(())
    }

    /// The index of the file at `path`.
    fn position(&self, path: &Path) -> Option<usize> {
        self.files.iter().position(|f| f.spec.path == path)
    }

    /// Gives kept files (by index) their new owner and mode. The agent's
    /// own chown/chmod changes their ctime: touches read before are kept
    /// for the caller, those it causes are dropped, and the files count as
    /// armed from now on so the kernel's events for it are ignored too.
    fn refit(&mut self, files: &[(usize, &TriggerFileSpec)]) -> Result<()> {
        if files.is_empty() {
            return Ok(());
        }
        let before = self.read_changes()?;
        self.pending.extend(before);
        let fixed = files
            .iter()
            .try_for_each(|(_, spec)| fix_existing(&spec.path, spec.ownership()).map(drop));
        let own = self.read_changes()?;
        self.pending.extend(
            own.into_iter()
                .filter(|touch| !files.iter().any(|(_, spec)| spec.path == touch.path)),
        );
        let now = boot_time_ns();
        for (index, _) in files {
            self.files[*index].armed_at = now;
        }
        fixed
    }

    /// Gives kept file `index` `spec`'s tag, group and mode (its path is
    /// the same).
    fn retag(&mut self, index: usize, spec: &TriggerFileSpec) {
        let file = &mut self.files[index];
        if file.spec.tag_index != spec.tag_index
            && let (Some(CtimeMaps { files: map, .. }), Some(identity)) =
                (&mut self.kernel, file.identity)
        {
            // The kernel copies the tag into its events, which userspace
            // ignores in favour of the spec: a failure only logs.
            let updated = map.get(&identity.key, 0).and_then(|mut state| {
                state.tag_index = spec.tag_index;
                map.insert(identity.key, state, 0)
            });
            if let Err(e) = updated {
                log::debug!(
                    "trigger file {}: tag not updated in the kernel: {e}",
                    spec.path.display()
                );
            }
        }
        file.spec = spec.clone();
    }

    /// Disarms `file`, no longer configured, in the kernel map too unless
    /// an armed file shares its inode (a hard link).
    fn forget(&mut self, file: &Armed) {
        let Some(old) = file.identity else {
            return;
        };
        let shared = self
            .files
            .iter()
            .any(|f| f.identity.is_some_and(|i| i.key == old.key));
        if let (Some(kernel), false) = (&mut self.kernel, shared) {
            // An error means the entry is already gone: nothing to undo.
            let _ = kernel.files.remove(&old.key);
        }
        self.narrow_ino_filter();
        log::info!("trigger file {} disarmed", file.spec.path.display());
    }

    /// Stops the watches among `wds` that no file uses.
    fn unwatch_unused(&self, wds: impl IntoIterator<Item = i32>) {
        let mut stopped = Vec::new();
        for wd in wds {
            if wd < 0 || stopped.contains(&wd) || self.files.iter().any(|f| f.wd == wd) {
                continue;
            }
            // An error means the watch is already gone (its directory too).
            let _ = self.inotify.get_ref().remove_watch(wd);
            stopped.push(wd);
        }
    }

    /// Applies inotify events; returns the touches they report.
    fn handle(&mut self, events: &[InotifyEvent]) -> Vec<FileTriggerEvent> {
        let mut touched = Vec::new();
        for event in events {
            if event.mask & libc::IN_Q_OVERFLOW != 0 {
                log::warn!(
                    "trigger file changes were lost (inotify queue overflow); re-arming all"
                );
                for index in 0..self.files.len() {
                    self.rearm_logged(index);
                }
                continue;
            }
            if event.mask & DIR_GONE_EVENTS != 0 {
                self.rewatch(event.wd, event.mask);
                continue;
            }
            let Some(name) = &event.name else {
                continue;
            };
            for index in 0..self.files.len() {
                let file = &self.files[index];
                if file.wd != event.wd || &file.name != name {
                    continue;
                }
                if event.mask & REPLACE_EVENTS != 0 {
                    self.rearm_logged(index);
                } else if event.mask & TOUCH_EVENTS != 0 && self.kernel.is_none() {
                    touched.extend(self.touched(index));
                }
            }
        }
        touched
    }

    /// A touch seen by inotify, if the armed file is still in place and its
    /// last touch is old enough.
    fn touched(&mut self, index: usize) -> Option<FileTriggerEvent> {
        let file = &mut self.files[index];
        let identity = file.identity?;
        if !matches!(file_identity(&file.spec.path), Ok(Some(now)) if now == identity) {
            return None;
        }
        let min_interval = Duration::from_nanos(FILE_TRIGGER_MIN_INTERVAL_NS);
        if file
            .last_touch
            .is_some_and(|last| last.elapsed() < min_interval)
        {
            return None;
        }
        file.last_touch = Some(Instant::now());
        Some(FileTriggerEvent {
            tag_index: file.spec.tag_index,
            path: file.spec.path.clone(),
            requester: None,
            boot_time_ns: boot_time_ns(),
        })
    }

    /// Watch `wd`'s directory was removed, moved or unmounted: recreate and
    /// watch it again, and re-arm its files.
    fn rewatch(&mut self, wd: i32, mask: u32) {
        if mask & libc::IN_MOVE_SELF != 0 {
            // The watch would follow the directory to its new name.
            let _ = self.inotify.get_ref().remove_watch(wd);
        }
        let affected: Vec<usize> = (0..self.files.len())
            .filter(|&i| self.files[i].wd == wd)
            .collect();
        for index in affected {
            let dir = self.files[index].dir.clone();
            match ensure_dir(&dir).and_then(|()| self.watch(&dir)) {
                Ok(new_wd) => {
                    self.files[index].wd = new_wd;
                    self.rearm_logged(index);
                }
                Err(e) => {
                    log::error!(
                        "trigger file {} is disarmed: {e:#}",
                        self.files[index].spec.path.display()
                    );
                    self.disarm(index);
                }
            }
        }
    }

    /// Watches `dir` for replacements (and touches, without tracepoints).
    fn watch(&self, dir: &Path) -> Result<i32> {
        let touches = if self.kernel.is_none() {
            TOUCH_EVENTS
        } else {
            0
        };
        let mask =
            REPLACE_EVENTS | libc::IN_DELETE_SELF | libc::IN_MOVE_SELF | libc::IN_ONLYDIR | touches;
        self.inotify
            .get_ref()
            .add_watch(dir, mask)
            .with_context(|| format!("cannot watch trigger directory {}", dir.display()))
    }

    /// [`Self::rearm`], logging a failure: the file stays disarmed until
    /// the next change of its directory.
    fn rearm_logged(&mut self, index: usize) {
        if let Err(e) = self.rearm(index) {
            log::error!("{e:#}");
        }
    }

    /// Arms the file now at the path, creating it when missing.
    fn rearm(&mut self, index: usize) -> Result<()> {
        let spec = &self.files[index].spec;
        let identity = match file_identity(&spec.path) {
            Ok(Some(identity)) => Ok(identity),
            Ok(None) => create(&spec.path, spec.ownership()).map(|placed| {
                if placed.created {
                    self.files[index].created = Some(placed.identity);
                }
                placed.identity
            }),
            Err(e) => Err(e),
        };
        let spec = &self.files[index].spec;
        let disarmed = format!("trigger file {} is disarmed", spec.path.display());
        match identity {
            Ok(identity) => self.arm(index, identity),
            Err(e) => {
                self.disarm(index);
                Err(e).context(disarmed)
            }
        }
    }

    /// Arms `identity` as file `index`, in the kernel map too, with a
    /// fresh rate limit and arming time; nothing to do if it is armed
    /// already.
    fn arm(&mut self, index: usize, identity: FileIdentity) -> Result<()> {
        if self.files[index].identity == Some(identity) {
            return Ok(());
        }
        self.disarm(index);
        let hook = self.hook();
        let key = identity.key;
        let armed: Vec<u64> = self
            .files
            .iter()
            .filter_map(|f| f.identity.map(|i| i.key.ino))
            .collect();
        let file = &mut self.files[index];
        if let Some(kernel) = &mut self.kernel {
            let state = TriggerFileState {
                last_event_ns: 0,
                tag_index: file.spec.tag_index,
                reserved: 0,
            };
            // The filter first, so the file passes it once it is in the map.
            kernel.set_ino_filter(armed.into_iter().chain([key.ino]))?;
            kernel.files.insert(key, state, 0).with_context(|| {
                format!(
                    "cannot arm trigger file {} in the kernel",
                    file.spec.path.display()
                )
            })?;
        }
        file.identity = Some(identity);
        file.armed_at = boot_time_ns();
        log::info!(
            "trigger file {} armed (device {}:{}, inode {}, hook: {hook})",
            file.spec.path.display(),
            key.dev >> 20,
            key.dev & 0xf_ffff,
            key.ino,
        );
        Ok(())
    }

    /// Forgets file `index`'s armed file, in the kernel map too.
    fn disarm(&mut self, index: usize) {
        let file = &mut self.files[index];
        let Some(old) = file.identity.take() else {
            return;
        };
        if let Some(kernel) = &mut self.kernel {
            // An error means the entry is already gone: nothing to undo.
            let _ = kernel.files.remove(&old.key);
        }
        log::debug!(
            "trigger file {}: inode {} disarmed",
            file.spec.path.display(),
            old.key.ino
        );
        self.narrow_ino_filter();
    }

    /// Clears the kernel's inode filter of files no longer armed. A failure
    /// leaves stale bits, which only cost a hash lookup on those inodes.
    fn narrow_ino_filter(&mut self) {
        if let Some(kernel) = &mut self.kernel {
            let armed = self.files.iter().filter_map(|f| f.identity);
            if let Err(e) = kernel.set_ino_filter(armed.map(|i| i.key.ino)) {
                log::debug!("{e:#}");
            }
        }
    }
}

impl Drop for FileTrigger {
    /// The agent is stopping: the files it created go with it.
    fn drop(&mut self) {
        for file in &self.files {
            remove_created(file);
        }
    }
}

/// Removes `file`'s trigger file if the agent created it and it is still
/// the one at the path; logs what it did, since an operator may look for it.
fn remove_created(file: &Armed) {
    let Some(created) = file.created else {
        return;
    };
    let path = file.spec.path.display();
    match remove_if_same(&file.spec.path, created) {
        Ok(true) => log::info!("trigger file {path} removed"),
        Ok(false) => log::info!("trigger file {path} left in place: the agent did not create it"),
        Err(e) => log::warn!("trigger file {path} not removed: {e:#}"),
    }
}

/// Checks `spec` and sets its file and directory up.
fn prepare(spec: &TriggerFileSpec, all: &[TriggerFileSpec]) -> Result<Armed> {
    let (dir, name) = check(spec, all)?;
    ensure_dir(dir)?;
    fix_existing(&spec.path, spec.ownership())?;
    Ok(Armed {
        spec: spec.clone(),
        dir: dir.to_owned(),
        name: name.to_owned(),
        wd: -1,
        identity: None,
        created: None,
        armed_at: 0,
        last_touch: None,
    })
}

/// Checks `spec` against itself and `all`; returns its directory and name.
fn check<'a>(spec: &'a TriggerFileSpec, all: &[TriggerFileSpec]) -> Result<(&'a Path, &'a OsStr)> {
    let path = &spec.path;
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("trigger file {}: not a path to a file", path.display());
    };
    if !path.is_absolute() {
        bail!("trigger file {}: must be an absolute path", path.display());
    }
    if spec.mode & !0o777 != 0 {
        bail!(
            "trigger file {}: mode {:o} is not a permission mode",
            path.display(),
            spec.mode
        );
    }
    if all.iter().filter(|other| other.path == *path).count() > 1 {
        bail!(
            "trigger file {} is configured for more than one tag",
            path.display()
        );
    }
    Ok((dir, name))
}

/// `CLOCK_BOOTTIME` now, in ns (the clock of `bpf_ktime_get_boot_ns`).
pub fn boot_time_ns() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    now.tv_sec as u64 * 1_000_000_000 + now.tv_nsec as u64
}
