//! An OTLP/HTTP logs receiver for the pipeline tests: the Python script
//! `tests/fixtures/otlp/receiver.py`, which decodes with the official
//! `opentelemetry-proto` package from PyPI, installed once into a venv at
//! `target/pydeps/otlp-venv`.

use std::{
    io::{BufRead as _, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::workspace_root;

/// The venv's python with `opentelemetry-proto`; `None` (with `SKIP:` and
/// the reason printed) when the venv or pip fails, e.g. PyPI unreachable.
pub fn otlp_python() -> Option<PathBuf> {
    // Tests run in parallel: one install at a time; the marker file says
    // an install finished, so no test uses half of one.
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    let venv = workspace_root().join("target/pydeps/otlp-venv");
    let marker = venv.join("installed");
    let python = venv.join("bin/python3");
    if marker.exists() {
        return Some(python);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let mut make_venv = Command::new("python3");
    make_venv.args(["-m", "venv"]).arg(&venv);
    let mut pip = Command::new(venv.join("bin/pip"));
    pip.args([
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "opentelemetry-proto",
    ]);
    for mut step in [make_venv, pip] {
        let out = step.output().expect("run python3 -m venv or pip");
        if !out.status.success() {
            println!(
                "SKIP: cannot make a venv with opentelemetry-proto: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            let _ = std::fs::remove_dir_all(&venv);
            return None;
        }
    }
    std::fs::write(&marker, "").expect("mark the venv installed");
    Some(python)
}

/// A running receiver, stopped on drop.
pub struct OtlpReceiver {
    child: Child,
    port: u16,
    records: Arc<Mutex<Vec<Value>>>,
}

impl OtlpReceiver {
    /// Starts the receiver with `args` (`--delay S`, `--status N`) on an
    /// ephemeral port of 127.0.0.1.
    #[track_caller]
    pub fn start(python: &std::path::Path, args: &[&str]) -> Self {
        let mut child = Command::new(python)
            .arg(workspace_root().join("tests/fixtures/otlp/receiver.py"))
            .args(args)
            .stdout(Stdio::piped())
            .spawn()
            .expect("start the OTLP receiver");
        let mut lines = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
        let first = lines
            .next()
            .and_then(Result::ok)
            .unwrap_or_else(|| panic!("the OTLP receiver printed no port"));
        let port = first
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("not a port line: {first}"));
        let records = Arc::new(Mutex::new(Vec::new()));
        let sink = records.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let record = serde_json::from_str(&line)
                    .unwrap_or_else(|e| panic!("receiver line {line}: {e}"));
                sink.lock().expect("records").push(record);
            }
        });
        Self {
            child,
            port,
            records,
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The log records received so far, as the script printed them.
    pub fn records(&self) -> Vec<Value> {
        self.records.lock().expect("records").clone()
    }

    /// Waits until `count` records arrived; all received so far.
    pub fn wait_for_records(&self, count: usize, timeout: Duration) -> Vec<Value> {
        let start = Instant::now();
        while start.elapsed() < timeout && self.records().len() < count {
            std::thread::sleep(Duration::from_millis(20));
        }
        self.records()
    }
}

impl Drop for OtlpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An endpoint where nothing listens: a port of 127.0.0.1 bound and
/// released again.
pub fn down_endpoint() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}
