//! Secrets never reach a report. A real process runs with the secrets
//! corpus (`tests/fixtures/secrets`) in its configuration files, its
//! command line and its environment; the real agent's report on it, in
//! every format, must hold none of the corpus's secrets (`secrets.txt`) and
//! every value that is not one (`visible.txt`).

use std::{
    collections::HashSet,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gmr_tests::{
    agent::{run_agent, section},
    require_root, workspace_root,
};
use serde_json::Value;

/// Python code that just waits, keeping its argv and environment.
const SLEEP: &str = "import time; time.sleep(600)";

/// How long Python may take to start (a pyenv shim re-executes it).
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Files of the corpus besides the manifests: the configuration files the
/// command line names, and what the report should list for each.
const CONFIG_FILES: &[&str] = &[
    "nova.conf",
    "nova.conf.d/10-messaging.conf",
    "nova.conf.d/20-database.conf",
    "service.yaml",
    "app.toml",
    "app.json",
    "broken.conf",
    "broken.yaml",
    "broken.toml",
];

/// The secrets corpus, read from `tests/fixtures/secrets`.
struct Corpus {
    dir: PathBuf,
    secrets: Vec<String>,
    visible: Vec<String>,
    arguments: Vec<String>,
    environment: Vec<(String, String)>,
}

impl Corpus {
    fn load() -> Self {
        let dir = workspace_root()
            .join("tests/fixtures/secrets")
            .canonicalize()
            .expect("the corpus directory exists");
        let text = dir.to_string_lossy().into_owned();
        let arguments = lines(&dir, "arguments")
            .iter()
            .map(|arg| arg.replace("{dir}", &text))
            .collect();
        let environment = lines(&dir, "environment")
            .iter()
            .map(|line| {
                let (name, value) = line
                    .split_once('=')
                    .unwrap_or_else(|| panic!("environment line {line:?} is not NAME=value"));
                (name.to_owned(), value.to_owned())
            })
            .collect();
        Self {
            secrets: lines(&dir, "secrets.txt"),
            visible: lines(&dir, "visible.txt"),
            arguments,
            environment,
            dir,
        }
    }

    /// Every corpus file's text but the manifests'.
    fn inputs(&self) -> String {
        let mut text = String::new();
        for name in CONFIG_FILES.iter().chain(&["arguments", "environment"]) {
            let path = self.dir.join(name);
            text.push_str(
                &fs::read_to_string(&path)
                    .unwrap_or_else(|error| panic!("read {}: {error}", path.display())),
            );
        }
        text
    }
}

/// The lines of corpus file `name` that are not blank or `#` comments.
fn lines(dir: &Path, name: &str) -> Vec<String> {
    let path = dir.join(name);
    fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// `python3 -c SLEEP <corpus arguments>` with the corpus environment,
/// killed when dropped.
struct Python(Child);

impl Python {
    fn spawn(corpus: &Corpus) -> Self {
        let child = Command::new("python3")
            .arg("-c")
            .arg(SLEEP)
            .args(&corpus.arguments)
            .env_clear()
            .envs(corpus.environment.iter().map(|(k, v)| (k, v)))
            .current_dir(&corpus.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .spawn()
            .expect("start python3");
        let python = Self(child);
        let exe = format!("/proc/{}/exe", python.pid());
        let started = Instant::now();
        // A pyenv shim is a script that re-executes Python: wait until the
        // process runs Python itself.
        while !fs::read_link(&exe).is_ok_and(|path| {
            path.file_name()
                .is_some_and(|name| name.to_string_lossy().starts_with("python"))
        }) {
            assert!(started.elapsed() < START_TIMEOUT, "python3 did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
        python
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn corpus_is_well_formed() {
    let corpus = Corpus::load();
    assert!(
        corpus.secrets.len() >= 40,
        "only {} secrets",
        corpus.secrets.len()
    );
    let unique: HashSet<&String> = corpus.secrets.iter().collect();
    assert_eq!(
        unique.len(),
        corpus.secrets.len(),
        "a secret is listed twice"
    );
    let inputs = corpus.inputs();
    for secret in &corpus.secrets {
        assert!(
            inputs.contains(secret.as_str()),
            "{secret} is in no corpus file"
        );
        for value in &corpus.visible {
            assert!(
                !value.contains(secret.as_str()),
                "visible {value} holds {secret}"
            );
        }
    }
}

#[test]
fn reports_hold_no_corpus_secret() {
    if !require_root() {
        return;
    }
    let corpus = Corpus::load();
    let python = Python::spawn(&corpus);
    let pid = python.pid().to_string();
    for format in ["json", "text", "yaml"] {
        let out = run_agent(&["report", "--pid", &pid, "--format", format]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() && format == "yaml" && stderr.contains("yaml") {
            println!("note: this agent has no --format yaml, skipped: {stderr}");
            continue;
        }
        assert!(
            out.status.success(),
            "gmr-agent report --pid {pid} --format {format} failed: {stderr}"
        );
        for secret in &corpus.secrets {
            assert!(
                !stdout.contains(secret.as_str()),
                "{secret} leaked into the {format} report:\n{stdout}"
            );
            assert!(
                !stderr.contains(secret.as_str()),
                "{secret} leaked into the agent's log:\n{stderr}"
            );
        }
        for value in &corpus.visible {
            assert!(
                stdout.contains(value.as_str()),
                "{value} is missing from the {format} report:\n{stdout}"
            );
        }
        match format {
            "json" => check_json(
                &corpus,
                &serde_json::from_str(&stdout).expect("JSON report"),
            ),
            "text" => check_text(&stdout),
            _ => {}
        }
    }
}

/// The JSON Configuration section lists every file, parsed or raw.
fn check_json(corpus: &Corpus, report: &Value) {
    let configuration = section(report, "Configuration");
    let files = configuration["files"].as_array().expect("files array");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    let expected: Vec<String> = CONFIG_FILES
        .iter()
        .map(|name| corpus.dir.join(name).to_string_lossy().into_owned())
        .collect();
    assert_eq!(paths, expected);
    for file in files {
        let broken = file["path"].as_str().is_some_and(|p| p.contains("broken"));
        if broken {
            let error = file["error"].as_str().expect("a broken file has an error");
            assert!(
                error.starts_with("parse error: ") && error.contains("(line "),
                "{error}"
            );
            assert!(
                file["raw"].as_array().is_some_and(|raw| !raw.is_empty()),
                "{file}"
            );
        } else {
            assert!(file["error"].is_null(), "{file}");
            assert!(
                file["groups"].as_array().is_some_and(|g| !g.is_empty()),
                "{file}"
            );
        }
    }
    let command_line: Vec<&str> = configuration["command_line"]
        .as_array()
        .expect("command_line array")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    let at = command_line
        .iter()
        .position(|&arg| arg == "--os-password")
        .expect("--os-password kept");
    assert_eq!(command_line[at + 1], "***");
    let environment = configuration["environment"]
        .as_array()
        .expect("environment");
    assert!(
        environment
            .iter()
            .any(|v| v["name"] == "OS_AUTH_URL" && v["value"] == "http://ctl:5000/v3"),
        "{configuration}"
    );
}

/// The text Configuration section has oslo's layout.
fn check_text(text: &str) {
    for line in [
        "  DEFAULT:",
        "    debug = True",
        "    transport_url = rabbit://openstack:***@ctl:5672/",
        "  keystone_authtoken:",
        "    auth_url = http://ctl:5000/v3",
        "    password = ***",
        "  parse error: expected `name = value` or `name: value` (line 6)",
        "command line:",
        "environment:",
        "  OS_AUTH_URL = http://ctl:5000/v3",
        "  OS_PASSWORD = ***",
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line {line:?} in the text report:\n{text}"
        );
    }
}
