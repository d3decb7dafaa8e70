//! The scale of a real host: one agent tagging 50 services of 20 sleeping
//! processes each (a cgroup and a trigger file per service), and a burst
//! of reports on all of them (every trigger file touched at once). It
//! measures the agent's memory before, during and after the burst against
//! an agent tagging one process, the reports per second it sustains, and
//! counts the report files, so that none goes missing.

use std::{
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, Result, bail};
use gmr_tests::{
    TestCgroup,
    agent::RunningAgent,
    agent_config::{AgentConfig, Tag},
};

use super::hooks::{memory_kib, rss_kib};

/// Services the agent tags.
pub const SERVICES: usize = 50;
/// Processes per service.
pub const PROCESSES: usize = 20;
/// How often the agent's memory and the report files are looked at.
const POLL: Duration = Duration::from_millis(50);
/// How long the burst may go on without a new report before the bench
/// stops waiting (and says how many are missing).
const STALLED: Duration = Duration::from_secs(60);
/// How long the agent gets after its last report before its memory is read
/// (it hands a report's freed memory back after a 1 s pause).
const SETTLE: Duration = Duration::from_secs(2);
/// The agents' `cache_idle_seconds`: longer than the bench, so the memory
/// after the burst includes the caches a busy agent keeps.
const CACHE_IDLE_SECONDS: f64 = 600.0;

/// What the scale bench measured.
pub struct Scale {
    /// Resident memory of an agent tagging one process, after a report on
    /// it, in KiB.
    pub one_rss_kib: u64,
    /// Resident memory of the agent tagging every service, before the
    /// burst, in KiB.
    pub before_rss_kib: u64,
    /// The largest resident memory seen during the burst, in KiB.
    pub during_rss_kib: u64,
    /// The peak (`VmHWM`) over the agent's life, in KiB.
    pub peak_kib: u64,
    /// Resident memory after the burst, in KiB.
    pub after_rss_kib: u64,
    /// Reports asked for: one per process.
    pub expected: usize,
    /// Report files written.
    pub written: usize,
    /// From the touches to the last report file.
    pub burst: Duration,
}

impl Scale {
    /// Reports written per second over the burst.
    pub fn per_second(&self) -> f64 {
        self.written as f64 / self.burst.as_secs_f64().max(f64::EPSILON)
    }

    /// Memory after the burst against the one-process agent's.
    pub fn after_ratio(&self) -> f64 {
        self.after_rss_kib as f64 / self.one_rss_kib.max(1) as f64
    }
}

/// A service: a cgroup of sleeping processes.
struct Service {
    children: Vec<Child>,
    cgroup: TestCgroup,
}

impl Service {
    /// `processes` sleeping processes in a new cgroup.
    fn start(processes: usize) -> Result<Self> {
        let cgroup = TestCgroup::create();
        let mut service = Self {
            children: Vec::new(),
            cgroup,
        };
        for _ in 0..processes {
            let child = Command::new("sleep")
                .arg("3600")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .context("starting sleep")?;
            service.cgroup.add_process(child.id());
            service.children.push(child);
        }
        Ok(service)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Runs the scale bench in `scratch`.
pub fn measure(scratch: &Path) -> Result<Scale> {
    eprintln!("xtask: bench at scale ({SERVICES} services of {PROCESSES} processes)");
    let one_rss_kib = one_process_rss(&scratch.join("scale-one"))?;

    let dir = scratch.join("scale");
    fs::create_dir_all(&dir)?;
    let services = (0..SERVICES)
        .map(|_| Service::start(PROCESSES))
        .collect::<Result<Vec<_>>>()?;
    let mut config = AgentConfig::new()
        .min_interval_seconds(0.0)
        .cache_idle_seconds(CACHE_IDLE_SECONDS)
        .formats(&["text"])
        .report_dir(&dir.join("reports"));
    let mut triggers = Vec::new();
    for (index, service) in services.iter().enumerate() {
        let trigger = dir.join(format!("svc{index:02}.trigger"));
        config = config.tag(
            Tag::cgroup(service.cgroup.path())
                .name(&format!("svc{index:02}"))
                .trigger_file(&trigger),
        );
        triggers.push(trigger);
    }
    let agent = RunningAgent::with_config(&dir, &config, &["--no-target-stderr"]);
    std::thread::sleep(SETTLE);
    let before_rss_kib = rss_kib(agent.pid())?;

    let expected = SERVICES * PROCESSES;
    let started = Instant::now();
    for trigger in &triggers {
        touch(trigger)?;
    }
    let mut during_rss_kib = before_rss_kib;
    let mut written = 0;
    let mut last_new = started;
    let mut burst = Duration::ZERO;
    while written < expected && last_new.elapsed() < STALLED {
        std::thread::sleep(POLL);
        during_rss_kib = during_rss_kib.max(rss_kib(agent.pid())?);
        let now = report_files(&dir.join("reports"))?;
        if now > written {
            written = now;
            last_new = Instant::now();
            burst = started.elapsed();
        }
    }
    std::thread::sleep(SETTLE);
    let after_rss_kib = rss_kib(agent.pid())?;
    let peak_kib = memory_kib(agent.pid(), "VmHWM")?;
    let made = agent
        .log()
        .lines()
        .filter(|l| l.contains(" made in "))
        .count();
    if written < expected {
        eprintln!(
            "xtask: only {written} of {expected} report files ({made} reports logged as made)"
        );
    }
    drop(agent);
    drop(services);
    Ok(Scale {
        one_rss_kib,
        before_rss_kib,
        during_rss_kib,
        peak_kib,
        after_rss_kib,
        expected,
        written,
        burst,
    })
}

/// Resident memory of an agent tagging one sleeping process, after one
/// report on it, in KiB.
fn one_process_rss(dir: &Path) -> Result<u64> {
    fs::create_dir_all(dir)?;
    let service = Service::start(1)?;
    let config = AgentConfig::service(dir, service.cgroup.path())
        .formats(&["text"])
        .cache_idle_seconds(CACHE_IDLE_SECONDS);
    let agent = RunningAgent::with_config(dir, &config, &["--no-target-stderr"]);
    touch(&dir.join("svc.trigger"))?;
    let deadline = Instant::now() + STALLED;
    while report_files(&dir.join("reports"))? == 0 {
        if Instant::now() > deadline {
            bail!(
                "no report from the one-process agent; its log:\n{}",
                agent.log()
            );
        }
        std::thread::sleep(POLL);
    }
    std::thread::sleep(SETTLE);
    rss_kib(agent.pid())
}

/// Changes `path`'s ctime (as `touch` does), creating it if needed.
fn touch(path: &Path) -> Result<()> {
    fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .and_then(|file| file.set_modified(SystemTime::now()))
        .with_context(|| format!("touching {}", path.display()))
}

/// Text report files under `dir`, at any depth.
fn report_files(dir: &Path) -> Result<usize> {
    let mut count = 0;
    let mut pending: Vec<PathBuf> = vec![dir.to_owned()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry?.path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|ext| ext == "txt") {
                count += 1;
            }
        }
    }
    Ok(count)
}
