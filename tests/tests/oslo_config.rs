//! The live oslo.config options against oslo's own lookup, on every
//! CPython 3.9 to 3.13 (pyenv, with PyPI's current oslo.config installed
//! by pip into `target/pydeps/<interpreter>--oslo.config` once) and the
//! system's python3 with Debian's python3-oslo.config.
//!
//! `fixtures/python/oslo_service.py` registers options in two groups,
//! parses a file with four planted secrets (one under a secret option's
//! deprecated name; a fifth is a secret option's default, which another
//! option's `$database.db_secret` names), a misspelt option, an option set by its deprecated
//! name and an unregistered group, is given a command-line option, an environment
//! value and an override, reads two options (so oslo caches them), makes
//! a second, larger `ConfigOpts` as a library may, and prints
//! `ConfigOpts._do_get` of every option of `CONF`. The file is then edited.
//! `gmr-agent report` must show every option, every value not masked
//! equal to oslo's, the source of each kind of value, both unregistered
//! options, a note on the edited file, and no planted secret in the text
//! or the JSON.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use gmr_tests::agent::{report_json, run_agent, section};
use gmr_tests::python::{pip_packages, python_interpreters};
use gmr_tests::scratch::Scratch;
use gmr_tests::{require_root, workspace_root};
use serde_json::Value;

/// What the file sets; `max_pool` is edited once the service runs.
const FILE: &str = "[DEFAULT]
host = myhost
workers = 8
debug_mode = yes
hosts = x, y ,z
admin_password = PlantedSecretOne
service_token = PlantedSecretTwo
multi = one
multi = two
mapping = k1:v1,k2:v2
wrokers = 3
old_name = fromold
legacy_vault = PlantedSecretFour

[database]
connection = mysql+pymysql://nova:PlantedSecretThree@db/nova
max_pool = 9

[nosuchgroup]
foo = bar
";

/// Secrets the report must never show.
const SECRETS: [&str; 6] = [
    "PlantedSecretFive",
    "PlantedSecretOne",
    "PlantedSecretFour",
    "PlantedSecretTwo",
    "PlantedSecretThree",
    "PlantedDefaultSecret",
];

/// A `PYTHONPATH` holding oslo.config for `python`: none needed for the
/// system's python3 with Debian's package, else pip's install, made once.
fn oslo_config_path(python: &Path, label: &str) -> Option<Option<PathBuf>> {
    if python == Path::new("/usr/bin/python3") {
        let debian = Path::new("/usr/lib/python3/dist-packages/oslo_config/cfg.py").exists();
        if !debian {
            println!("SKIP: {label}: python3-oslo.config is not installed");
        }
        return debian.then_some(None);
    }
    pip_packages(
        python,
        &format!("{label}--oslo.config"),
        label,
        &["oslo.config"],
    )
    .map(Some)
}

#[test]
fn live_options_match_oslos_own_lookup() {
    if !require_root() {
        return;
    }
    let fixture = workspace_root().join("tests/fixtures/python/oslo_service.py");
    let mut tested = 0;
    for python in python_interpreters() {
        let label = python
            .path
            .display()
            .to_string()
            .trim_start_matches('/')
            .replace('/', "-");
        let Some(path) = oslo_config_path(&python.path, &label) else {
            continue;
        };
        let scratch = Scratch::new("oslo-config");
        let file = scratch.path().join("service.conf");
        std::fs::write(&file, FILE).expect("write the file");
        let mut command = Command::new(&python.path);
        command
            .arg(&fixture)
            .arg("--config-file")
            .arg(&file)
            .args(["--cliopt", "fromcli"])
            .env("OS_DATABASE__BACKEND", "fromenv")
            .stdout(Stdio::piped());
        if let Some(path) = &path {
            command.env("PYTHONPATH", path);
        }
        let mut child = command.spawn().expect("start the fixture");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let oslo: Value = serde_json::from_str(&lines.next().expect("a line").expect("stdout"))
            .expect("the fixture's JSON");
        let pid = child.id();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        std::fs::write(&file, FILE.replace("max_pool = 9", "max_pool = 10")).expect("edit");
        let report = report_json(pid);
        let text = run_agent(&["report", "--pid", &pid.to_string(), "--format", "text"]);
        let _ = child.kill();
        let _ = child.wait();
        let text = String::from_utf8_lossy(&text.stdout).into_owned();
        check(&label, &report, &text, &oslo, &file);
        tested += 1;
    }
    if tested == 0 {
        println!("SKIP: no interpreter with oslo.config");
    }
}

/// Compares one report with what oslo printed.
#[track_caller]
fn check(label: &str, report: &Value, text: &str, oslo: &Value, file: &Path) {
    let configuration = section(report, "Configuration");
    let live = &configuration["live"];
    assert!(
        live.is_object(),
        "{label}: no live options: {}",
        configuration["live_error"]
    );
    let option = |group: &str, name: &str| -> &Value {
        live["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .find(|g| g["name"] == group)
            .and_then(|g| {
                g["options"]
                    .as_array()
                    .expect("options")
                    .iter()
                    .find(|o| o["name"] == name)
            })
            .unwrap_or_else(|| panic!("{label}: [{group}] {name} not shown: {live}"))
    };
    let (mut shown, mut equal, mut masked) = (0, 0, 0);
    for (group, options) in oslo.as_object().expect("groups") {
        for (name, value) in options.as_object().expect("options") {
            let option = option(group, name);
            shown += 1;
            let gmr = option["value"].as_str().expect("a value");
            if gmr.contains("***") {
                masked += 1;
                continue;
            }
            assert_eq!(
                gmr,
                value.as_str().expect("str"),
                "{label}: [{group}] {name} ({})",
                option["source"]
            );
            equal += 1;
        }
    }
    let source = |group: &str, name: &str| {
        let option = option(group, name);
        (
            option["source"].as_str().unwrap_or("").to_owned(),
            option["used"] == true,
        )
    };
    let path = file.display();
    assert_eq!(
        source("DEFAULT", "host"),
        (format!("file {path}:2"), true),
        "{label}"
    );
    assert_eq!(
        source("DEFAULT", "ratio"),
        ("override".to_owned(), false),
        "{label}"
    );
    assert_eq!(
        source("DEFAULT", "cliopt"),
        ("command line".to_owned(), false),
        "{label}"
    );
    assert_eq!(
        source("DEFAULT", "timeout"),
        ("default".to_owned(), false),
        "{label}"
    );
    assert_eq!(
        source("database", "backend"),
        ("environment OS_DATABASE__BACKEND".to_owned(), false),
        "{label}"
    );
    assert!(
        source("database", "max_pool").1,
        "{label}: max_pool was read, so cached"
    );
    let typos: Vec<(&str, &str)> = live["unregistered"]
        .as_array()
        .expect("unregistered")
        .iter()
        .map(|o| {
            (
                o["group"].as_str().unwrap_or(""),
                o["name"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        typos,
        [("DEFAULT", "wrokers"), ("nosuchgroup", "foo")],
        "{label}"
    );
    let notes = live["notes"].to_string();
    assert!(
        notes.contains("modified after the process started"),
        "{label}: {notes}"
    );
    assert!(
        notes.contains("2 ConfigOpts objects in the process; shown: oslo_config.cfg.CONF"),
        "{label}: the global CONF is shown, not the larger second one: {notes}"
    );
    let edited = configuration["files"]
        .as_array()
        .expect("files")
        .iter()
        .find(|f| f["path"] == file.display().to_string())
        .unwrap_or_else(|| panic!("{label}: {} not among the files", file.display()));
    assert_eq!(edited["modified_after_start"], true, "{label}: {edited}");
    assert!(
        text.contains("note: modified after the process started"),
        "{label}: {text}"
    );
    assert!(
        text.contains("oslo.config options of the running process"),
        "{label}: {text}"
    );
    let json = report.to_string();
    for secret in SECRETS {
        assert!(
            !json.contains(secret),
            "{label}: {secret} leaked in the JSON report"
        );
        assert!(
            !text.contains(secret),
            "{label}: {secret} leaked in the text report"
        );
    }
    assert_eq!(
        masked, 6,
        "{label}: admin_password, vault_key and db_secret (oslo's secret), service_token and connection (gmr's rules), dsn (holds db_secret)"
    );
    let instances = option("DEFAULT", "instances_path")["value"]
        .as_str()
        .unwrap_or("");
    assert_eq!(
        instances, "/var/lib/gmrtest/instances",
        "{label}: $state_path substituted"
    );
    println!(
        "{label}: {shown} options shown, {equal} values equal to oslo's, {masked} masked, 0 of {} secrets leaked",
        SECRETS.len()
    );
}
