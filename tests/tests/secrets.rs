//! Secrets never reach a report. A real process runs with the secrets
//! corpus (`tests/fixtures/secrets`) in its configuration files (oslo INI,
//! YAML, TOML, JSON, and nginx, apache, haproxy, `key value`, `.pgpass` and
//! netrc files shown line by line), its command line and its environment,
//! and the agent's configuration adds a custom `file:` and `command:`
//! section showing corpus files; the real agent's report on it, in every
//! format and every sink (`report --pid` on stdout, and a running agent's
//! report files and the copy on the target's own stderr), and the agent's
//! log, must hold none of the corpus's secrets (`secrets.txt`) and every
//! value that is not one (`visible.txt`).

use std::{
    collections::HashSet,
    fs,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use gmr_tests::{
    TestCgroup,
    agent::{RunningAgent, files_for, run_agent, section},
    agent_config::{AgentConfig, Section, Tag},
    require_root,
    scratch::Scratch,
    workspace_root,
};
use serde_json::Value;

/// Python code that just waits, keeping its argv and environment.
const SLEEP: &str = "import time; time.sleep(600)";

/// How long Python may take to start (a pyenv shim re-executes it).
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Files of the corpus besides the manifests: the configuration files the
/// command line names, then those the tag's `config_files` add, in the
/// order the report lists them, with the format each is labelled.
const CONFIG_FILES: &[(&str, &str)] = &[
    ("nova.conf", "ini"),
    ("nova.conf.d/10-messaging.conf", "ini"),
    ("nova.conf.d/20-database.conf", "ini"),
    ("service.yaml", "yaml"),
    ("app.toml", "toml"),
    ("app.json", "json"),
    ("broken.conf", "ini"),
    ("broken.yaml", "yaml"),
    ("broken.toml", "toml"),
    ("nginx.conf", "nginx"),
    ("apache2.conf", "apache"),
    ("haproxy.cfg", "haproxy"),
    ("redis.conf", "key-value"),
    ("nslcd.conf", "key-value"),
    ("pgpass", "pgpass"),
    ("netrc", "netrc"),
];

/// The formats the report shows as groups and options; the others are
/// shown line by line.
const PARSED_FORMATS: &[&str] = &["ini", "yaml", "toml", "json"];

/// The agent configuration: a tag on `cgroup` adding the corpus's
/// `.pgpass` and netrc files to the Configuration section, a custom `file:`
/// section with a `key value` file and a `command:` section printing one.
fn agent_config(cgroup: &Path, dir: &Path) -> AgentConfig {
    let tag = Tag::cgroup(cgroup)
        .name("secrets")
        .config_file(&dir.join("pgpass"))
        .config_file(&dir.join("netrc"))
        .section(Section::file("Redis File", &dir.join("redis.conf")))
        .section(
            Section::command(
                "Directory Settings",
                &["cat", dir.join("nslcd.conf").to_str().unwrap()],
            )
            .timeout_seconds(5.0),
        );
    AgentConfig::new()
        .formats(&["json", "yaml"])
        .min_interval_seconds(0.0)
        .tag(tag)
}

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
        let names = CONFIG_FILES.iter().map(|(name, _)| *name);
        for name in names.chain(["arguments", "environment"]) {
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

/// `python3 -c SLEEP <corpus arguments>` with the corpus environment, in a
/// cgroup of its own, killed when dropped.
struct Python {
    child: Child,
    cgroup: TestCgroup,
}

impl Python {
    /// Starts Python with its stderr going to `stderr`.
    fn spawn(corpus: &Corpus, stderr: Stdio) -> Self {
        let child = Command::new("python3")
            .arg("-c")
            .arg(SLEEP)
            .args(&corpus.arguments)
            .env_clear()
            .envs(corpus.environment.iter().map(|(k, v)| (k, v)))
            .current_dir(&corpus.dir)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("start python3");
        let cgroup = TestCgroup::create();
        cgroup.add_process(child.id());
        let python = Self { child, cgroup };
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
        self.child.id()
    }
}

impl Drop for Python {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Panics when `output` (a report or log, named `what`) holds a corpus
/// secret, or, when `complete`, misses a value that is not one.
#[track_caller]
fn check_output(corpus: &Corpus, what: &str, output: &str, complete: bool) {
    for secret in &corpus.secrets {
        assert!(
            !output.contains(secret.as_str()),
            "{secret} leaked into {what}:\n{output}"
        );
    }
    if complete {
        for value in &corpus.visible {
            assert!(
                output.contains(value.as_str()),
                "{value} is missing from {what}:\n{output}"
            );
        }
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
    let python = Python::spawn(&corpus, Stdio::null());
    let pid = python.pid().to_string();
    let scratch = Scratch::new("secrets-report");
    let config = agent_config(python.cgroup.path(), &corpus.dir).write(scratch.path());
    let config = config.to_string_lossy();
    for format in ["json", "text", "yaml"] {
        let out = run_agent(&[
            "report", "--pid", &pid, "--config", &config, "--format", format,
        ]);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "gmr-agent report --pid {pid} --format {format} failed: {stderr}"
        );
        check_output(&corpus, &format!("the {format} report"), &stdout, true);
        check_output(&corpus, "the agent's log", &stderr, false);
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

#[test]
fn every_sink_of_a_running_agent_holds_no_corpus_secret() {
    if !require_root() {
        return;
    }
    let corpus = Corpus::load();
    let scratch = Scratch::new("secrets-agent");
    let stderr_copy = scratch.path().join("target-stderr");
    let stderr = fs::File::create(&stderr_copy).expect("create the target's stderr file");
    let python = Python::spawn(&corpus, Stdio::from(stderr));
    let reports = scratch.path().join("reports");
    let agent = RunningAgent::with_config(
        scratch.path(),
        &agent_config(python.cgroup.path(), &corpus.dir),
        &["--report-dir", &reports.to_string_lossy()],
    );
    let answer = agent.trigger("secrets");
    let files = files_for(&answer, python.pid());
    for extension in ["txt", "json", "yaml"] {
        let path = files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == extension))
            .unwrap_or_else(|| panic!("no .{extension} report among {files:?}"));
        let text = fs::read_to_string(path)
            .unwrap_or_else(|error| panic!("read {}: {error}", path.display()));
        check_output(&corpus, &format!("{}", path.display()), &text, true);
        if extension == "json" {
            check_json(&corpus, &serde_json::from_str(&text).expect("JSON report"));
        }
    }
    let copy = fs::read_to_string(&stderr_copy).expect("read the target's stderr");
    assert!(
        copy.contains("Configuration"),
        "no report on the target's stderr:\n{copy}"
    );
    check_output(&corpus, "the target's stderr copy", &copy, true);
    check_text(&copy);
    check_output(&corpus, "the agent's log", &agent.log(), false);
}

/// The JSON Configuration section lists every file, parsed or raw.
fn check_json(corpus: &Corpus, report: &Value) {
    let configuration = section(report, "Configuration");
    let files = configuration["files"].as_array().expect("files array");
    let paths: Vec<&str> = files.iter().filter_map(|f| f["path"].as_str()).collect();
    let expected: Vec<String> = CONFIG_FILES
        .iter()
        .map(|(name, _)| corpus.dir.join(name).to_string_lossy().into_owned())
        .collect();
    assert_eq!(paths, expected);
    for (file, (name, format)) in files.iter().zip(CONFIG_FILES) {
        assert_eq!(file["format"], *format, "{name} labelled: {file}");
        let broken = name.contains("broken");
        if !PARSED_FORMATS.contains(format) {
            assert!(file["error"].is_null(), "{file}");
            assert!(
                file["raw"].as_array().is_some_and(|raw| !raw.is_empty()),
                "{file}"
            );
        } else if broken {
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

/// The text Configuration section has oslo's layout, and the files shown
/// line by line keep their directives with the secrets masked.
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
    for directive in [
        "requirepass ***",
        "masterauth ***",
        "user alice on >*** ~cached:* +get",
        "SetEnv DB_PASSWORD ***",
        "stats auth admin:***",
        "set $api_token ***;",
        "bindpw ***",
        "127.0.0.1:5432:app:alice:***",
        "machine api.example.com login bob password ***",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == directive),
            "no line {directive:?} in the text report:\n{text}"
        );
    }
}
