//! `cargo xtask demo`: the main job end to end. Builds the agent, starts a
//! multi-threaded demo service in a fresh cgroup, runs the agent tagging that
//! cgroup, sends the service SIGUSR2 and prints the report the agent wrote.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use gmr_tests::{Fixture, TestCgroup, build_rust_fixture};

use crate::{build, cmd};

/// How long the demo waits for the agent to start and for the report.
const TIMEOUT: Duration = Duration::from_secs(60);

/// Runs the demo.
pub fn run() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!("the agent loads eBPF programs: run the demo as root (sudo cargo xtask demo)");
    }
    let agent = build::run()?;
    let service = build_rust_fixture();
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(&service, &[], Some(&cgroup));
    eprintln!(
        "xtask: demo service {} runs in cgroup {}",
        fixture.pid(),
        cgroup.path().display()
    );

    let report_dir = cmd::workspace_root().join("target/demo-reports");
    let _ = std::fs::remove_dir_all(&report_dir);
    let mut child = Command::new(&agent)
        .arg("run")
        .arg("--tag")
        .arg(cgroup.path())
        .arg("--report-dir")
        .arg(&report_dir)
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {}", agent.display()))?;
    let ready = forward_agent_log(child.stderr.take().context("agent stderr")?);
    let result = ready
        .recv_timeout(TIMEOUT)
        .context("the agent did not become ready")
        .and_then(|()| {
            fixture.signal(libc::SIGUSR2);
            eprintln!("xtask: sent SIGUSR2 to {}", fixture.pid());
            wait_for_report(&report_dir)
        });
    let _ = child.kill();
    let _ = child.wait();
    let report = result?;
    println!("{}", std::fs::read_to_string(&report)?);
    eprintln!(
        "xtask: report written to {}; the service is still running: {}",
        report.display(),
        Path::new(&format!("/proc/{}", fixture.pid())).exists()
    );
    Ok(())
}

/// Copies the agent's log to our stderr; signals once it says it is ready.
fn forward_agent_log(stderr: std::process::ChildStderr) -> mpsc::Receiver<()> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            eprintln!("agent: {line}");
            if line.contains("agent ready") {
                let _ = tx.send(());
            }
        }
    });
    rx
}

/// Waits for the first `.txt` report below `dir`.
fn wait_for_report(dir: &Path) -> Result<PathBuf> {
    let start = Instant::now();
    while start.elapsed() < TIMEOUT {
        if let Some(path) = find_report(dir) {
            return Ok(path);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("no report appeared in {} within {TIMEOUT:?}", dir.display())
}

/// The first `*.txt` in `dir`'s subdirectories.
fn find_report(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|tag| std::fs::read_dir(tag.path()).ok())
        .flatten()
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "txt"))
}
