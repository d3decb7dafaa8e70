//! Trigger files through the real agent: a touch by another uid is
//! attributed to it, unrelated files do nothing, a burst gives a bounded
//! number of reports, deleting and recreating the file keeps it working,
//! retention bounds the report directory, and the agent removes the files
//! it created (not others) when a reload drops their tag and when it stops.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use gmr_tests::syscalls::{Signal, send_signal, touch_now};
use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::RunningAgent,
    agent_config::{AgentConfig, Tag},
    build_c_fixture, require_root,
    scratch::{REPORT_TIMEOUT, Scratch, report_files, wait_for_report_files},
};

/// The text reports of `pid` below `dir`.
fn reports_of(dir: &Path, pid: u32) -> Vec<PathBuf> {
    report_files(dir, pid, "txt")
}

/// Waits until `pid` has at least `count` reports.
fn wait_for_reports(dir: &Path, pid: u32, count: usize) -> Vec<PathBuf> {
    wait_for_report_files(dir, pid, "txt", count, REPORT_TIMEOUT)
}

/// `touch FILE` as uid/gid 65534 (nobody/nogroup).
fn touch_as_nobody(file: &Path) {
    let status = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "touch"])
        .arg(file)
        .status()
        .expect("setpriv");
    assert!(status.success(), "touch {} as nobody", file.display());
}

/// What most tests here start from: a scratch directory, the trigger
/// file's path in it and an empty cgroup.
struct Setup {
    scratch: Scratch,
    trigger: PathBuf,
    cgroup: TestCgroup,
}

impl Setup {
    /// `None` (after saying why) unless the test runs as root.
    fn new(name: &str) -> Option<Self> {
        if !require_root() {
            return None;
        }
        let scratch = Scratch::new(name);
        let trigger = scratch.path().join("svc.trigger");
        Some(Self {
            scratch,
            trigger,
            cgroup: TestCgroup::create(),
        })
    }

    /// The parked C fixture, started in the cgroup.
    fn spawn(&self) -> Fixture {
        let program = build_c_fixture(CVariant::NoFramePointer);
        Fixture::spawn(&program, &[], Some(&self.cgroup))
    }

    /// Where the agent writes reports.
    fn reports(&self) -> PathBuf {
        self.scratch.path().join("reports")
    }

    /// The agent with `config` plus the tag `svc` on the cgroup, triggered
    /// by the trigger file, with `tag`'s further settings.
    fn agent(&self, config: AgentConfig, tag: impl FnOnce(Tag) -> Tag) -> RunningAgent {
        let svc = svc(&self.cgroup).trigger_file(&self.trigger);
        agent(&self.scratch, config.tag(tag(svc)))
    }
}

/// The tag `svc` on `cgroup`, to which each test adds its trigger settings.
fn svc(cgroup: &TestCgroup) -> Tag {
    Tag::cgroup(cgroup.path()).name("svc")
}

/// Starts the agent on `config`, reports under `<scratch>/reports`.
fn agent(scratch: &Scratch, config: AgentConfig) -> RunningAgent {
    RunningAgent::with_config(
        scratch.path(),
        &config,
        &[
            "--report-dir",
            scratch.path().join("reports").to_str().unwrap(),
            "--no-target-stderr",
        ],
    )
}

#[test]
fn touch_by_another_user_reports_every_tagged_process_and_names_the_toucher() {
    let Some(setup) = Setup::new("touch") else {
        return;
    };
    let (scratch, trigger) = (&setup.scratch, &setup.trigger);
    let (first, second) = (setup.spawn(), setup.spawn());
    let agent = setup.agent(AgentConfig::new(), |tag| tag.trigger_group("65534"));
    let meta = std::fs::metadata(trigger).expect("the agent created the trigger file");
    assert_eq!(std::os::unix::fs::MetadataExt::mode(&meta) & 0o777, 0o660);

    let unrelated = scratch.path().join("unrelated");
    std::fs::write(&unrelated, "x").unwrap();
    std::fs::set_permissions(
        &unrelated,
        std::os::unix::fs::PermissionsExt::from_mode(0o666),
    )
    .unwrap();
    touch_as_nobody(&unrelated);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        reports_of(&scratch.path().join("reports"), first.pid()).is_empty(),
        "an unrelated file does nothing"
    );

    touch_as_nobody(trigger);
    let reports = setup.reports();
    for fixture in [&first, &second] {
        let found = wait_for_reports(&reports, fixture.pid(), 1);
        assert_eq!(
            found.len(),
            1,
            "one report for {}; agent log:\n{}",
            fixture.pid(),
            agent.log()
        );
        let text = std::fs::read_to_string(&found[0]).unwrap();
        assert!(
            text.contains(&format!("trigger = file {}", trigger.display())),
            "{text}"
        );
        assert!(
            text.contains("uid 65534, comm touch"),
            "the toucher is named: {text}"
        );
        assert!(text.contains("sleeper_inner"));
    }
    assert_eq!(first.usr2_count(), 0, "a file trigger sends no signal");
}

#[test]
fn trigger_scope_main_reports_only_the_longest_running_process() {
    let Some(setup) = Setup::new("main") else {
        return;
    };
    let (main, worker) = (setup.spawn(), setup.spawn());
    let agent = setup.agent(AgentConfig::new(), |tag| tag.trigger_scope("main"));
    touch_as_root(&setup.trigger);
    let reports = setup.reports();
    assert_eq!(
        wait_for_reports(&reports, main.pid(), 1).len(),
        1,
        "agent log:\n{}",
        agent.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        reports_of(&reports, worker.pid()).is_empty(),
        "only the main process is reported"
    );
}

#[test]
fn a_burst_of_touches_gives_a_bounded_number_of_reports() {
    let Some(setup) = Setup::new("burst") else {
        return;
    };
    let fixture = setup.spawn();
    let agent = setup.agent(AgentConfig::new(), |tag| tag);
    let started = Instant::now();
    for _ in 0..1000 {
        touch_now(&setup.trigger).unwrap();
    }
    let burst = started.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let reports = reports_of(&setup.reports(), fixture.pid());
    println!("1000 touches in {burst:?} gave {} report(s)", reports.len());
    assert!(!reports.is_empty(), "agent log:\n{}", agent.log());
    assert!(
        reports.len() <= 2,
        "a burst is bounded by the 5 s minimum interval: {}",
        reports.len()
    );
}

#[test]
fn recreated_trigger_file_keeps_working_and_retention_bounds_the_directory() {
    let Some(setup) = Setup::new("recreate") else {
        return;
    };
    let trigger = &setup.trigger;
    let fixture = setup.spawn();
    let config = AgentConfig::new().min_interval_seconds(0.0).max_reports(2);
    let agent = setup.agent(config, |tag| tag);
    let reports = setup.reports();
    for round in 1..=4 {
        std::fs::remove_file(trigger).unwrap();
        std::fs::write(trigger, "").unwrap();
        std::thread::sleep(Duration::from_millis(300));
        touch_as_root(trigger);
        let expected = round.min(2);
        let found = wait_for_reports(&reports, fixture.pid(), expected);
        assert!(
            found.len() >= expected,
            "round {round}: agent log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(
        agent.log().contains("retention: removed"),
        "agent log:\n{}",
        agent.log()
    );
    assert_eq!(
        reports_of(&reports, fixture.pid()).len(),
        2,
        "retention keeps 2 reports"
    );
}

#[test]
fn the_agent_removes_the_trigger_files_it_created_and_only_those() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("cleanup");
    let config_path = scratch.path().join("agent.yaml");
    let cgroups = [
        TestCgroup::create(),
        TestCgroup::create(),
        TestCgroup::create(),
    ];
    let files =
        ["dropped", "kept", "theirs"].map(|name| scratch.path().join(format!("{name}.trigger")));
    std::fs::write(&files[2], "put here before the agent").unwrap();
    let write_config = |tags: &[usize]| {
        let config = tags.iter().fold(AgentConfig::new(), |config, &tag| {
            config.tag(Tag::cgroup(cgroups[tag].path()).trigger_file(&files[tag]))
        });
        std::fs::write(&config_path, config.to_yaml()).unwrap();
    };
    write_config(&[0, 1, 2]);
    let agent = RunningAgent::start(&[
        "--config",
        config_path.to_str().unwrap(),
        "--report-dir",
        scratch.path().join("reports").to_str().unwrap(),
        "--no-target-stderr",
    ]);
    assert!(files.iter().all(|f| f.exists()), "{}", agent.log());

    // A reload that drops two tags removes the file the agent made, not the
    // one that was there before it.
    write_config(&[1]);
    send_signal(agent.pid(), Signal::HUP).unwrap();
    assert!(
        agent.wait_for_log("reloaded", Duration::from_secs(10)),
        "{}",
        agent.log()
    );
    assert!(
        !files[0].exists(),
        "dropped tag's file stays:\n{}",
        agent.log()
    );
    assert!(files[1].exists(), "{}", agent.log());
    assert_eq!(
        std::fs::read_to_string(&files[2]).unwrap(),
        "put here before the agent"
    );

    // Stopping removes the kept tag's file too.
    let log = agent.log();
    drop(agent);
    let start = Instant::now();
    while files[1].exists() && start.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        !files[1].exists(),
        "the agent stopped and left its file:\n{log}"
    );
    assert!(files[2].exists());
}

/// `touch FILE` as root (the test recreates the file root-owned, 0644).
fn touch_as_root(file: &Path) {
    assert!(Command::new("touch").arg(file).status().unwrap().success());
}
