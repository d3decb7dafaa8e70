//! The daemon end to end: a real tagged cgroup, a real signal, the report
//! file and the report on the target's own stderr; nothing for processes
//! outside the tagged cgroups.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use gmr_tests::syscalls::{Signal, send_signal};
use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, run_agent},
    build_c_fixture, require_root,
    scratch::{REPORT_TIMEOUT, Scratch, report_files, wait_for_report_files},
};

/// The first text report about `pid` below `dir`, once there is one.
fn first_report(dir: &Path, pid: u32) -> Option<PathBuf> {
    wait_for_report_files(dir, pid, "txt", 1, REPORT_TIMEOUT)
        .into_iter()
        .next()
}

#[test]
fn signal_to_tagged_process_writes_report_file_and_stderr_only_for_it() {
    if !require_root() {
        return;
    }
    let program = build_c_fixture(CVariant::NoFramePointer);
    let tagged = TestCgroup::create();
    let untagged = TestCgroup::create();
    let inside = Fixture::spawn(&program, &[], Some(&tagged));
    let outside = Fixture::spawn(&program, &[], Some(&untagged));
    let reports = Scratch::new("e2e");
    let agent = RunningAgent::start(&[
        "--tag",
        tagged.path().to_str().unwrap(),
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);

    inside.signal(libc::SIGUSR2);
    outside.signal(libc::SIGUSR2);
    assert!(
        inside.wait_for_usr2(1, Duration::from_secs(5)),
        "the target's own handler ran"
    );
    assert!(outside.wait_for_usr2(1, Duration::from_secs(5)));

    let report = first_report(reports.path(), inside.pid()).unwrap_or_else(|| {
        panic!(
            "no report for {} in {:?}; agent log:\n{}",
            inside.pid(),
            reports.path(),
            agent.log()
        )
    });
    let tag_name = tagged.path().file_name().unwrap().to_str().unwrap();
    let file_name = report.file_name().unwrap().to_str().unwrap();
    assert_eq!(
        report.parent().unwrap().file_name().unwrap().to_str(),
        Some(tag_name)
    );
    assert!(
        file_name.starts_with(&format!("{tag_name}_gurumeditation_")),
        "{file_name}"
    );
    let mode = std::fs::metadata(&report).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "report files are private");

    let text = std::fs::read_to_string(&report).unwrap();
    assert!(text.contains("Guru Meditation"), "{text}");
    assert!(text.contains("trigger = signal SIGUSR2"), "{text}");
    assert!(
        text.contains(&format!("Thread #{} (\"sleeper\")", inside.tid("sleeper"))),
        "{text}"
    );
    assert!(text.contains("sleeper_inner"), "{text}");
    assert!(
        text.contains(&format!("requester = pid {}", std::process::id())),
        "the sender (this test) is named: {text}"
    );

    assert!(
        inside.wait_for_stderr("Guru Meditation", Duration::from_secs(10)),
        "the report reaches the target's stderr; agent log:\n{}",
        agent.log()
    );
    assert!(inside.stderr_contents().contains("sleeper_inner"));

    std::thread::sleep(Duration::from_millis(500));
    assert!(
        report_files(reports.path(), outside.pid(), "txt").is_empty(),
        "no report for a process outside the tagged cgroup"
    );
    assert!(!outside.stderr_contents().contains("Guru Meditation"));
    assert!(
        Path::new(&format!("/proc/{}", inside.pid())).exists(),
        "the target lives on"
    );
}

#[test]
fn processes_started_later_in_a_descendant_cgroup_are_covered() {
    if !require_root() {
        return;
    }
    let program = build_c_fixture(CVariant::FramePointer);
    let tagged = TestCgroup::create();
    let child = tagged.path().join("worker.scope");
    std::fs::create_dir(&child).expect("create a child cgroup");
    let reports = Scratch::new("descendant");
    let _agent = RunningAgent::start(&[
        "--tag",
        tagged.path().to_str().unwrap(),
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);

    let late = Fixture::spawn(&program, &[], None);
    std::fs::write(child.join("cgroup.procs"), late.pid().to_string()).expect("move into child");
    late.signal(libc::SIGUSR2);
    let report = first_report(reports.path(), late.pid());
    drop(late);
    let _ = std::fs::remove_dir(&child);
    let report = report.expect("a report for a process in a descendant cgroup");
    assert!(
        std::fs::read_to_string(report)
            .unwrap()
            .contains("sleeper_inner")
    );
}

#[test]
fn unknown_tag_path_is_named_in_the_error() {
    if !require_root() {
        return;
    }
    let out = run_agent(&[
        "run",
        "--tag",
        "no/such/service.slice",
        "--report-dir",
        "/tmp/gmr-unused",
    ]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("no/such/service.slice") && stderr.contains("does not exist"),
        "{stderr}"
    );
}

#[test]
fn report_reaches_a_target_whose_stderr_is_a_journald_style_socket() {
    if !require_root() {
        return;
    }
    use std::{io::Read as _, os::unix::net::UnixStream, process::Stdio};
    let (ours, theirs) = UnixStream::pair().unwrap();
    let tagged = TestCgroup::create();
    let mut child = std::process::Command::new("sh")
        .args([
            "-c",
            "trap 'echo got usr2 >&2' USR2; while :; do sleep 0.1; done",
        ])
        .stderr(Stdio::from(std::os::fd::OwnedFd::from(theirs)))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    tagged.add_process(child.id());
    let reports = Scratch::new("journald");
    let agent = RunningAgent::start(&[
        "--tag",
        tagged.path().to_str().unwrap(),
        "--report-dir",
        reports.path().to_str().unwrap(),
    ]);
    std::thread::sleep(Duration::from_millis(200));
    send_signal(child.id(), Signal::USR2).unwrap();
    ours.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let mut received = Vec::new();
    let start = Instant::now();
    let mut reader = &ours;
    while start.elapsed() < REPORT_TIMEOUT
        && !String::from_utf8_lossy(&received).contains("Thread #")
    {
        let mut buf = [0u8; 65536];
        if let Ok(n) = reader.read(&mut buf) {
            received.extend_from_slice(&buf[..n]);
        }
    }
    let text = String::from_utf8_lossy(&received);
    assert!(
        text.contains("Guru Meditation") && text.contains("Thread #"),
        "agent log:\n{}\nreceived:\n{text}",
        agent.log()
    );
    let _ = child.kill();
    let _ = child.wait();
}
