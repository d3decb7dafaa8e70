//! Root-only tests of the file trigger on the running kernel: the real eBPF
//! object, trigger files on ext4 (`/tmp` here) and tmpfs (`/dev/shm`),
//! touched by another user.

use std::{
    ffi::CString,
    fs::{self, Permissions},
    os::unix::{ffi::OsStrExt as _, fs::PermissionsExt as _},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use aya::Ebpf;

use super::{
    FileHook, FileTriggerEvent, TriggerFileSpec, Triggered, Triggers, file::boot_time_ns,
    identity::file_identity, tracefs::timestamp_offsets,
};
use crate::kernel::loader::{LoadOptions, load};

/// The uid (and gid) the touching child runs as: `nobody`.
const NOBODY: u32 = 65534;
/// How long an expected event may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait to be sure no event comes.
const QUIET: Duration = Duration::from_millis(300);
/// Longer than the kernel's per-file rate limit, so the next touch counts.
const RATE_LIMIT_PASSED: Duration = Duration::from_millis(150);

/// A scratch directory removed on drop.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Why the tests cannot run here, if they cannot.
fn skip_reason(hook: FileHook) -> Option<String> {
    // SAFETY: no pointers.
    if unsafe { libc::geteuid() } != 0 {
        return Some("loading eBPF programs needs root".into());
    }
    if hook == FileHook::Tracepoints
        && let Err(e) = timestamp_offsets()
    {
        return Some(format!("no timestamp tracepoints: {e:#}"));
    }
    if Command::new("setpriv").arg("--version").output().is_err() {
        return Some("setpriv (util-linux) is missing".into());
    }
    None
}

/// Trigger files for tags 0 (ext4, `/tmp`) and 1 (tmpfs, `/dev/shm`), in
/// directories the trigger creates, writable by anyone so `nobody` may
/// touch them.
fn specs(label: &str) -> (Vec<Scratch>, Vec<TriggerFileSpec>) {
    let pid = std::process::id();
    let mut scratches = Vec::new();
    let mut specs = Vec::new();
    for (tag_index, base) in [(0, "/tmp"), (1, "/dev/shm")] {
        if tag_index == 1 && !Path::new(base).is_dir() {
            eprintln!("no {base}: testing ext4 only");
            continue;
        }
        let dir = Path::new(base).join(format!("gmr-file-trigger-{label}-{pid}"));
        let _ = fs::remove_dir_all(&dir);
        let mut spec = TriggerFileSpec::new(tag_index, dir.join("api.trigger"), None);
        spec.mode = 0o666;
        specs.push(spec);
        scratches.push(Scratch(dir));
    }
    (scratches, specs)
}

fn attach(specs: &[TriggerFileSpec], hook: FileHook) -> (Ebpf, Triggers) {
    let mut ebpf = load(LoadOptions {
        trigger_signal: libc::SIGUSR2 as u32,
    })
    .expect("loading the eBPF object");
    let triggers = Triggers::attach(&mut ebpf, &[], specs, hook).expect("attaching triggers");
    assert_eq!(triggers.files().hook(), hook);
    (ebpf, triggers)
}

/// Runs `touch path` as `nobody` and waits for it.
fn touch_as_nobody(path: &Path) {
    let status = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "touch",
        ])
        .arg(path)
        .status()
        .expect("running setpriv touch");
    assert!(
        status.success(),
        "setpriv touch {}: {status}",
        path.display()
    );
}

/// Sets `path`'s times to now from this process, as `touch` does.
fn touch_here(path: &Path) {
    let c_path = CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: a NUL-terminated path; null times mean now.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), std::ptr::null(), 0) };
    assert_eq!(rc, 0, "utimensat {}", path.display());
}

/// The file events arriving within `window`.
async fn collect(triggers: &mut Triggers, window: Duration) -> Vec<FileTriggerEvent> {
    let deadline = tokio::time::Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(events) = tokio::time::timeout_at(deadline, triggers.next_events()).await {
        for event in events.expect("reading triggers") {
            match event {
                Triggered::File(event) => got.push(event),
                Triggered::Signal(event) => panic!("unexpected signal trigger {event:?}"),
            }
        }
    }
    got
}

/// The first file event within [`EVENT_TIMEOUT`], and when it was read
/// (`CLOCK_BOOTTIME`, ns).
async fn next_file_event(triggers: &mut Triggers) -> (FileTriggerEvent, u64) {
    let events = tokio::time::timeout(EVENT_TIMEOUT, triggers.next_events())
        .await
        .expect("no trigger within the timeout")
        .expect("reading triggers");
    let read_at = boot_time_ns();
    match events.into_iter().next() {
        Some(Triggered::File(event)) => (event, read_at),
        other => panic!("expected a file trigger, got {other:?}"),
    }
}

/// Touches `spec`'s file as `nobody` (from another thread, so the runtime
/// reads the event at once) and checks the event.
async fn touched_by_nobody(triggers: &mut Triggers, spec: &TriggerFileSpec, hook: FileHook) {
    tokio::time::sleep(RATE_LIMIT_PASSED).await;
    let started = boot_time_ns();
    let toucher = {
        let path = spec.path.clone();
        std::thread::spawn(move || touch_as_nobody(&path))
    };
    let (event, read_at) = next_file_event(triggers).await;
    toucher.join().unwrap();
    assert_eq!(event.tag_index, spec.tag_index);
    assert_eq!(event.path, spec.path);
    match hook {
        FileHook::Tracepoints => {
            let requester = event.requester.expect("the kernel names the requester");
            assert_eq!((requester.uid, requester.comm.as_str()), (NOBODY, "touch"));
            assert!(requester.pid != 0 && requester.tid != 0, "{requester:?}");
            eprintln!(
                "{}: setpriv touch started → kernel event {} µs → agent {} µs",
                spec.path.display(),
                event.boot_time_ns.saturating_sub(started) / 1000,
                read_at.saturating_sub(event.boot_time_ns) / 1000
            );
        }
        FileHook::Inotify => {
            assert_eq!(event.requester, None);
            eprintln!(
                "{}: setpriv touch started → agent {} µs",
                spec.path.display(),
                read_at.saturating_sub(started) / 1000
            );
        }
    }
    // The touch fired nothing else.
    assert_eq!(collect(triggers, QUIET).await, []);
}

/// The armed inode of `spec`'s file.
fn armed_inode(triggers: &Triggers, spec: &TriggerFileSpec) -> Option<u64> {
    triggers
        .files()
        .armed()
        .into_iter()
        .find(|(path, _)| *path == spec.path)
        .and_then(|(_, key)| key)
        .map(|key| key.ino)
}

/// Deleting the file makes the trigger recreate and re-arm it, without an
/// event; then it works again.
async fn survives_deletion(triggers: &mut Triggers, spec: &TriggerFileSpec, hook: FileHook) {
    let before = armed_inode(triggers, spec).expect("armed");
    fs::remove_file(&spec.path).unwrap();
    assert_eq!(
        collect(triggers, QUIET).await,
        [],
        "a deletion is no request"
    );
    let now = file_identity(&spec.path).unwrap().expect("recreated").key;
    assert_eq!(armed_inode(triggers, spec), Some(now.ino));
    let meta = fs::metadata(&spec.path).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, spec.mode);
    eprintln!(
        "{}: re-armed inode {before} → {}",
        spec.path.display(),
        now.ino
    );
    touched_by_nobody(triggers, spec, hook).await;
}

/// Replacing the file by a rename re-arms the new inode, without an event.
async fn survives_replacement(triggers: &mut Triggers, spec: &TriggerFileSpec, hook: FileHook) {
    let new = spec.path.with_extension("new");
    fs::write(&new, "").unwrap();
    fs::set_permissions(&new, Permissions::from_mode(0o666)).unwrap();
    tokio::time::sleep(RATE_LIMIT_PASSED).await;
    fs::rename(&new, &spec.path).unwrap();
    assert_eq!(
        collect(triggers, QUIET).await,
        [],
        "a replacement is no request"
    );
    let now = file_identity(&spec.path).unwrap().expect("replaced").key;
    assert_eq!(armed_inode(triggers, spec), Some(now.ino));
    touched_by_nobody(triggers, spec, hook).await;
}

/// Touching another file of the same directory triggers nothing.
async fn ignores_other_files(triggers: &mut Triggers, spec: &TriggerFileSpec) {
    let other = spec.path.with_file_name("unrelated");
    fs::write(&other, "").unwrap();
    fs::set_permissions(&other, Permissions::from_mode(0o666)).unwrap();
    collect(triggers, QUIET).await;
    touch_as_nobody(&other);
    assert_eq!(collect(triggers, QUIET).await, []);
    fs::remove_file(&other).unwrap();
}

/// 1,000 `touch` processes run one after the other by `nobody` give at
/// most one event per rate-limit window.
async fn process_bursts_are_bounded(triggers: &mut Triggers, spec: &TriggerFileSpec) {
    tokio::time::sleep(RATE_LIMIT_PASSED).await;
    let started = Instant::now();
    let status = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "sh",
            "-c",
            "i=0; while [ $i -lt 1000 ]; do touch \"$0\"; i=$((i + 1)); done",
        ])
        .arg(&spec.path)
        .status()
        .expect("running the touch loop");
    assert!(status.success(), "touch loop: {status}");
    let took = started.elapsed();
    let events = collect(triggers, QUIET).await;
    let windows = took.as_millis() as usize / 100 + 1;
    eprintln!(
        "{}: 1,000 touch processes in {:.0} ms → {} event(s)",
        spec.path.display(),
        took.as_secs_f64() * 1e3,
        events.len(),
    );
    assert!(!events.is_empty(), "a burst triggers");
    assert!(
        events.len() <= windows,
        "{} events for {windows} windows",
        events.len()
    );
}

/// 1,000 touches give a bounded number of events: one per rate-limit window
/// at most, plus one per thread for threads racing in the same instant.
async fn bursts_are_bounded(triggers: &mut Triggers, spec: &TriggerFileSpec, threads: usize) {
    tokio::time::sleep(RATE_LIMIT_PASSED).await;
    let started = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                for _ in 0..1000 / threads {
                    touch_here(&spec.path);
                }
            });
        }
    });
    let took = started.elapsed();
    let events = collect(triggers, QUIET).await;
    let windows = took.as_millis() as usize / 100 + 1;
    eprintln!(
        "{}: 1,000 touches from {threads} thread(s) in {:.1} ms → {} event(s)",
        spec.path.display(),
        took.as_secs_f64() * 1e3,
        events.len(),
    );
    assert!(!events.is_empty(), "a burst triggers");
    assert!(
        events.len() <= windows * threads,
        "{} events for {windows} rate-limit window(s)",
        events.len()
    );
}

fn run(hook: FileHook, label: &str) {
    if let Some(reason) = skip_reason(hook) {
        eprintln!("SKIP: {reason}");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _reactor = runtime.enter();
    let (_scratches, specs) = specs(label);
    let (_ebpf, mut triggers) = attach(&specs, hook);
    for spec in &specs {
        let meta = fs::metadata(&spec.path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o666);
        let parent = fs::metadata(spec.path.parent().unwrap()).unwrap();
        assert_eq!(parent.permissions().mode() & 0o7777, 0o755);
    }
    runtime.block_on(async {
        for spec in &specs {
            touched_by_nobody(&mut triggers, spec, hook).await;
            ignores_other_files(&mut triggers, spec).await;
            survives_deletion(&mut triggers, spec, hook).await;
            survives_replacement(&mut triggers, spec, hook).await;
            bursts_are_bounded(&mut triggers, spec, 1).await;
            bursts_are_bounded(&mut triggers, spec, 8).await;
            process_bursts_are_bounded(&mut triggers, spec).await;
        }
    });
}

#[test]
fn tracepoints_name_who_touched_a_trigger_file() {
    run(FileHook::Tracepoints, "tp");
}

#[test]
fn inotify_fallback_notices_touches_without_a_requester() {
    run(FileHook::Inotify, "inotify");
}
