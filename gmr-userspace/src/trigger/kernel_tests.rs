//! Root-only tests of the triggers on the running kernel: the real eBPF
//! object, trigger files on ext4 (`/tmp` here) and tmpfs (`/dev/shm`),
//! touched by another user, and test cgroups for reconfiguring the
//! signal trigger.

use std::{
    fs::{self, Permissions},
    os::unix::fs::PermissionsExt as _,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use aya::Ebpf;

use gmr_common::TriggerEvent;

use super::{
    FileHook, FileTriggerEvent, TriggerFileSpec, Triggered, Triggers,
    ctime::{CTIME_TRACEPOINTS, ctime_tracepoints_present},
    delivery_name,
    file::boot_time_ns,
    identity::file_identity,
};
use crate::{
    config::Tag,
    kernel::loader::{LoadOptions, load},
    targets::cgroup::{Cgroup, cgroup2_mount},
    test_support::Reaped,
};
use gmr_tests::{TestCgroup, scratch::Scratch};

/// The uid (and gid) the touching child runs as: `nobody`.
const NOBODY: u32 = 65534;
/// How long an expected event may take.
const EVENT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long to wait to be sure no event comes.
const QUIET: Duration = Duration::from_millis(300);
/// Longer than the kernel's per-file rate limit, so the next touch counts.
const RATE_LIMIT_PASSED: Duration = Duration::from_millis(150);

/// Why the tests cannot run here, if they cannot.
fn skip_reason(hook: FileHook) -> Option<String> {
    if rustix::process::geteuid().as_raw() != 0 {
        return Some("loading eBPF programs needs root".into());
    }
    if hook == FileHook::Tracepoints
        && let Err(e) = ctime_tracepoints_present()
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
    let mut scratches = Vec::new();
    let mut specs = Vec::new();
    for (tag_index, base) in [(0, "/tmp"), (1, "/dev/shm")] {
        if tag_index == 1 && !Path::new(base).is_dir() {
            eprintln!("no {base}: testing ext4 only");
            continue;
        }
        let scratch = Scratch::new_in(Path::new(base), &format!("file-trigger-{label}"));
        let mut spec = TriggerFileSpec::new(tag_index, scratch.join("triggers/api.trigger"), None);
        spec.mode = 0o666;
        specs.push(spec);
        scratches.push(scratch);
    }
    (scratches, specs)
}

fn attach(specs: &[TriggerFileSpec], hook: FileHook) -> (Ebpf, Triggers) {
    let mut ebpf = load(LoadOptions {
        trigger_signal: libc::SIGUSR2 as u32,
        stack_cap: crate::capture::StackCap::DEFAULT,
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
    let now = rustix::fs::Timespec {
        tv_sec: 0,
        tv_nsec: rustix::fs::UTIME_NOW,
    };
    let times = rustix::fs::Timestamps {
        last_access: now,
        last_modification: now,
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::empty())
        .unwrap_or_else(|e| panic!("utimensat {}: {e}", path.display()));
}

/// The file events arriving within `window`.
async fn collect(triggers: &mut Triggers, window: Duration) -> Vec<FileTriggerEvent> {
    every_event(triggers, window)
        .await
        .into_iter()
        .map(|event| match event {
            Triggered::File(event) => event,
            Triggered::Signal(event) => panic!("unexpected signal trigger {event:?}"),
        })
        .collect()
}

/// Every trigger event arriving within `window`.
async fn every_event(triggers: &mut Triggers, window: Duration) -> Vec<Triggered> {
    let deadline = tokio::time::Instant::now() + window;
    let mut got = Vec::new();
    while let Ok(events) = tokio::time::timeout_at(deadline, triggers.next_events()).await {
        got.extend(events.expect("reading triggers"));
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
    // Events are rate-limited when they are read, which a loaded machine
    // may do well after the touches: count the windows up to now.
    let windows = started.elapsed().as_millis() as usize / 100 + 1;
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
    // Events are rate-limited when they are read, which a loaded machine
    // may do well after the touches: count the windows up to now.
    let windows = started.elapsed().as_millis() as usize / 100 + 1;
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

/// A trigger file spec for `tag_index` in its own directory below `base`,
/// writable by anyone so `nobody` may touch it.
fn spec_below(base: &Path, name: &str, tag_index: u32) -> TriggerFileSpec {
    let mut spec = TriggerFileSpec::new(tag_index, base.join(name).join("api.trigger"), None);
    spec.mode = 0o666;
    spec
}

/// Reconfiguring adds, keeps, retags and removes trigger files while the
/// trigger runs, and a failed reconfiguration keeps the previous files.
fn run_reconfigure(hook: FileHook, label: &str) {
    if let Some(reason) = skip_reason(hook) {
        eprintln!("SKIP: {reason}");
        return;
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _reactor = runtime.enter();
    let scratch = Scratch::new(&format!("reconfigure-{label}"));
    let a = spec_below(scratch.path(), "a", 0);
    let (mut ebpf, mut triggers) = attach(std::slice::from_ref(&a), hook);
    runtime.block_on(async {
        touched_by_nobody(&mut triggers, &a, hook).await;

        // A new file in a new directory; A's mode changes, which the
        // agent's own chmod must not report as a touch.
        let mut a = a.clone();
        a.mode = 0o646;
        let b = spec_below(scratch.path(), "b", 1);
        triggers
            .reconfigure(&mut ebpf, &[], &[a.clone(), b.clone()])
            .expect("adding B");
        assert_eq!(
            collect(&mut triggers, QUIET).await,
            [],
            "reconfiguring is no request"
        );
        let mode = fs::metadata(&a.path).unwrap().permissions().mode() & 0o7777;
        assert_eq!(mode, 0o646, "A has its new mode");
        assert_eq!(triggers.files().armed().len(), 2);
        touched_by_nobody(&mut triggers, &b, hook).await;
        touched_by_nobody(&mut triggers, &a, hook).await;

        // A removed, B kept under a new tag index.
        let b = TriggerFileSpec { tag_index: 0, ..b };
        triggers
            .reconfigure(&mut ebpf, &[], std::slice::from_ref(&b))
            .expect("removing A");
        assert!(
            !a.path.exists(),
            "the agent removes the trigger file it created when its tag goes"
        );
        assert_eq!(armed_inode(&triggers, &a), None);
        // A file put there by hand is not armed, nor recreated once gone.
        fs::write(&a.path, "").unwrap();
        fs::set_permissions(&a.path, fs::Permissions::from_mode(0o666)).unwrap();
        assert_eq!(collect(&mut triggers, QUIET).await, []);
        tokio::time::sleep(RATE_LIMIT_PASSED).await;
        touch_as_nobody(&a.path);
        assert_eq!(collect(&mut triggers, QUIET).await, [], "A is disarmed");
        fs::remove_file(&a.path).unwrap();
        assert_eq!(collect(&mut triggers, QUIET).await, []);
        assert!(!a.path.exists(), "A is no longer watched, so not recreated");
        touched_by_nobody(&mut triggers, &b, hook).await;

        // A file that cannot be set up fails the whole reconfiguration.
        let armed_before = armed_inode(&triggers, &b);
        let bad = TriggerFileSpec::new(1, "/proc/gmr-no-such-dir/x.trigger", None);
        let err = triggers
            .reconfigure(&mut ebpf, &[], &[a.clone(), bad])
            .expect_err("a file under /proc cannot be set up");
        eprintln!("failed as expected: {err:#}");
        assert!(!a.path.exists(), "A was not armed again");
        assert_eq!(triggers.files().armed().len(), 1);
        assert_eq!(armed_inode(&triggers, &b), armed_before);
        touched_by_nobody(&mut triggers, &b, hook).await;

        // No file left: the tracepoints are detached; a file attaches them again.
        triggers
            .reconfigure(&mut ebpf, &[], &[])
            .expect("removing every file");
        assert_eq!(triggers.files().attached_hooks(), 0);
        triggers
            .reconfigure(&mut ebpf, &[], std::slice::from_ref(&b))
            .expect("adding B again");
        let hooks = match hook {
            FileHook::Tracepoints => CTIME_TRACEPOINTS.len(),
            FileHook::Inotify => 0,
        };
        assert_eq!(triggers.files().attached_hooks(), hooks);
        touched_by_nobody(&mut triggers, &b, hook).await;
    });
}

#[test]
fn tracepoints_trigger_files_can_be_reconfigured() {
    run_reconfigure(FileHook::Tracepoints, "tp");
}

#[test]
fn inotify_trigger_files_can_be_reconfigured() {
    run_reconfigure(FileHook::Inotify, "inotify");
}

/// The agent's view of a test cgroup.
fn cgroup_of(group: &TestCgroup) -> Cgroup {
    Cgroup {
        path: group.path().to_path_buf(),
        id: group.id(),
    }
}

/// A tag on `group` named after its directory, with no other settings.
fn tag_of(group: &TestCgroup) -> Tag {
    Tag {
        name: group.path().file_name().unwrap().to_string_lossy().into(),
        target: crate::targets::Target::Cgroup(group.path().to_path_buf()),
        cgroups: vec![cgroup_of(group)],
        config_files: Vec::new(),
        sections: Vec::new(),
        trigger_file: None,
        freeze: false,
        signal_trigger: true,
    }
}

/// Starts a process that ignores SIGUSR2 and moves it into `cgroup`.
fn start_ignoring_usr2(cgroup: &Cgroup) -> Reaped {
    // `exec`, so the ignoring process is the only one and dies with kill;
    // an ignored signal stays ignored across exec.
    let child = Command::new("sh")
        .args(["-c", "trap '' USR2; exec sleep 30"])
        .spawn()
        .expect("starting sh");
    let child = Reaped(child);
    let pid = child.0.id();
    fs::write(cgroup.path.join("cgroup.procs"), pid.to_string()).expect("moving into the cgroup");
    // Signalled before the trap is set, the shell would die.
    let deadline = Instant::now() + EVENT_TIMEOUT;
    let usr2 = 1u64 << (libc::SIGUSR2 - 1);
    loop {
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        let ignored = status
            .lines()
            .find_map(|line| line.strip_prefix("SigIgn:"))
            .and_then(|mask| u64::from_str_radix(mask.trim(), 16).ok())
            .unwrap_or(0);
        let comm = fs::read_to_string(format!("/proc/{pid}/comm")).unwrap();
        if ignored & usr2 != 0 && comm.trim() == "sleep" {
            return child;
        }
        assert!(Instant::now() < deadline, "the child never ignored SIGUSR2");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Sends SIGUSR2 to `pid` and returns the signal events within [`QUIET`]
/// (enough for one to arrive).
async fn signal_events(triggers: &mut Triggers, pid: u32) -> Vec<TriggerEvent> {
    let pid = rustix::process::Pid::from_raw(pid.cast_signed()).expect("a live pid");
    rustix::process::kill_process(pid, rustix::process::Signal::USR2).expect("kill SIGUSR2");
    every_event(triggers, QUIET)
        .await
        .into_iter()
        .map(|event| match event {
            Triggered::Signal(event) => event,
            Triggered::File(event) => panic!("unexpected file trigger {event:?}"),
        })
        .collect()
}

#[test]
fn tagged_cgroups_can_be_reconfigured() {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("SKIP: loading eBPF programs needs root");
        return;
    }
    if let Err(e) = cgroup2_mount() {
        eprintln!("SKIP: {e:#}");
        return;
    }
    let (a, b) = (TestCgroup::create(), TestCgroup::create());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _reactor = runtime.enter();
    let mut ebpf = load(LoadOptions {
        trigger_signal: libc::SIGUSR2 as u32,
        stack_cap: crate::capture::StackCap::DEFAULT,
    })
    .expect("loading the eBPF object");
    let mut triggers =
        Triggers::attach(&mut ebpf, &[tag_of(&a)], &[], FileHook::Inotify).expect("attaching");
    let child = start_ignoring_usr2(&cgroup_of(&b));
    let child_pid = child.0.id();
    runtime.block_on(async {
        let events = signal_events(&mut triggers, child_pid).await;
        assert!(events.is_empty(), "B is not tagged yet: {events:?}");

        triggers
            .reconfigure(&mut ebpf, &[tag_of(&a), tag_of(&b)], &[])
            .expect("tagging B");
        let events = signal_events(&mut triggers, child_pid).await;
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            (events[0].tagged_cgroup_id, events[0].target_tgid),
            (b.id(), child_pid)
        );
        assert_eq!(delivery_name(events[0].result), "ignored");

        triggers
            .reconfigure(&mut ebpf, &[tag_of(&a)], &[])
            .expect("untagging B");
        let events = signal_events(&mut triggers, child_pid).await;
        assert!(events.is_empty(), "B is untagged: {events:?}");

        // A tag without the signal trigger: nothing tagged, nothing attached.
        let quiet_b = Tag {
            signal_trigger: false,
            ..tag_of(&b)
        };
        triggers
            .reconfigure(&mut ebpf, &[quiet_b], &[])
            .expect("B without the signal trigger");
        assert!(!triggers.signal.is_attached());
        let events = signal_events(&mut triggers, child_pid).await;
        assert!(events.is_empty(), "B does not use the signal: {events:?}");
        triggers
            .reconfigure(&mut ebpf, &[tag_of(&b)], &[])
            .expect("tagging B again");
        assert!(triggers.signal.is_attached());
        assert_eq!(signal_events(&mut triggers, child_pid).await.len(), 1);
    });
    drop(child);
}
