//! Tests of the Configuration section on real processes: a Python child
//! that names files and carries secrets, the secrets corpus of
//! `tests/fixtures/secrets`, and (as root) a file only visible in the
//! child's own mount namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::model::{Report, Section, SectionData, Target, Trigger, TriggerKind};
use crate::test_support::Reaped;
use crate::view::{render_json, render_text, render_yaml};

/// Python code that just waits, so the child keeps its argv and environment.
const SLEEP: &str = "import time; time.sleep(600)";

/// A scratch directory, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("gmr-configuration-{label}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create scratch dir");
        Self(path)
    }

    fn write(&self, name: &str, text: &str) {
        let path = self.0.join(name);
        fs::create_dir_all(path.parent().expect("parent")).expect("create dirs");
        fs::write(path, text).expect("write scratch file");
    }

    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// True when python3 runs; else prints why the test is skipped.
fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    if !found {
        println!("SKIP: python3 is not installed");
    }
    found
}

/// Waits until process `pid` runs Python itself: not yet a shell that will
/// exec it, nor a pyenv shim (a script) that re-executes it.
fn wait_for_python(pid: u32) {
    let exe = format!("/proc/{pid}/exe");
    let started = Instant::now();
    while !fs::read_link(&exe).is_ok_and(|path| {
        path.file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with("python"))
    }) {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "process {pid} never ran python"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `python3 -c SLEEP ARGS…` in `cwd` with exactly `env`.
fn spawn_python(args: &[String], env: &[(String, String)], cwd: &Path) -> Reaped {
    let child = Command::new("python3")
        .arg("-c")
        .arg(SLEEP)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .spawn()
        .expect("start python3");
    let child = Reaped(child);
    wait_for_python(child.0.id());
    child
}

/// The file entry for `path`.
fn file<'a>(configuration: &'a Configuration, path: &str) -> &'a ConfigFile {
    configuration
        .files
        .iter()
        .find(|f| f.path == path)
        .unwrap_or_else(|| panic!("{path} missing from {:#?}", configuration.files))
}

/// The value of option `name` in `group` of `file`.
fn value<'a>(file: &'a ConfigFile, group: &str, name: &str) -> &'a str {
    file.groups
        .iter()
        .find(|g| g.name == group)
        .and_then(|g| g.options.iter().find(|o| o.name == name))
        .map(|o| o.value.as_str())
        .unwrap_or_else(|| panic!("no {group}.{name} in {file:#?}"))
}

/// A report holding only `configuration`, for rendering it in every format.
fn report_of(pid: u32, configuration: Configuration) -> Report {
    Report {
        target: Target {
            pid,
            comm: "python3".to_owned(),
            exe: None,
        },
        trigger: Trigger {
            kind: TriggerKind::Request,
            signal: None,
            delivery: None,
            file: None,
            requester: None,
        },
        generated_at: "2026-01-01T00:00:00.000000Z".to_owned(),
        freeze: None,
        sections: vec![Section {
            title: TITLE.to_owned(),
            body: Ok(SectionData::Configuration(configuration)),
        }],
    }
}

#[test]
fn formats_from_names_and_contents() {
    assert_eq!(
        format_from_name("/etc/nova/nova.conf"),
        Some(ConfigFormat::Ini)
    );
    assert_eq!(format_from_name("a.CFG"), Some(ConfigFormat::Ini));
    assert_eq!(format_from_name("x.yml"), Some(ConfigFormat::Yaml));
    assert_eq!(format_from_name("x.toml"), Some(ConfigFormat::Toml));
    assert_eq!(format_from_name("x.json"), Some(ConfigFormat::Json));
    assert_eq!(format_from_name("/etc/hostname"), None);
    assert_eq!(sniff("# c\n{\"a\": 1}"), ConfigFormat::Json);
    assert_eq!(sniff("---\na: 1"), ConfigFormat::Yaml);
    assert_eq!(sniff("database:\n  url: x"), ConfigFormat::Yaml);
    assert_eq!(sniff("url: http://x"), ConfigFormat::Yaml);
    assert_eq!(sniff("[DEFAULT]\na: 1"), ConfigFormat::Ini);
    assert_eq!(sniff("url = http://x:1"), ConfigFormat::Ini);
    assert_eq!(sniff("user www-data;"), ConfigFormat::Ini);
    assert_eq!(sniff(""), ConfigFormat::Ini);
}

#[test]
fn unparsable_file_is_shown_raw_and_masked() {
    let text = "[DEFAULT]\npassword = Hidden-1\nnot an option\n";
    let shown = config_file(
        "/etc/x.conf".to_owned(),
        FoundBy::CommandLine,
        Ok(Contents {
            text: text.to_owned(),
            truncated: false,
        }),
    );
    assert_eq!(shown.format, ConfigFormat::Ini);
    assert!(shown.groups.is_empty());
    assert_eq!(
        shown.error.as_deref(),
        Some("parse error: expected `name = value` or `name: value` (line 3)")
    );
    assert_eq!(
        shown.raw,
        Some(vec![
            "[DEFAULT]".to_owned(),
            "password = ***".to_owned(),
            "not an option".to_owned(),
        ])
    );
    let long = "not an option\n".repeat(MAX_RAW_LINES + 5);
    let shown = config_file(
        "/etc/x.conf".to_owned(),
        FoundBy::CommandLine,
        Ok(Contents {
            text: long,
            truncated: true,
        }),
    );
    assert!(shown.truncated);
    assert_eq!(shown.raw.map(|raw| raw.len()), Some(MAX_RAW_LINES));
    let error = shown.error.expect("error");
    assert!(
        error.ends_with("; showing the first 500 of 505 lines"),
        "{error}"
    );
    let unreadable = config_file(
        "/etc/y".to_owned(),
        FoundBy::CommandLine,
        Err("cannot open /etc/y: x".to_owned()),
    );
    assert_eq!(unreadable.format, ConfigFormat::Unknown);
    assert_eq!(unreadable.error.as_deref(), Some("cannot open /etc/y: x"));
}

#[test]
fn nonexistent_process() {
    assert_eq!(
        configuration(u32::MAX, &[]).expect_err("no such process"),
        "process 4294967295 does not exist"
    );
}

#[test]
fn real_process_files_and_environment() {
    if !have_python() {
        return;
    }
    let scratch = Scratch::new("real");
    scratch.write(
        "etc/nova.conf",
        "[keystone_authtoken]\nauth_url = http://ctl:5000/v3\npassword = Hidden-1\n\
         [DEFAULT]\ndebug = True\ntransport_url = rabbit://openstack:Hidden-2@ctl:5672/\n",
    );
    scratch.write("etc/conf.d/20-b.conf", "[b]\nx = 2\n");
    scratch.write("etc/conf.d/10-a.conf", "[a]\nx = 1\n");
    scratch.write("etc/conf.d/.hidden.conf", "[hidden]\nx = 0\n");
    scratch.write("etc/app.yaml", "db:\n  password: Hidden-3\n  host: db\n");
    scratch.write("etc/broken.conf", "[DEFAULT]\ntoken = Hidden-4\noops\n");
    scratch.write(
        "extra.toml",
        "[x]\napi_key = \"Hidden-5\"\nregion = \"r1\"\n",
    );
    let args: Vec<String> = [
        "--config-file",
        "etc/nova.conf",
        "--config-dir",
        "etc/conf.d",
        "--config-file=/nonexistent/gmr/missing.conf",
        "etc/app.yaml",
        "--os-password",
        "Hidden-6",
        "etc/broken.conf",
    ]
    .iter()
    .map(|a| (*a).to_owned())
    .collect();
    let env = [
        ("OS_PASSWORD", "Hidden-7"),
        ("DATABASE_URL", "postgres://app:Hidden-8@db/app"),
        ("OS_AUTH_URL", "http://ctl:5000/v3"),
    ]
    .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let child = spawn_python(&args, &env, &scratch.0);
    let pid = child.0.id();
    let extra = [PathBuf::from(scratch.path("extra.toml"))];
    let configuration = configuration(pid, &extra).expect("configuration");

    let paths: Vec<&str> = configuration
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let expected = [
        scratch.path("etc/nova.conf"),
        scratch.path("etc/conf.d/10-a.conf"),
        scratch.path("etc/conf.d/20-b.conf"),
        "/nonexistent/gmr/missing.conf".to_owned(),
        scratch.path("etc/app.yaml"),
        scratch.path("etc/broken.conf"),
        scratch.path("extra.toml"),
    ];
    assert_eq!(
        paths,
        expected.iter().map(String::as_str).collect::<Vec<_>>()
    );

    let nova = file(&configuration, &expected[0]);
    assert_eq!(nova.format, ConfigFormat::Ini);
    let groups: Vec<&str> = nova.groups.iter().map(|g| g.name.as_str()).collect();
    assert_eq!(groups, ["DEFAULT", "keystone_authtoken"]);
    assert_eq!(value(nova, "DEFAULT", "debug"), "True");
    assert_eq!(
        value(nova, "DEFAULT", "transport_url"),
        "rabbit://openstack:***@ctl:5672/"
    );
    assert_eq!(
        value(nova, "keystone_authtoken", "auth_url"),
        "http://ctl:5000/v3"
    );
    assert_eq!(value(nova, "keystone_authtoken", "password"), "***");
    let missing = file(&configuration, "/nonexistent/gmr/missing.conf");
    assert_eq!(
        missing.error.as_deref(),
        Some("cannot open /nonexistent/gmr/missing.conf: no such file or directory")
    );
    let yaml = file(&configuration, &expected[4]);
    assert_eq!(value(yaml, "db", "password"), "***");
    assert_eq!(value(yaml, "db", "host"), "db");
    let broken = file(&configuration, &expected[5]);
    assert!(
        broken
            .error
            .as_deref()
            .is_some_and(|e| e.contains("(line 3)"))
    );
    assert_eq!(
        broken.raw.as_deref(),
        Some(
            &[
                "[DEFAULT]".to_owned(),
                "token = ***".to_owned(),
                "oops".to_owned()
            ][..]
        )
    );
    let extra = file(&configuration, &expected[6]);
    assert_eq!(value(extra, "x", "api_key"), "***");
    assert_eq!(value(extra, "x", "region"), "r1");

    // argv[0] is whatever python3 resolves to (a pyenv shim re-executes).
    assert_eq!(configuration.command_line[1..3], ["-c", SLEEP]);
    assert_eq!(configuration.command_line[9..11], ["--os-password", "***"]);
    let environment: Vec<(&str, &str)> = configuration
        .environment
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    // Command passes the environment sorted by name.
    assert_eq!(
        environment,
        [
            ("DATABASE_URL", "postgres://app:***@db/app"),
            ("OS_AUTH_URL", "http://ctl:5000/v3"),
            ("OS_PASSWORD", "***"),
        ]
    );
    let json = serde_json::to_string(&configuration).expect("serializes");
    for n in 1..=8 {
        assert!(
            !json.contains(&format!("Hidden-{n}")),
            "Hidden-{n} leaked: {json}"
        );
    }
}

/// Lines of a corpus file that are not comments or blank.
fn corpus_lines(corpus: &Path, name: &str) -> Vec<String> {
    let path = corpus.join(name);
    fs::read_to_string(&path)
        .unwrap_or_else(|error| panic!("read {}: {error}", path.display()))
        .lines()
        .filter(|line| !line.trim().is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn corpus_secrets_never_reach_a_report() {
    if !have_python() {
        return;
    }
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/secrets");
    let corpus = corpus.canonicalize().expect("corpus directory");
    let dir = corpus.to_string_lossy();
    let secrets = corpus_lines(&corpus, "secrets.txt");
    let visible = corpus_lines(&corpus, "visible.txt");
    assert!(
        secrets.len() >= 40,
        "the corpus has {} secrets",
        secrets.len()
    );
    let args: Vec<String> = corpus_lines(&corpus, "arguments")
        .iter()
        .map(|arg| arg.replace("{dir}", &dir))
        .collect();
    let env: Vec<(String, String)> = corpus_lines(&corpus, "environment")
        .iter()
        .map(|line| {
            let (name, value) = line.split_once('=').expect("NAME=value");
            (name.to_owned(), value.to_owned())
        })
        .collect();
    let child = spawn_python(&args, &env, &corpus);
    let pid = child.0.id();
    let configuration = configuration(pid, &[]).expect("configuration");
    assert_eq!(configuration.files.len(), 9, "{:#?}", configuration.files);
    for file in &configuration.files {
        let broken = file.path.contains("broken");
        assert_eq!(file.raw.is_some(), broken, "{file:#?}");
        assert_eq!(file.error.is_some(), broken, "{file:#?}");
    }
    let report = report_of(pid, configuration);
    for (format, output) in [
        ("text", render_text(&report)),
        ("json", render_json(&report)),
        ("yaml", render_yaml(&report)),
    ] {
        for secret in &secrets {
            assert!(
                !output.contains(secret.as_str()),
                "{secret} leaked into the {format} report:\n{output}"
            );
        }
        for value in &visible {
            assert!(
                output.contains(value.as_str()),
                "{value} missing from the {format} report:\n{output}"
            );
        }
    }
}

#[test]
fn files_in_another_mount_namespace() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        println!("SKIP: needs root to make a mount namespace");
        return;
    }
    if !have_python() {
        return;
    }
    let scratch = Scratch::new("mntns");
    let mount_point = scratch.path("private");
    fs::create_dir(&mount_point).expect("mount point");
    // The file exists only on a tmpfs mounted inside the child's namespace.
    let script = format!(
        "mount -t tmpfs gmr-test {mount_point} && \
         printf '[DEFAULT]\\nonly_in_namespace = yes\\n' > {mount_point}/ns.conf && \
         exec python3 -c '{SLEEP}' --config-file {mount_point}/ns.conf"
    );
    let spawned = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdin(Stdio::null())
        .spawn();
    let Ok(child) = spawned else {
        println!("SKIP: unshare is not installed");
        return;
    };
    let child = Reaped(child);
    let pid = child.0.id();
    wait_for_python(pid);
    let path = format!("{mount_point}/ns.conf");
    assert!(
        !Path::new(&path).exists(),
        "the file leaked into the test's namespace"
    );
    let configuration = configuration(pid, &[]).expect("configuration");
    let ns = file(&configuration, &path);
    assert_eq!(value(ns, "DEFAULT", "only_in_namespace"), "yes");
}
