//! One corpus run: every service started in parallel, one agent tagging
//! each service's cgroup, each tag's trigger file touched in turn, and
//! every process's reports collected with the time they took.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Service, Start, Started, launch, secrets};
use crate::{
    TestCgroup,
    agent::RunningAgent,
    agent_config::{AgentConfig, Tag},
    scratch::{REPORT_TIMEOUT, Scratch, report_files},
};

/// The report formats the agent writes; each is searched for secrets.
pub const FORMATS: [&str; 3] = ["txt", "json", "yaml"];

/// A service that started, with the cgroup that holds it.
pub struct Running {
    /// The service's definition.
    pub service: Service,
    /// Its scratch directory.
    pub dir: PathBuf,
    /// The cgroup holding it; dropping it kills the service.
    pub cgroup: TestCgroup,
    /// What its start returned.
    pub started: Started,
}

impl Running {
    /// The trigger file the agent creates for this service's tag.
    pub fn trigger_file(&self) -> PathBuf {
        self.dir.join(format!("{}.trigger", self.service.name))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // The cgroup kills the daemon when it drops (after this); reap the
        // direct children so no zombie outlives the test.
        for child in &mut self.started.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Every service of one run, started.
pub struct Corpus {
    /// The services that started (declared first: they are stopped
    /// before their directories go).
    pub running: Vec<Running>,
    /// Holds every service's directory; removed last.
    pub scratch: Scratch,
    /// `SKIP: …` lines for services whose binaries are missing.
    pub skipped: Vec<String>,
    /// Services that should have started and did not, with why.
    pub failures: Vec<String>,
    /// Wall time from the first start to the last service ready.
    pub startup: Duration,
}

impl Corpus {
    /// Starts `services` in parallel, each in its own cgroup and
    /// directory; a missing binary skips the service, a failed start is
    /// recorded as a failure.
    pub fn start(services: Vec<Service>) -> Corpus {
        let scratch = Scratch::new("corpus");
        launch::open_to_all(scratch.path(), 0o755).expect("the corpus directory");
        let nonce = secrets::nonce();
        let began = Instant::now();
        let outcomes: Vec<Result<Option<Running>, String>> = std::thread::scope(|scope| {
            let handles: Vec<_> = services
                .into_iter()
                .map(|service| {
                    let (root, nonce) = (scratch.path(), nonce.as_str());
                    scope.spawn(move || start_one(service, root, nonce))
                })
                .collect();
            handles
                .into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("its start panicked".into()))
                })
                .collect()
        });
        let startup = began.elapsed();
        let mut corpus = Corpus {
            running: Vec::new(),
            scratch,
            skipped: Vec::new(),
            failures: Vec::new(),
            startup,
        };
        for outcome in outcomes {
            match outcome {
                Ok(Some(running)) => corpus.running.push(running),
                Ok(None) => {}
                Err(e) if e.starts_with("SKIP:") => corpus.skipped.push(e),
                Err(e) => corpus.failures.push(e),
            }
        }
        corpus
    }

    /// Every secret planted in the run, whichever service holds it.
    pub fn secrets(&self) -> Vec<secrets::Secret> {
        self.running
            .iter()
            .flat_map(|r| r.started.secrets.iter().cloned())
            .collect()
    }

    /// The agent's configuration: all formats, one tag per service with
    /// its cgroup, trigger file and config files.
    pub fn agent_config(&self) -> AgentConfig {
        self.running.iter().fold(
            AgentConfig::new()
                .formats(&["text", "json", "yaml"])
                .min_interval_seconds(0.0),
            |config, running| {
                let tag = running.started.config_files.iter().fold(
                    Tag::cgroup(running.cgroup.path())
                        .name(running.service.name)
                        .trigger_file(&running.trigger_file()),
                    |tag, file| tag.config_file(file),
                );
                config.tag(tag)
            },
        )
    }

    /// Starts one agent for every service of the corpus.
    #[track_caller]
    pub fn start_agent(&self) -> RunningAgent {
        RunningAgent::with_config(
            self.scratch.path(),
            &self.agent_config(),
            &[
                "--report-dir",
                self.report_dir().to_str().expect("UTF-8 scratch path"),
            ],
        )
    }

    /// Where the agent writes reports (one directory per tag below it).
    pub fn report_dir(&self) -> PathBuf {
        self.scratch.path().join("reports")
    }
}

/// Starts one service, or says why not (`SKIP: …` when a binary it
/// needs is missing).
fn start_one(service: Service, root: &Path, nonce: &str) -> Result<Option<Running>, String> {
    if let Some(missing) = service.needs.iter().find(|p| !Path::new(p).exists()) {
        return Err(format!(
            "SKIP: {}: {missing} is not installed",
            service.name
        ));
    }
    let dir = root.join(service.name);
    std::fs::create_dir(&dir)
        .map_err(|e| format!("{}: create {}: {e}", service.name, dir.display()))?;
    launch::open_to_all(&dir, 0o755).map_err(|e| format!("{}: {e}", service.name))?;
    let cgroup = TestCgroup::create();
    let ctx = Start {
        dir: &dir,
        cgroup: &cgroup,
        nonce,
    };
    let started =
        (service.start)(&ctx).map_err(|e| format!("{} did not start: {e}", service.name))?;
    Ok(Some(Running {
        service,
        dir,
        cgroup,
        started,
    }))
}

/// The reports one trigger gave one process.
pub struct Reports {
    /// The process.
    pub pid: u32,
    /// Its report files, one per [`FORMATS`] entry found.
    pub files: Vec<PathBuf>,
    /// From the touch of the trigger file to the last of its files
    /// appearing; `None` when they did not all appear in time.
    pub elapsed: Option<Duration>,
}

/// Touches `running`'s trigger file and waits until each of `pids` has a
/// report in every format.
pub fn trigger(running: &Running, pids: &[u32], report_dir: &Path) -> Vec<Reports> {
    let began = Instant::now();
    touch(&running.trigger_file());
    let mut reports: Vec<Reports> = pids
        .iter()
        .map(|&pid| Reports {
            pid,
            files: Vec::new(),
            elapsed: None,
        })
        .collect();
    while began.elapsed() < REPORT_TIMEOUT && reports.iter().any(|r| r.elapsed.is_none()) {
        for report in reports.iter_mut().filter(|r| r.elapsed.is_none()) {
            let files: Vec<PathBuf> = FORMATS
                .iter()
                .flat_map(|ext| report_files(report_dir, report.pid, ext))
                .collect();
            if files.len() == FORMATS.len() {
                report.elapsed = Some(began.elapsed());
            }
            report.files = files;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    reports
}

/// Sets `path`'s times to now, as `touch` does (the trigger files exist:
/// the agent made them).
#[track_caller]
fn touch(path: &Path) {
    crate::syscalls::touch_now(path).unwrap_or_else(|e| panic!("touch {}: {e}", path.display()));
}
