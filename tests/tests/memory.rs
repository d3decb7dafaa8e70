//! The agent hands back the memory of its report caches (parsed debug info,
//! kernel symbols, package indexes) once no report came for
//! `cache_idle_seconds`, and reports as well afterwards.

use std::time::Duration;

use gmr_tests::{
    CVariant, Fixture,
    agent::{RunningAgent, files_for, json_report, thread, user_functions},
    agent_config::{AgentConfig, Tag},
    process, require_root,
    scratch::Scratch,
};

/// How long the test agent keeps its caches after a report.
const CACHE_IDLE_SECONDS: u64 = 3;

/// Resident memory of `pid` in KiB.
fn rss_kib(pid: u32) -> u64 {
    process::rss_kib(pid).unwrap_or_else(|| panic!("no Rss in /proc/{pid}/smaps_rollup"))
}

/// Asks `agent` for a report on `fixture` and checks its stacks are
/// symbolized.
#[track_caller]
fn assert_symbolized_report(agent: &RunningAgent, fixture: &Fixture) {
    let answer = agent.trigger(&fixture.pid().to_string());
    let report = json_report(&files_for(&answer, fixture.pid()));
    let functions = user_functions(thread(&report, fixture.tid("sleeper")));
    assert!(
        functions.iter().any(|f| f == "sleeper_inner"),
        "{functions:?}\n{}",
        agent.log()
    );
}

#[test]
fn idle_agent_drops_its_report_caches_and_still_reports_after() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("memory");
    let (cgroup, fixture) = Fixture::parked_in_new_cgroup(CVariant::FramePointer, &[]);
    let config = AgentConfig::new()
        .min_interval_seconds(0.0)
        .cache_idle_seconds(CACHE_IDLE_SECONDS as f64)
        .formats(&["text", "json"])
        .report_dir(&scratch.path().join("reports"))
        .tag(Tag::cgroup(cgroup.path()).file_trigger(false));
    let agent = RunningAgent::with_config(scratch.path(), &config, &["--no-target-stderr"]);

    assert_symbolized_report(&agent, &fixture);
    // The report's own memory is handed back once a second passes without
    // another report; the caches stay.
    std::thread::sleep(Duration::from_millis(1500));
    let with_caches = rss_kib(agent.pid());
    assert_eq!(agent.log_count("caches dropped"), 0, "{}", agent.log());
    assert!(
        agent.wait_for_log(
            "caches dropped",
            Duration::from_secs(CACHE_IDLE_SECONDS + 10)
        ),
        "{}",
        agent.log()
    );
    let dropped = rss_kib(agent.pid());
    println!("agent RSS: {with_caches} KiB with caches, {dropped} KiB after dropping them");
    assert!(
        dropped + 4 * 1024 < with_caches,
        "dropping the caches handed back under 4 MiB: {with_caches} → {dropped} KiB"
    );

    assert_symbolized_report(&agent, &fixture);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        agent.log_count("caches dropped"),
        1,
        "dropped once per idle spell, not again before the next idle time:\n{}",
        agent.log()
    );
}
