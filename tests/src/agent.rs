//! Running the real `gmr-agent` binary from tests.

use std::{
    io::{BufRead as _, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::{
    agent_config::AgentConfig,
    normalize_name,
    scratch::{REPORT_TIMEOUT, wait_for_report_files},
};

/// How long an agent may take to load its programs and say it is ready.
pub const AGENT_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// The agent binary: `$GMR_AGENT` (set by `cargo xtask test`), else
/// `target/release/gmr-agent`.
#[track_caller]
pub fn agent_binary() -> PathBuf {
    let path = std::env::var_os("GMR_AGENT")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target/release/gmr-agent"));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo xtask test` (it builds the agent)",
        path.display()
    );
    path
}

/// Runs `gmr-agent ARGS…` to completion.
#[track_caller]
pub fn run_agent(args: &[&str]) -> Output {
    Command::new(agent_binary())
        .args(args)
        .output()
        .expect("start gmr-agent")
}

/// `gmr-agent report --pid PID --format json`, parsed; panics with the
/// agent's stderr if it fails.
#[track_caller]
pub fn report_json(pid: u32) -> Value {
    let out = run_agent(&["report", "--pid", &pid.to_string(), "--format", "json"]);
    assert!(
        out.status.success(),
        "gmr-agent report --pid {pid} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the JSON report parses")
}

/// The data of the section titled `title`, which must have succeeded.
#[track_caller]
pub fn section<'a>(report: &'a Value, title: &str) -> &'a Value {
    let section = report["sections"]
        .as_array()
        .expect("sections array")
        .iter()
        .find(|s| s["title"] == title)
        .unwrap_or_else(|| panic!("no {title} section in {report}"));
    assert_eq!(
        section["status"], "ok",
        "{title} section failed: {}",
        section["error"]
    );
    &section["data"]
}

/// The Threads entry for `tid`.
#[track_caller]
pub fn thread(report: &Value, tid: u32) -> &Value {
    section(report, "Threads")["threads"]
        .as_array()
        .expect("threads array")
        .iter()
        .find(|t| t["tid"] == tid)
        .unwrap_or_else(|| panic!("thread {tid} missing from the report"))
}

/// A thread's user-stack function names, normalized, innermost first.
pub fn user_functions(thread: &Value) -> Vec<String> {
    thread["user_stack"]
        .as_array()
        .map(|frames| {
            frames
                .iter()
                .filter_map(|f| f["function"].as_str())
                .map(normalize_name)
                .collect()
        })
        .unwrap_or_default()
}

/// True when `wanted` appear in `names` in this order (not necessarily adjacent).
pub fn in_order(names: &[String], wanted: &[&str]) -> bool {
    let mut names = names.iter();
    wanted.iter().all(|w| names.any(|n| n == w))
}

/// The files of the one report a `trigger` answer names for `pid`.
#[track_caller]
pub fn files_for(answer: &Value, pid: u32) -> Vec<PathBuf> {
    let outcome = answer["triggered"]["outcomes"]
        .as_array()
        .unwrap_or_else(|| panic!("not a trigger answer: {answer}"))
        .iter()
        .find(|o| o["pid"] == pid)
        .unwrap_or_else(|| panic!("no outcome for {pid}: {answer}"));
    outcome["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| PathBuf::from(f.as_str().unwrap()))
        .collect()
}

/// The JSON report among `files`, parsed.
#[track_caller]
pub fn json_report(files: &[PathBuf]) -> Value {
    let json = files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .unwrap_or_else(|| panic!("no JSON report among {files:?}"));
    serde_json::from_str(&std::fs::read_to_string(json).unwrap()).unwrap()
}

/// A `gmr-agent run` in the background, stopped on drop.
pub struct RunningAgent {
    child: Child,
    log: Arc<Mutex<String>>,
    stdout: Arc<Mutex<String>>,
    socket: PathBuf,
}

impl RunningAgent {
    /// Starts `gmr-agent run ARGS…` with a control socket of its own, and
    /// waits until it logs `agent ready`.
    #[track_caller]
    pub fn start(args: &[&str]) -> Self {
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let socket = std::env::temp_dir().join(format!("gmr-test-{}-{n}.sock", std::process::id()));
        Self::start_at(&socket, args)
    }

    /// The common prelude: writes `config` to `dir/agent.yaml`, starts
    /// `gmr-agent run --config dir/agent.yaml ARGS…` and waits until it is
    /// ready.
    #[track_caller]
    pub fn with_config(dir: &Path, config: &AgentConfig, args: &[&str]) -> Self {
        let path = config.write(dir);
        let mut all = vec!["--config", path.to_str().expect("a UTF-8 scratch path")];
        all.extend_from_slice(args);
        Self::start(&all)
    }

    /// Like [`RunningAgent::start`], with the control socket at `socket`
    /// (e.g. the one a killed agent left behind).
    #[track_caller]
    pub fn start_at(socket: &std::path::Path, args: &[&str]) -> Self {
        let socket = socket.to_path_buf();
        let mut child = Command::new(agent_binary())
            .arg("run")
            .arg("--socket")
            .arg(&socket)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start gmr-agent run");
        let log = collect_lines(child.stderr.take().expect("piped stderr"));
        let stdout = collect_lines(child.stdout.take().expect("piped stdout"));
        let agent = Self {
            child,
            log,
            stdout,
            socket,
        };
        assert!(
            agent.wait_for_log("agent ready", AGENT_READY_TIMEOUT),
            "the agent did not become ready; its log:\n{}",
            agent.log()
        );
        agent
    }

    /// The agent's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The agent's control socket.
    pub fn socket(&self) -> &std::path::Path {
        &self.socket
    }

    /// Everything the agent logged so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }

    /// Everything the agent wrote to its stdout so far (whole lines).
    pub fn stdout(&self) -> String {
        self.stdout.lock().expect("stdout").clone()
    }

    /// Sends `{"trigger":{"target":TARGET}}` to the control socket and
    /// returns the agent's parsed answer (it comes once the reports are
    /// written, or at once when the request was merged or refused).
    #[track_caller]
    pub fn trigger(&self, target: &str) -> Value {
        control_trigger(&self.socket, target)
            .unwrap_or_else(|e| panic!("control request trigger {target}: {e}\n{}", self.log()))
    }

    /// The first report file about `pid` with extension `ext` below the
    /// report directory `reports`, once it appears; panics with the agent's
    /// log after [`REPORT_TIMEOUT`].
    #[track_caller]
    pub fn report_file(&self, reports: &Path, pid: u32, ext: &str) -> PathBuf {
        wait_for_report_files(reports, pid, ext, 1, REPORT_TIMEOUT)
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("no .{ext} report for {pid}; log:\n{}", self.log()))
    }

    /// Whether the agent process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Kills the agent with SIGKILL (no cleanup on its side) and reaps it.
    pub fn kill_now(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Sends SIGHUP and waits until the agent has logged `count` reload
    /// outcomes in all (`reloaded` or `reload failed`).
    #[track_caller]
    pub fn reload(&self, count: usize) {
        crate::syscalls::send_signal(self.pid(), crate::syscalls::Signal::HUP)
            .expect("SIGHUP the agent");
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(10) {
            if self.log_count("reloaded") + self.log_count("reload failed") >= count {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("no reload #{count} in the log:\n{}", self.log());
    }

    /// How many log lines contain `needle`.
    pub fn log_count(&self, needle: &str) -> usize {
        self.log().lines().filter(|l| l.contains(needle)).count()
    }

    /// Waits until the log contains `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        let start = Instant::now();
        while start.elapsed() < timeout {
            if self.log().contains(needle) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

impl Drop for RunningAgent {
    fn drop(&mut self) {
        let _ = crate::syscalls::send_signal(self.child.id(), crate::syscalls::Signal::TERM);
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The lines read from `stream` as they come, kept in one string.
fn collect_lines(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<String>> {
    let lines = Arc::new(Mutex::new(String::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            let mut lines = sink.lock().expect("lines");
            lines.push_str(&line);
            lines.push('\n');
        }
    });
    lines
}

/// One `trigger TARGET` request on the control socket at `socket`: the
/// agent's JSON answer, parsed.
pub fn control_trigger(socket: &std::path::Path, target: &str) -> std::io::Result<Value> {
    use std::io::{Read as _, Write as _};
    let mut stream = std::os::unix::net::UnixStream::connect(socket)?;
    let request = serde_json::json!({"trigger": {"target": target}});
    stream.write_all(format!("{request}\n").as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    serde_json::from_str(&answer).map_err(|e| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("bad answer {answer:?}: {e}"),
        )
    })
}
