//! Tagging by systemd unit and by container id through the real agent.
//!
//! Neither systemd nor a container runtime runs here, which is the point:
//! the agent finds a unit's or a container's cgroup by its name in the
//! cgroup2 tree. Each test builds the layout systemd or docker would
//! (`…/system.slice/<unit>`, `…/docker-<id>.scope`) below a throwaway
//! cgroup, puts a fixture in it, signals the fixture, and expects a report
//! in the directory named after the unit or container. Unknown and
//! ambiguous names must fail before anything is loaded, naming the flag.

use std::{
    collections::hash_map::RandomState,
    hash::{BuildHasher as _, Hasher as _},
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, run_agent},
    build_c_fixture, require_root,
};

/// How long a report may take to appear after the signal.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// A cgroup created below a [`TestCgroup`] (with any missing parents);
/// dropping it kills what is inside and removes the directories it made,
/// so the `TestCgroup` can remove itself. Declare it after the
/// `TestCgroup` so it is dropped first.
struct NestedCgroup {
    made: Vec<PathBuf>,
}

impl NestedCgroup {
    fn create(parent: &TestCgroup, relative: &str) -> Self {
        let mut made = Vec::new();
        let mut path = parent.path().to_path_buf();
        for part in Path::new(relative) {
            path.push(part);
            std::fs::create_dir(&path)
                .unwrap_or_else(|e| panic!("create cgroup {}: {e}", path.display()));
            made.push(path.clone());
        }
        Self { made }
    }

    fn path(&self) -> &Path {
        self.made.last().expect("at least one directory")
    }

    /// Moves process `pid` into the cgroup.
    fn add(&self, pid: u32) {
        std::fs::write(self.path().join("cgroup.procs"), pid.to_string())
            .unwrap_or_else(|e| panic!("add {pid} to {}: {e}", self.path().display()));
    }
}

impl Drop for NestedCgroup {
    fn drop(&mut self) {
        let _ = std::fs::write(self.path().join("cgroup.kill"), "1");
        let deadline = Instant::now() + Duration::from_secs(5);
        for dir in self.made.iter().rev() {
            // A killed process leaves its cgroup a moment after the signal.
            while std::fs::remove_dir(dir).is_err() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }
}

/// A scratch report directory, removed on drop.
struct ReportDir(PathBuf);

impl ReportDir {
    fn new(label: &str) -> Self {
        let path = std::env::temp_dir().join(format!("gmr-targets-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        Self(path)
    }

    /// Waits for the text report on `pid` in the subdirectory `tag`.
    fn wait_for(&self, tag: &str, pid: u32) -> Option<PathBuf> {
        let suffix = format!("_{pid}.txt");
        let start = Instant::now();
        while start.elapsed() < REPORT_TIMEOUT {
            let found = std::fs::read_dir(self.0.join(tag))
                .into_iter()
                .flatten()
                .filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.to_string_lossy().ends_with(&suffix));
            if found.is_some() {
                return found;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        None
    }
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A random 64-digit container id.
fn random_container_id() -> String {
    (0..4)
        .map(|_| format!("{:016x}", RandomState::new().build_hasher().finish()))
        .collect()
}

/// Starts an agent with `tag_args`, signals `fixture`, and returns the text
/// of its report, which must be in `<report dir>/<tag>/`.
fn report_through_agent(tag_args: &[&str], tag: &str, fixture: &Fixture, label: &str) -> String {
    let reports = ReportDir::new(label);
    let mut args = tag_args.to_vec();
    args.extend([
        "--report-dir",
        reports.0.to_str().unwrap(),
        "--no-target-stderr",
    ]);
    let agent = RunningAgent::start(&args);
    fixture.signal(libc::SIGUSR2);
    assert!(
        fixture.wait_for_usr2(1, Duration::from_secs(5)),
        "the fixture's own handler ran"
    );
    let report = reports.wait_for(tag, fixture.pid()).unwrap_or_else(|| {
        panic!(
            "no report on {} in {}/{tag}; agent log:\n{}",
            fixture.pid(),
            reports.0.display(),
            agent.log()
        )
    });
    let file_name = report.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(
        file_name.starts_with(&format!("{tag}_gurumeditation_")),
        "{file_name}"
    );
    let text = std::fs::read_to_string(&report).unwrap();
    // The agent arms /run/gmr/<tag>.trigger for every tag and leaves it for
    // its next run, which a test tag never has.
    drop(agent);
    let _ = std::fs::remove_file(format!("/run/gmr/{tag}.trigger"));
    text
}

#[test]
fn tag_unit_finds_the_service_cgroup_by_name_without_systemd() {
    if !require_root() {
        return;
    }
    let unit = format!("gmr-demo-{}.service", std::process::id());
    let cgroup = TestCgroup::create();
    let service = NestedCgroup::create(&cgroup, &format!("system.slice/{unit}"));
    let fixture = Fixture::spawn(&build_c_fixture(CVariant::NoFramePointer), &[], None);
    service.add(fixture.pid());

    let text = report_through_agent(&["--tag-unit", &unit], &unit, &fixture, "unit");
    assert!(text.contains("trigger = signal SIGUSR2"), "{text}");
    assert!(text.contains("sleeper_inner"), "{text}");
}

#[test]
fn tag_container_finds_a_docker_scope_by_id_prefix() {
    if !require_root() {
        return;
    }
    let id = random_container_id();
    let cgroup = TestCgroup::create();
    let scope = NestedCgroup::create(&cgroup, &format!("docker-{id}.scope"));
    let fixture = Fixture::spawn(&build_c_fixture(CVariant::NoFramePointer), &[], None);
    scope.add(fixture.pid());

    let tag = format!("container-{}", &id[..12]);
    let text = report_through_agent(&["--tag-container", &id[..12]], &tag, &fixture, "container");
    assert!(text.contains("sleeper_inner"), "{text}");
}

#[test]
fn unknown_or_ambiguous_units_and_containers_fail_naming_the_flag() {
    if !require_root() {
        return;
    }
    let run = |args: &[&str]| {
        let mut full = vec!["run", "--report-dir", "/tmp/gmr-unused"];
        full.extend(args);
        let out = run_agent(&full);
        assert!(!out.status.success(), "{args:?} must fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };

    let missing = format!("gmr-no-such-{}.service", std::process::id());
    let stderr = run(&["--tag-unit", &missing]);
    assert!(
        stderr.contains(&format!("--tag-unit {missing}"))
            && stderr.contains(&format!("no cgroup named {missing} below"))
            && stderr.contains(gmr_tests::cgroup2_mount().to_str().unwrap()),
        "{stderr}"
    );

    let stderr = run(&["--tag-unit", "multi-user.target"]);
    assert!(
        stderr.contains("--tag-unit") && stderr.contains("have no cgroup"),
        "{stderr}"
    );

    let cgroup = TestCgroup::create();
    let base = random_container_id();
    let twin = format!("{}{}", &base[..12], &random_container_id()[12..]);
    let _first = NestedCgroup::create(&cgroup, &format!("docker-{base}.scope"));
    let _second = NestedCgroup::create(&cgroup, &format!("libpod-{twin}.scope"));
    let stderr = run(&["--tag-container", &base[..12]]);
    assert!(
        stderr.contains(&format!("--tag-container {}", &base[..12]))
            && stderr.contains("ambiguous")
            && stderr.contains(&base)
            && stderr.contains(&twin),
        "{stderr}"
    );
}
