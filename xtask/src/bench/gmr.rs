//! gmr's side: cold reports (`gmr-agent report --pid`, a new process that
//! loads its eBPF programs and parses debug info) and warm ones (a running
//! agent asked over its control socket, as `gmr-agent trigger` does), with
//! the agent's own timing of each stage read from its log.

use std::{
    io::{BufRead as _, BufReader, Write as _},
    os::unix::net::UnixStream,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use gmr_tests::agent::RunningAgent;
use serde_json::{Value, json};

use super::timing::run_timed;

/// The agent's log line for one report (see agent/worker.rs).
const MADE_IN: &str = " made in ";
/// The agent's log line once it dropped its caches (see agent/worker.rs).
const CACHES_DROPPED: &str = "caches dropped";
/// The bench agent's `cache_idle_seconds`: longer than the bench's pause
/// before it reads the agent's memory with the caches.
pub const CACHE_IDLE_SECONDS: u64 = 5;

/// Makes one cold report of `pid`; `None` on timeout.
pub fn cold(agent: &Path, pid: u32, timeout: Duration) -> Result<Option<Duration>> {
    run_timed(
        Command::new(agent).args(["report", "--pid", &pid.to_string()]),
        timeout,
    )
}

/// How long the agent says one report took, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AgentTimes {
    /// Making the report (capture to sections).
    pub made: f64,
    /// capture, modules, unwind, symbolize, sections.
    pub stages: [f64; STAGES.len()],
    /// Rendering and writing the files.
    pub written: f64,
}

/// The stage names of the agent's log line, in order.
pub const STAGES: [&str; 5] = ["capture", "modules", "unwind", "symbolize", "sections"];

/// A running agent tagging one cgroup.
pub struct Daemon {
    running: RunningAgent,
    reports: usize,
}

impl Daemon {
    /// Starts `gmr-agent run` tagging `cgroup`, writing reports to
    /// `report_dir`, with no minimum interval between reports and caches
    /// kept [`CACHE_IDLE_SECONDS`] (its configuration file is written there
    /// too).
    pub fn start(cgroup: &Path, report_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(report_dir)?;
        let config = report_dir.join("agent.yaml");
        let text = format!("min_interval_seconds: 0\ncache_idle_seconds: {CACHE_IDLE_SECONDS}\n");
        std::fs::write(&config, text).with_context(|| format!("write {}", config.display()))?;
        let running = RunningAgent::start(&[
            "--config",
            &config.to_string_lossy(),
            "--tag",
            &cgroup.to_string_lossy(),
            "--report-dir",
            &report_dir.to_string_lossy(),
            "--no-target-stderr",
        ]);
        Ok(Self {
            running,
            reports: 0,
        })
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.running.pid()
    }

    /// Waits until the agent, idle, drops its caches.
    pub fn wait_for_dropped_caches(&self) -> Result<()> {
        let wait = Duration::from_secs(CACHE_IDLE_SECONDS + 10);
        if !self.running.wait_for_log(CACHES_DROPPED, wait) {
            bail!(
                "the agent did not drop its caches within {wait:?}; its log:\n{}",
                self.running.log()
            );
        }
        Ok(())
    }

    /// Asks for a report on `pid` over the control socket (as `gmr-agent
    /// trigger` does, without starting a process) and waits for the answer,
    /// which comes once the files are written: the end-to-end time and the
    /// agent's own account of it.
    pub fn report(&mut self, pid: u32, timeout: Duration) -> Result<(Duration, AgentTimes)> {
        let started = Instant::now();
        let answer = ask(self.running.socket(), pid, timeout)?;
        let took = started.elapsed();
        let written = answer["triggered"]["outcomes"][0]["files"]
            .as_array()
            .is_some_and(|files| !files.is_empty());
        if !written {
            bail!("the agent wrote no report on {pid}: {answer}");
        }
        self.reports += 1;
        while started.elapsed() < timeout {
            let log = self.running.log();
            if let Some(line) = log
                .lines()
                .filter(|l| l.contains(MADE_IN))
                .nth(self.reports - 1)
            {
                let times = parse_times(line)
                    .with_context(|| format!("cannot read the agent's timing in {line:?}"))?;
                return Ok((took, times));
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        bail!(
            "the agent logged no report timing; its log:\n{}",
            self.running.log()
        )
    }
}

/// Sends the control request `{"trigger":{"target":"PID"}}` to `socket`
/// and returns the agent's one-line JSON answer.
fn ask(socket: &Path, pid: u32, timeout: Duration) -> Result<Value> {
    let mut stream = UnixStream::connect(socket)
        .with_context(|| format!("cannot reach the agent at {}", socket.display()))?;
    stream.set_read_timeout(Some(timeout))?;
    let request = json!({ "trigger": { "target": pid.to_string() } });
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut answer = String::new();
    BufReader::new(stream)
        .read_line(&mut answer)
        .with_context(|| format!("no answer from the agent within {timeout:?}"))?;
    serde_json::from_str(&answer).with_context(|| format!("bad answer {answer:?}"))
}

/// Reads `… made in 33.1 ms (capture 1.0 ms, modules …), rendered and
/// written in 2.0 ms`.
fn parse_times(line: &str) -> Option<AgentTimes> {
    let (_, rest) = line.split_once(MADE_IN)?;
    let (made, rest) = rest.split_once(" ms (")?;
    let (stages, rest) = rest.split_once("), rendered and written in ")?;
    let mut times = AgentTimes {
        made: made.parse().ok()?,
        written: rest.trim().strip_suffix(" ms")?.parse().ok()?,
        ..AgentTimes::default()
    };
    let mut stages = stages.split(", ");
    for (slot, name) in times.stages.iter_mut().zip(STAGES) {
        let value = stages.next()?.strip_prefix(name)?.trim();
        *slot = value.strip_suffix(" ms")?.parse().ok()?;
    }
    Some(times)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_agent_timing_line() {
        let line = "[INFO] report for 42 made in 33.1 ms (capture 1.5 ms, modules 2.0 ms, \
                    unwind 3.0 ms, symbolize 4.0 ms, sections 5.0 ms), rendered and written in 2.5 ms";
        assert_eq!(
            parse_times(line),
            Some(AgentTimes {
                made: 33.1,
                stages: [1.5, 2.0, 3.0, 4.0, 5.0],
                written: 2.5,
            })
        );
        assert_eq!(parse_times("report for 42 written to /x"), None);
    }
}
