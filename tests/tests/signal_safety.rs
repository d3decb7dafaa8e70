//! Signal safety: a tagged process that leaves the trigger signal at its
//! (fatal) default is either guarded (the kernel refuses the signal and the
//! report is made) or, where the kernel cannot refuse signals, named in one
//! warning per process with the safe alternatives, and shown as unsafe by
//! `gmr-agent list`. No test sends SIGUSR2 to an unguarded process without
//! a handler.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

use gmr_tests::syscalls::{Signal, send_signal};
use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, run_agent},
    build_c_fixture, require_root,
    scratch::{Scratch, wait_for_report_files},
};
use serde_json::Value;

/// The one warning an agent without the guard logs.
const UNGUARDED: &str = "signal guard unavailable (";
/// What an agent with the guard logs.
const GUARDED: &str = "signal guard active: SIGUSR2 is refused";

/// `sleep` with SIGUSR2 reset to its default (death), in `cgroup`; killed
/// and reaped on drop.
struct DefaultSleep(Child);

impl DefaultSleep {
    fn spawn(cgroup: &TestCgroup) -> Self {
        let child = Command::new("sh")
            .args(["-c", "trap - USR2; exec sleep 600"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn sh");
        cgroup.add_process(child.id());
        // Wait for the exec, so the name and disposition are sleep's.
        for _ in 0..100 {
            if std::fs::read_to_string(format!("/proc/{}/comm", child.id()))
                .is_ok_and(|c| c.trim() == "sleep")
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Self(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }

    fn alive(&mut self) -> bool {
        matches!(self.0.try_wait(), Ok(None))
    }
}

impl Drop for DefaultSleep {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `gmr-agent list --format json`: pid → (signal_safety, signal_note).
fn listed(agent: &RunningAgent) -> Vec<(u64, String, String)> {
    let out = run_agent(&[
        "list",
        "--format",
        "json",
        "--socket",
        agent.socket().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listing: Value = serde_json::from_slice(&out.stdout).expect("list --format json parses");
    listing["listing"]["tags"][0]["processes"]
        .as_array()
        .expect("processes array")
        .iter()
        .map(|p| {
            (
                p["pid"].as_u64().unwrap(),
                p["signal_safety"].as_str().unwrap().to_owned(),
                p["signal_note"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn safety_of(listing: &[(u64, String, String)], pid: u32) -> (String, String) {
    listing
        .iter()
        .find(|(p, _, _)| *p == pid as u64)
        .map(|(_, safety, note)| (safety.clone(), note.clone()))
        .unwrap_or_else(|| panic!("pid {pid} not listed: {listing:?}"))
}

#[test]
fn unhandled_trigger_signal_is_guarded_or_named_with_safe_alternatives() {
    if !require_root() {
        return;
    }
    let reports = Scratch::new("signal-safety");
    let cgroup = TestCgroup::create();
    let tag = cgroup
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let program = build_c_fixture(CVariant::NoFramePointer);
    let handles = Fixture::spawn(&program, &[], Some(&cgroup));
    let ignores = Fixture::spawn(&program, &["--ignore-usr2"], Some(&cgroup));
    let mut bare = DefaultSleep::spawn(&cgroup);
    let agent = RunningAgent::start(&[
        "--tag",
        cgroup.path().to_str().unwrap(),
        "--report-dir",
        reports.path().to_str().unwrap(),
        "--no-target-stderr",
    ]);
    let log = agent.log();
    let guarded = log.contains(GUARDED);
    assert!(
        guarded ^ log.contains(UNGUARDED),
        "the agent says exactly one of guarded / unguarded:\n{log}"
    );

    let listing = listed(&agent);
    assert_eq!(
        safety_of(&listing, handles.pid()),
        ("handled".into(), "handles SIGUSR2".into())
    );
    assert_eq!(
        safety_of(&listing, ignores.pid()),
        ("ignored".into(), "ignores SIGUSR2".into())
    );
    let (safety, note) = safety_of(&listing, bare.pid());
    let per_process = format!(
        "process {} (sleep) of tag {tag} does not handle SIGUSR2: SIGUSR2 would kill it; ask for its report with `gmr-agent trigger {}`",
        bare.pid(),
        bare.pid()
    );
    if guarded {
        assert_eq!(safety, "guarded", "{note}");
        assert!(!log.contains(&per_process), "{log}");
        assert_guard_refuses_and_reports(&agent, &mut bare, reports.path());
        return;
    }
    println!("no signal guard on this kernel: testing the warnings");
    assert_eq!(log.matches(UNGUARDED).count(), 1, "one warning:\n{log}");
    assert!(
        log.contains("SIGUSR2 cannot be refused")
            && log.contains("--signal SIGURG")
            && log.contains("`gmr-agent trigger`"),
        "{log}"
    );
    assert_eq!(safety, "unsafe");
    assert!(
        note.starts_with("SIGUSR2 WOULD KILL IT: use `gmr-agent trigger`")
            && note.contains("SIGURG"),
        "{note}"
    );
    assert!(log.contains(&per_process), "{log}");
    for safe in [handles.pid(), ignores.pid()] {
        assert!(
            !log.contains(&format!("process {safe} (")),
            "no warning for {safe}:\n{log}"
        );
    }
    let text = run_agent(&["list", "--socket", agent.socket().to_str().unwrap()]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(
        text.contains(&format!("  {} sleep  [SIGUSR2 WOULD KILL IT", bare.pid())),
        "{text}"
    );

    // The safe alternative works and the target lives.
    let out = run_agent(&[
        "trigger",
        &bare.pid().to_string(),
        "--socket",
        agent.socket().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(bare.alive());

    // A process tagged by a reload is warned about; the first is not again.
    let mut later = DefaultSleep::spawn(&cgroup);
    send_signal(agent.pid(), Signal::HUP).unwrap();
    let later_warning = format!(
        "process {} (sleep) of tag {tag} does not handle SIGUSR2",
        later.pid()
    );
    assert!(
        agent.wait_for_log(&later_warning, Duration::from_secs(20)),
        "{}",
        agent.log()
    );
    assert!(agent.wait_for_log("reloaded:", Duration::from_secs(5)));
    assert_eq!(
        agent.log().matches(&per_process).count(),
        1,
        "{}",
        agent.log()
    );
    assert_eq!(agent.log().matches(UNGUARDED).count(), 1);
    assert!(later.alive());
}

/// With the guard: `kill -USR2` fails with EPERM, the target lives, and its
/// report says the guard refused the signal and who sent it.
fn assert_guard_refuses_and_reports(
    agent: &RunningAgent,
    bare: &mut DefaultSleep,
    reports: &std::path::Path,
) {
    // The caller checked that the guard refuses this signal.
    let sent = send_signal(bare.pid(), Signal::USR2);
    assert_eq!(
        sent.map_err(|e| e.raw_os_error()),
        Err(Some(libc::EPERM)),
        "the guard refuses"
    );
    let files = wait_for_report_files(reports, bare.pid(), "txt", 1, Duration::from_secs(60));
    assert_eq!(
        files.len(),
        1,
        "a report for the refused signal:\n{}",
        agent.log()
    );
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        text.contains(
            "trigger = signal SIGUSR2 (refused by the guard: the target does not handle it)"
        ) && text.contains(&format!("requester = pid {},", std::process::id())),
        "{text}"
    );
    std::thread::sleep(Duration::from_millis(200));
    assert!(bare.alive(), "the guarded target lives");
}
