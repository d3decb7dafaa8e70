//! SIGHUP reloads the configuration live: tags added and removed take
//! effect without a restart, and a broken file keeps the running one.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::RunningAgent,
    agent_config::{AgentConfig, Tag},
    build_c_fixture, require_root,
    scratch::{Scratch, report_files},
};

fn reports_of(dir: &Path, pid: u32) -> usize {
    report_files(dir, pid, "txt").len()
}

/// Signals `fixture` and says whether a new report for it appears.
fn reported(fixture: &Fixture, reports: &Path, wait: Duration) -> bool {
    let before = reports_of(reports, fixture.pid());
    fixture.signal(libc::SIGUSR2);
    let start = Instant::now();
    while start.elapsed() < wait {
        if reports_of(reports, fixture.pid()) > before {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Writes a configuration tagging `cgroups` (no trigger files) to `path`.
fn write_config(path: &Path, cgroups: &[&TestCgroup]) {
    let config = cgroups.iter().fold(
        AgentConfig::new().min_interval_seconds(0.0),
        |config, cgroup| config.tag(Tag::cgroup(cgroup.path()).file_trigger(false)),
    );
    std::fs::write(path, config.to_yaml()).unwrap();
}

#[test]
fn sighup_adds_and_removes_tags_live_and_keeps_the_old_config_on_errors() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("reload");
    let config = scratch.path().join("agent.yaml");
    let reports = scratch.path().join("reports");
    let (first_cgroup, second_cgroup) = (TestCgroup::create(), TestCgroup::create());
    let program = build_c_fixture(CVariant::NoFramePointer);
    let first = Fixture::spawn(&program, &[], Some(&first_cgroup));
    let second = Fixture::spawn(&program, &[], Some(&second_cgroup));
    write_config(&config, &[&first_cgroup]);
    let agent = RunningAgent::start(&[
        "--config",
        config.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
        "--no-target-stderr",
    ]);
    let wait = Duration::from_secs(15);
    assert!(
        reported(&first, &reports, wait),
        "agent log:\n{}",
        agent.log()
    );
    assert!(
        !reported(&second, &reports, Duration::from_secs(1)),
        "not tagged yet"
    );

    write_config(&config, &[&first_cgroup, &second_cgroup]);
    agent.reload(1);
    assert!(
        reported(&second, &reports, wait),
        "tag added live; agent log:\n{}",
        agent.log()
    );

    write_config(&config, &[&second_cgroup]);
    agent.reload(2);
    assert!(
        !reported(&first, &reports, Duration::from_secs(1)),
        "tag removed live"
    );

    std::fs::write(&config, "tags: [this is not: valid").unwrap();
    agent.reload(3);
    assert!(
        agent
            .log()
            .contains("reload failed, keeping the running configuration"),
        "{}",
        agent.log()
    );
    assert!(
        reported(&second, &reports, wait),
        "the running configuration still works"
    );
}
