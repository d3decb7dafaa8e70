//! The agent's kernel hooks follow what its tags use: the signal tracepoint
//! is attached only while a tag keeps the signal trigger, the ctime
//! tracepoints only while a trigger file is armed, and reloads attach and
//! detach them. What is attached is read from the kernel (the `tp_name:`
//! of each bpf link in the agent's `/proc/PID/fdinfo`), not from the
//! agent's log.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::RunningAgent,
    build_c_fixture, require_root,
    scratch::{Scratch, report_files},
};

/// The tracepoint the signal trigger uses.
const SIGNAL_TRACEPOINT: &str = "signal_generate";
/// The tracepoints the file trigger uses (`timestamp:` events).
const CTIME_TRACEPOINTS: [&str; 3] = ["ctime_ns_xchg", "ctime_xchg_skip", "inode_set_ctime_to_ts"];
/// How long a report may take to appear.
const REPORT_WAIT: Duration = Duration::from_secs(15);
/// How long to wait to be sure no report comes.
const QUIET: Duration = Duration::from_secs(2);

/// The tracepoints process `pid` holds bpf links on, sorted.
fn attached_tracepoints(pid: u32) -> Vec<String> {
    let mut names = Vec::new();
    let dir = format!("/proc/{pid}/fdinfo");
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")) {
        let Ok(info) = std::fs::read_to_string(entry.unwrap().path()) else {
            continue;
        };
        names.extend(
            info.lines()
                .filter_map(|line| line.strip_prefix("tp_name:"))
                .map(|name| name.trim().to_owned()),
        );
    }
    names.sort();
    names
}

/// The sorted ctime tracepoint names.
fn ctime_tracepoints() -> Vec<String> {
    let mut names: Vec<String> = CTIME_TRACEPOINTS.iter().map(|n| n.to_string()).collect();
    names.sort();
    names
}

/// A config tagging `cgroup` with the signal trigger and the trigger file
/// `trigger` (`None`: no file) as given.
fn write_config(path: &Path, cgroup: &TestCgroup, signal: bool, trigger: Option<&Path>) {
    let file = match trigger {
        Some(file) => format!("    trigger_file: {}\n", file.display()),
        None => "    file_trigger: false\n".to_owned(),
    };
    let text = format!(
        "min_interval_seconds: 0\ntags:\n  - cgroup: {}\n    signal_trigger: {signal}\n{file}",
        cgroup.path().display()
    );
    std::fs::write(path, text).unwrap();
}

/// Runs `ask`, then waits up to `wait` for one more report of `pid` in
/// `reports`.
#[track_caller]
fn reported_after(reports: &Path, pid: u32, wait: Duration, ask: impl FnOnce()) -> bool {
    let before = report_files(reports, pid, "txt").len();
    ask();
    let start = Instant::now();
    while start.elapsed() < wait {
        if report_files(reports, pid, "txt").len() > before {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn kernel_hooks_are_attached_only_while_a_tag_uses_them() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("hooks");
    let config = scratch.path().join("agent.yaml");
    let reports = scratch.path().join("reports");
    let trigger = scratch.path().join("hooks.trigger");
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(
        &build_c_fixture(CVariant::NoFramePointer),
        &[],
        Some(&cgroup),
    );

    write_config(&config, &cgroup, false, None);
    let agent = RunningAgent::start(&[
        "--config",
        config.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
        "--no-target-stderr",
    ]);
    assert_eq!(
        attached_tracepoints(agent.pid()),
        Vec::<String>::new(),
        "no tag uses a trigger hook; agent log:\n{}",
        agent.log()
    );
    assert!(
        agent.log().contains("kernel hooks: none"),
        "{}",
        agent.log()
    );

    write_config(&config, &cgroup, false, Some(&trigger));
    agent.reload(1);
    assert_eq!(
        attached_tracepoints(agent.pid()),
        ctime_tracepoints(),
        "a trigger file is armed, no tag uses the signal; agent log:\n{}",
        agent.log()
    );
    assert!(
        reported_after(&reports, fixture.pid(), REPORT_WAIT, || {
            std::fs::write(&trigger, "").unwrap();
        }),
        "the ctime tracepoints attached on reload report a touch; agent log:\n{}",
        agent.log()
    );

    write_config(&config, &cgroup, true, None);
    agent.reload(2);
    assert_eq!(
        attached_tracepoints(agent.pid()),
        [SIGNAL_TRACEPOINT],
        "the signal trigger is used, no file is armed; agent log:\n{}",
        agent.log()
    );
    assert!(
        reported_after(&reports, fixture.pid(), REPORT_WAIT, || {
            fixture.signal(libc::SIGUSR2)
        }),
        "the signal tracepoint attached on reload reports the signal; agent log:\n{}",
        agent.log()
    );

    write_config(&config, &cgroup, false, None);
    agent.reload(3);
    assert_eq!(
        attached_tracepoints(agent.pid()),
        Vec::<String>::new(),
        "both hooks detached again; agent log:\n{}",
        agent.log()
    );
    assert!(
        !reported_after(&reports, fixture.pid(), QUIET, || fixture
            .signal(libc::SIGUSR2)),
        "a tag without the signal trigger gets no report from the signal"
    );
}
