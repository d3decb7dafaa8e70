//! 10,000 triggers through the real agent against a tagged cgroup of
//! unmodified processes (`sleep`, a thread-churning C program) and two that
//! handle or ignore SIGUSR2: trigger-file touches and control requests for
//! all of them, SIGUSR2 only for the two that expect it. No target dies, the
//! agent stays responsive, and retention bounds the report directory.

use std::{
    path::Path,
    thread,
    time::{Duration, Instant},
};

use gmr_tests::syscalls::touch_now;
use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, control_trigger, thread as report_thread, user_functions},
    agent_config::AgentConfig,
    build_c_fixture, build_c_program, require_root,
    scratch::{Scratch, report_files},
};

/// Trigger rounds; each sends one SIGUSR2 to each of the two signal-aware
/// fixtures, touches the trigger file once and makes one control request:
/// 4 triggers a round.
const ROUNDS: usize = 2500;
/// Pause between rounds, so the flood lasts long enough to make reports.
const ROUND_PAUSE: Duration = Duration::from_millis(8);
/// Reports kept per tag directory.
const MAX_REPORTS: usize = 20;

/// Sets the file's times to now, like `touch` (without a process per touch).
fn touch(file: &Path) {
    touch_now(file).unwrap_or_else(|e| panic!("touch {}: {e}", file.display()));
}

#[test]
fn ten_thousand_triggers_kill_no_target_and_the_agent_stays_responsive() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("flood");
    let cgroup = TestCgroup::create();
    let parked = build_c_fixture(CVariant::FramePointer);
    let handles = Fixture::spawn(&parked, &[], Some(&cgroup));
    let ignores = Fixture::spawn(&parked, &["--ignore-usr2"], Some(&cgroup));
    // Unmodified targets: SIGUSR2 would kill these, so they only get
    // touches and control requests.
    let sleep = Fixture::spawn(
        Path::new("/bin/sh"),
        &["-c", "echo ready pid=$$; exec sleep 100000"],
        Some(&cgroup),
    );
    let churn = Fixture::spawn(&build_c_program("churn"), &["--batch", "4"], Some(&cgroup));
    let trigger_file = scratch.path().join("svc.trigger");
    let reports = scratch.path().join("reports");
    let config = AgentConfig::service(scratch.path(), cgroup.path())
        .formats(&["text"])
        .max_reports(MAX_REPORTS);
    let agent = RunningAgent::with_config(scratch.path(), &config, &["--no-target-stderr"]);

    let control_targets = [
        sleep.pid().to_string(),
        churn.pid().to_string(),
        "svc".to_owned(),
    ];
    let started = Instant::now();
    let mut requests = Vec::with_capacity(ROUNDS);
    let mut triggers = 0;
    for round in 0..ROUNDS {
        handles.signal(libc::SIGUSR2);
        ignores.signal(libc::SIGUSR2);
        touch(&trigger_file);
        let socket = agent.socket().to_path_buf();
        let target = control_targets[round % control_targets.len()].clone();
        requests.push(thread::spawn(move || {
            let asked = Instant::now();
            control_trigger(&socket, &target).map(|answer| (answer, asked.elapsed()))
        }));
        triggers += 4;
        thread::sleep(ROUND_PAUSE);
    }
    let sent_in = started.elapsed();
    let mut answered = 0;
    let mut slowest = Duration::ZERO;
    for request in requests {
        let (answer, took) = request
            .join()
            .unwrap()
            .unwrap_or_else(|e| panic!("a control request failed: {e}\n{}", agent.log()));
        assert!(answer["triggered"].is_object(), "{answer}");
        answered += 1;
        slowest = slowest.max(took);
    }
    let drained_in = started.elapsed();

    // Responsive: once the reports still queued by the last signals and
    // touches are done, a fresh request gets a full report of its own.
    let mut answer = agent.trigger(&handles.pid().to_string());
    let deadline = Instant::now() + Duration::from_secs(20);
    while answer.to_string().contains("merged into it") && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(100));
        answer = agent.trigger(&handles.pid().to_string());
    }
    let fresh_report_after = started.elapsed();
    let file = answer["triggered"]["outcomes"][0]["files"][0]
        .as_str()
        .unwrap_or_else(|| panic!("{answer}\n{}", agent.log()));
    assert!(
        std::fs::read_to_string(file)
            .unwrap()
            .contains("sleeper_inner")
    );
    let json = gmr_tests::agent::report_json(handles.pid());
    assert!(
        user_functions(report_thread(&json, handles.tid("sleeper")))
            .contains(&"sleeper_inner".to_owned())
    );

    let deaths = [&handles, &ignores, &sleep, &churn]
        .iter()
        .filter(|f| !f.is_alive())
        .count();
    let reports_made = agent.log_count("made in");
    let merged = agent.log_count("merged into it");
    let dropped = agent.log_count("dropped:");
    let agent_rss_kib = std::fs::read_to_string(format!("/proc/{}/status", agent.pid()))
        .unwrap()
        .lines()
        .find_map(|l| {
            l.strip_prefix("VmRSS:")?
                .trim()
                .strip_suffix(" kB")?
                .parse::<u64>()
                .ok()
        })
        .unwrap();
    let kept: usize = [&handles, &ignores, &sleep, &churn]
        .iter()
        .map(|f| report_files(&reports, f.pid(), "txt").len())
        .sum();
    println!(
        "flood: {triggers} triggers ({} signals, {ROUNDS} touches, {answered} control requests) \
         sent in {sent_in:?}, all answered after {drained_in:?}, a fresh report after \
         {fresh_report_after:?}; {reports_made} reports made, \
         {merged} triggers merged into a pending report, {dropped} dropped, {kept} report files kept, \
         {deaths} deaths; the handler counted {} SIGUSR2; slowest control answer {slowest:?}; \
         agent RSS {agent_rss_kib} KiB",
        ROUNDS * 2,
        handles.usr2_count()
    );
    assert_eq!(triggers, 10_000);
    assert_eq!(deaths, 0, "no target died");
    assert!(agent.log().contains("agent ready") && !agent.log().contains("panicked"));
    assert!(
        reports_made >= ROUNDS / 20,
        "reports keep being made during the flood: {reports_made}\n{}",
        agent.log()
    );
    assert!(
        reports_made <= triggers,
        "{reports_made} reports for {triggers} triggers"
    );
    assert!(
        (1..=MAX_REPORTS).contains(&kept),
        "retention keeps at most {MAX_REPORTS} reports: {kept}"
    );
    assert!(handles.usr2_count() > 0, "the handler saw the signals");
    assert!(
        slowest < Duration::from_secs(20),
        "every control request was answered within 20 s: {slowest:?}"
    );
}
