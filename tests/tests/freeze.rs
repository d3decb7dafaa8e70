//! Exact snapshots: `freeze: true` (or `report --freeze`) freezes the
//! target's cgroup for the capture only. Real cgroups, real freezes: the
//! report says for how long, the cgroup is thawed afterwards, running
//! threads are caught in the freezer, and a killed or stopped agent cannot
//! leave the service frozen.

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gmr_tests::syscalls::{Signal, send_signal};
use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{
        RunningAgent, agent_binary, in_order, report_json, run_agent, section, thread,
        user_functions,
    },
    agent_config::{AgentConfig, Tag},
    build_c_fixture, require_root,
    scratch::{REPORT_TIMEOUT, Scratch, wait_for_report_files},
};
use serde_json::Value;

/// The agent's watchdog thaws at the latest this long after a freeze.
const WATCHDOG_DEADLINE: Duration = Duration::from_secs(2);

/// Whether the group's `cgroup.events` says `frozen 1`.
fn frozen(cgroup: &TestCgroup) -> bool {
    std::fs::read_to_string(cgroup.path().join("cgroup.events"))
        .unwrap()
        .lines()
        .any(|l| l == "frozen 1")
}

/// The group's `cgroup.freeze` setting.
fn freeze_setting(cgroup: &TestCgroup) -> String {
    std::fs::read_to_string(cgroup.path().join("cgroup.freeze"))
        .unwrap()
        .trim()
        .to_owned()
}

/// Waits up to `timeout` for the group to be thawed (its setting back to 0
/// and no task frozen); returns how long it took. The setting, not only the
/// state: a group whose tasks are still stopping is not frozen yet, though
/// nothing has thawed it.
fn wait_thawed(cgroup: &TestCgroup, timeout: Duration) -> Option<Duration> {
    let start = Instant::now();
    while start.elapsed() < timeout {
        if freeze_setting(cgroup) == "0" && !frozen(cgroup) {
            return Some(start.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    None
}

/// `gmr-agent report --pid PID --freeze --format json`, parsed.
#[track_caller]
fn frozen_report(pid: u32) -> Value {
    let out = run_agent(&[
        "report",
        "--pid",
        &pid.to_string(),
        "--freeze",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "gmr-agent report --freeze failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the JSON report parses")
}

/// The fixture still runs: its SIGUSR2 handler counts one more signal.
#[track_caller]
fn assert_responsive(fixture: &Fixture) {
    let next = fixture.usr2_count() + 1;
    fixture.signal(libc::SIGUSR2);
    assert!(
        fixture.wait_for_usr2(next, Duration::from_secs(5)),
        "the fixture handles signals after the freeze"
    );
}

/// Two tags: `frozen` (with `freeze: true`) and `plain`, text and JSON reports.
fn tag_config(frozen_tag: &Path, plain_tag: &Path) -> AgentConfig {
    AgentConfig::new()
        .formats(&["text", "json"])
        .min_interval_seconds(0.0)
        .tag(Tag::cgroup(frozen_tag).name("frozen").freeze())
        .tag(Tag::cgroup(plain_tag).name("plain"))
}

#[test]
fn a_tag_with_freeze_reports_how_long_and_thaws_and_others_are_not_frozen() {
    if !require_root() {
        return;
    }
    let program = build_c_fixture(CVariant::NoFramePointer);
    let frozen_group = TestCgroup::create();
    let plain_group = TestCgroup::create();
    let frozen_target = Fixture::spawn(&program, &[], Some(&frozen_group));
    let plain_target = Fixture::spawn(&program, &[], Some(&plain_group));
    let scratch = Scratch::new("freeze-tag");
    let reports = scratch.path().join("reports");
    let agent = RunningAgent::with_config(
        scratch.path(),
        &tag_config(frozen_group.path(), plain_group.path()),
        &[
            "--report-dir",
            reports.to_str().unwrap(),
            "--no-target-stderr",
        ],
    );
    frozen_target.signal(libc::SIGUSR2);
    plain_target.signal(libc::SIGUSR2);

    let read = |pid: u32, ext: &str| {
        std::fs::read_to_string(agent.report_file(&reports, pid, ext)).unwrap()
    };
    let report: Value = serde_json::from_str(&read(frozen_target.pid(), "json")).unwrap();
    let freeze = &report["freeze"];
    assert_eq!(freeze["status"], "frozen", "{freeze}");
    assert_eq!(freeze["cgroup"], frozen_group.path().to_str().unwrap());
    let frozen_ms = freeze["frozen_ms"].as_f64().expect("frozen_ms");
    let settled_ms = freeze["settled_ms"].as_f64().expect("settled_ms");
    assert!(
        0.0 < settled_ms && settled_ms <= frozen_ms && frozen_ms < 2000.0,
        "{freeze}"
    );
    assert_eq!(freeze["note"], Value::Null);
    let text = read(frozen_target.pid(), "txt");
    assert!(
        text.contains(&format!(
            "\nfreeze = frozen for {frozen_ms:.3} ms (all tasks stopped after {settled_ms:.3} ms), cgroup {}\n",
            frozen_group.path().display()
        )),
        "{text}"
    );
    assert!(!frozen(&frozen_group), "thawed after the report");
    assert_eq!(freeze_setting(&frozen_group), "0");
    assert_responsive(&frozen_target);

    let plain: Value = serde_json::from_str(&read(plain_target.pid(), "json")).unwrap();
    assert_eq!(plain["freeze"], Value::Null, "no freeze unless asked for");
    assert!(!read(plain_target.pid(), "txt").contains("\nfreeze = "));
    let one_shot = report_json(plain_target.pid());
    assert_eq!(
        one_shot["freeze"],
        Value::Null,
        "report --pid without --freeze"
    );
}

#[test]
fn a_frozen_capture_catches_running_threads_in_the_freezer() {
    if !require_root() {
        return;
    }
    let (group, fixture) = Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &[]);
    let report = frozen_report(fixture.pid());
    assert_eq!(report["freeze"]["status"], "frozen", "{}", report["freeze"]);

    let threads = section(&report, "Threads")["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 5, "main and four parked threads");
    for t in threads {
        assert_eq!(t["on_cpu"], false, "no thread runs while frozen: {t}");
        let kernel: Vec<&str> = t["kernel_stack"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["function"].as_str())
            .collect();
        assert!(
            kernel.iter().any(|f| f.starts_with("get_signal+")),
            "every thread waits in the freezer trap, reached from get_signal: {kernel:?}"
        );
    }
    // The spinner never enters the kernel by itself: its registers are the
    // ones saved when the freezer stopped it, so its stack is exact.
    let spinner = thread(&report, fixture.tid("spinner"));
    let frames = user_functions(spinner);
    assert!(
        in_order(&frames, &["spinner_inner", "spinner_outer", "thread_main"]),
        "{frames:?}"
    );
    assert_eq!(
        frames[0], "spinner_inner",
        "the innermost frame is the loop"
    );
    assert!(!frozen(&group));
    assert_responsive(&fixture);
}

#[test]
fn freeze_duration_of_a_200_thread_target() {
    if !require_root() {
        return;
    }
    let (group, fixture) =
        Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &["--threads", "200"]);
    let mut frozen_ms = Vec::new();
    let mut settled_ms = Vec::new();
    for _ in 0..5 {
        let report = frozen_report(fixture.pid());
        let freeze = &report["freeze"];
        assert_eq!(freeze["status"], "frozen", "{freeze}");
        let threads = section(&report, "Threads")["threads"].as_array().unwrap();
        assert_eq!(
            threads.len(),
            205,
            "main, four parked and 200 extra threads"
        );
        frozen_ms.push(freeze["frozen_ms"].as_f64().unwrap());
        settled_ms.push(freeze["settled_ms"].as_f64().unwrap());
        assert!(!frozen(&group));
    }
    frozen_ms.sort_by(f64::total_cmp);
    settled_ms.sort_by(f64::total_cmp);
    println!(
        "205 threads: frozen for {frozen_ms:?} ms (median {}), all stopped after {settled_ms:?} ms (median {})",
        frozen_ms[2], settled_ms[2]
    );
    assert!(
        frozen_ms[4] < WATCHDOG_DEADLINE.as_secs_f64() * 1e3,
        "{frozen_ms:?}"
    );
    assert_responsive(&fixture);
}

/// Starts `gmr-agent report --freeze` on `pid` and stops it (SIGSTOP)
/// while `group` is frozen; retries when the agent thaws first.
#[track_caller]
fn agent_stopped_while_frozen(pid: u32, group: &TestCgroup) -> Child {
    for _ in 0..10 {
        let mut agent = Command::new(agent_binary())
            .args(["report", "--pid", &pid.to_string(), "--freeze"])
            .args(["--format", "json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gmr-agent report");
        let start = Instant::now();
        while freeze_setting(group) != "1" {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "the agent never froze {}",
                group.path().display()
            );
            if agent.try_wait().unwrap().is_some() {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        send_signal(agent.id(), Signal::STOP).unwrap();
        // The agent cannot thaw once it is stopped; if the setting is still
        // 1 now, it was stopped in the middle of its freeze.
        std::thread::sleep(Duration::from_millis(5));
        if freeze_setting(group) == "1" {
            return agent;
        }
        send_signal(agent.id(), Signal::CONT).unwrap();
        let _ = agent.wait();
    }
    panic!("could not stop the agent while the cgroup was frozen in 10 tries");
}

#[test]
fn an_agent_killed_while_frozen_leaves_the_cgroup_thawed() {
    if !require_root() {
        return;
    }
    let (group, fixture) =
        Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &["--threads", "200"]);
    let mut agent = agent_stopped_while_frozen(fixture.pid(), &group);
    agent.kill().unwrap();
    agent.wait().unwrap();
    let thawed_after = wait_thawed(&group, WATCHDOG_DEADLINE * 2)
        .expect("the watchdog thaws the cgroup of a killed agent");
    assert!(
        thawed_after < WATCHDOG_DEADLINE,
        "thawed as soon as the agent died, not at the deadline: {thawed_after:?}"
    );
    assert_eq!(freeze_setting(&group), "0");
    assert_responsive(&fixture);
}

#[test]
fn an_agent_stopped_while_frozen_is_overruled_at_the_deadline() {
    if !require_root() {
        return;
    }
    let (group, fixture) =
        Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &["--threads", "200"]);
    let agent = agent_stopped_while_frozen(fixture.pid(), &group);
    let thawed_after = wait_thawed(&group, WATCHDOG_DEADLINE * 2)
        .expect("the watchdog thaws at its deadline while the agent is stopped");
    assert!(
        WATCHDOG_DEADLINE / 2 < thawed_after
            && thawed_after < WATCHDOG_DEADLINE + Duration::from_millis(200),
        "thawed at the deadline, not before: after {thawed_after:?}"
    );
    assert_responsive(&fixture);
    send_signal(agent.id(), Signal::CONT).unwrap();
    let out = agent.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let freeze = &report["freeze"];
    assert_eq!(freeze["status"], "partly", "{freeze}");
    assert!(
        freeze["note"]
            .as_str()
            .unwrap()
            .contains("the watchdog thawed the cgroup"),
        "{freeze}"
    );
    assert!(freeze["frozen_ms"].as_f64().unwrap() >= 1000.0, "{freeze}");
    assert!(!frozen(&group));
}

#[test]
fn the_cgroup_holding_the_agent_is_not_frozen() {
    if !require_root() {
        return;
    }
    let (group, fixture) = Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &[]);
    // The agent joins the target's cgroup before it starts.
    let out = Command::new("sh")
        .arg("-c")
        .arg(r#"echo $$ > "$1/cgroup.procs" && exec "$2" report --pid "$3" --freeze --format json"#)
        .arg("sh")
        .arg(group.path())
        .arg(agent_binary())
        .arg(fixture.pid().to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let freeze = &report["freeze"];
    assert_eq!(freeze["status"], "not_frozen", "{freeze}");
    assert_eq!(freeze["frozen_ms"], Value::Null);
    let note = freeze["note"].as_str().unwrap();
    assert!(
        note.contains(&format!(
            "cgroup {} holds the agent itself",
            group.path().display()
        )),
        "{note}"
    );
    let threads = section(&report, "Threads")["threads"].as_array().unwrap();
    assert_eq!(threads.len(), 5, "the capture went ahead unfrozen");
    assert_eq!(freeze_setting(&group), "0");
}

#[test]
fn a_cgroup_someone_else_froze_stays_frozen() {
    if !require_root() {
        return;
    }
    let (group, fixture) = Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &[]);
    std::fs::write(group.path().join("cgroup.freeze"), "1").unwrap();
    let start = Instant::now();
    while !frozen(&group) {
        assert!(start.elapsed() < Duration::from_secs(5), "the group froze");
        std::thread::sleep(Duration::from_millis(1));
    }
    let report = frozen_report(fixture.pid());
    let freeze = &report["freeze"];
    assert_eq!(freeze["status"], "already_frozen", "{freeze}");
    assert!(
        freeze["note"]
            .as_str()
            .unwrap()
            .contains("someone else froze this cgroup"),
        "{freeze}"
    );
    assert!(frozen(&group), "left frozen as it was found");
    assert_eq!(freeze_setting(&group), "1");
    let spinner = thread(&report, fixture.tid("spinner"));
    assert_eq!(user_functions(spinner)[0], "spinner_inner");
    std::fs::write(group.path().join("cgroup.freeze"), "0").unwrap();
    assert!(wait_thawed(&group, Duration::from_secs(5)).is_some());
    assert_responsive(&fixture);
}

#[test]
fn sigterm_to_the_daemon_mid_freeze_finishes_the_report_and_thaws() {
    if !require_root() {
        return;
    }
    let (group, fixture) =
        Fixture::parked_in_new_cgroup(CVariant::NoFramePointer, &["--threads", "200"]);
    let scratch = Scratch::new("freeze-term");
    let unfrozen = TestCgroup::create();
    let config = tag_config(group.path(), unfrozen.path());
    let reports = scratch.path().join("reports");
    for _ in 0..5 {
        let agent = RunningAgent::with_config(
            scratch.path(),
            &config,
            &[
                "--report-dir",
                reports.to_str().unwrap(),
                "--no-target-stderr",
            ],
        );
        let before = wait_for_report_files(&reports, fixture.pid(), "json", 0, Duration::ZERO);
        fixture.signal(libc::SIGUSR2);
        let start = Instant::now();
        while freeze_setting(&group) != "1" {
            assert!(
                start.elapsed() < REPORT_TIMEOUT,
                "the agent never froze the group; log:\n{}",
                agent.log()
            );
            std::thread::sleep(Duration::from_micros(200));
        }
        send_signal(agent.pid(), Signal::TERM).unwrap();
        if freeze_setting(&group) != "1" {
            continue; // the agent had thawed already: not mid-freeze
        }
        assert!(
            agent.wait_for_log("stopping", Duration::from_secs(10)),
            "{}",
            agent.log()
        );
        let files = wait_for_report_files(
            &reports,
            fixture.pid(),
            "json",
            before.len() + 1,
            REPORT_TIMEOUT,
        );
        let newest = files.last().expect("the report in hand is written");
        let report: Value =
            serde_json::from_str(&std::fs::read_to_string(newest).unwrap()).unwrap();
        assert_eq!(
            report["freeze"]["status"], "frozen",
            "the agent thawed it itself: {}",
            report["freeze"]
        );
        assert!(wait_thawed(&group, WATCHDOG_DEADLINE).is_some());
        assert_eq!(freeze_setting(&group), "0");
        assert_responsive(&fixture);
        return;
    }
    panic!("could not send SIGTERM while the cgroup was frozen in 5 tries");
}
