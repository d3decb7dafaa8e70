//! Tests of the Configuration section on real processes: a Python child
//! that names files and carries secrets, the secrets corpus of
//! `tests/fixtures/secrets`, and (as root) a file only visible in the
//! child's own mount namespace.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::*;
use crate::model::{Report, ReportTime, Section, SectionData, Target, Trigger};
use crate::test_support::Reaped;
use crate::view::{render_json, render_text, render_yaml};
use gmr_tests::scratch::Scratch;

/// Python code that just waits, so the child keeps its argv and environment.
const SLEEP: &str = "import time; time.sleep(600)";

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
            ns_pid: Some(pid),
            pid_namespace: None,
            container_id: None,
            pod: None,
            comm: "python3".to_owned(),
            exe: None,
        },
        trigger: Trigger::Request { requester: None },
        generated_at: ReportTime::from(
            std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_767_225_600),
        ),
        freeze: None,
        sections: vec![Section {
            title: TITLE.to_owned(),
            body: Ok(SectionData::Configuration(configuration)),
        }],
    }
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
    let long = format!("[DEFAULT]\n{}", "not an option\n".repeat(MAX_RAW_LINES + 4));
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
    assert_eq!(shown.raw_omitted, 5);
    assert!(shown.error.is_some_and(|e| e.starts_with("parse error: ")));
    let unreadable = config_file(
        "/etc/y".to_owned(),
        FoundBy::CommandLine,
        Err("cannot open /etc/y: x".to_owned()),
    );
    assert_eq!(unreadable.format, ConfigFormat::Unknown);
    assert_eq!(unreadable.error.as_deref(), Some("cannot open /etc/y: x"));
}

#[test]
fn parse_errors_keep_their_words_and_hide_quoted_text() {
    for (path, text) in [
        ("/etc/x.yaml", "a: 1\nb: \"open\n\tpassword: Hidden-1\n"),
        ("/etc/x.toml", "token = \"Hidden-2\"\n[[x]\n"),
        ("/etc/x.json", "{\"token\": \"Hidden-3\" \"x\"}"),
    ] {
        let shown = config_file(
            path.to_owned(),
            FoundBy::CommandLine,
            Ok(Contents {
                text: text.to_owned(),
                truncated: false,
            }),
        );
        let error = shown.error.expect("a parse error");
        assert!(error.starts_with("parse error: "), "{error}");
        assert!(!error.contains("Hidden-"), "{error}");
        let raw = shown.raw.expect("lines").join("\n");
        assert!(!raw.contains("Hidden-"), "{raw}");
    }
}

#[test]
fn nonexistent_process() {
    assert_eq!(
        configuration(&ReportContext::read(u32::MAX), &[], &Mutex::default())
            .expect_err("no such process"),
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
    let child = spawn_python(&args, &env, scratch.path());
    let pid = child.0.id();
    let extra = [PathBuf::from(scratch.path_of("extra.toml"))];
    let configuration =
        configuration(&ReportContext::read(pid), &extra, &Mutex::default()).expect("configuration");

    let paths: Vec<&str> = configuration
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let expected = [
        scratch.path_of("etc/nova.conf"),
        scratch.path_of("etc/conf.d/10-a.conf"),
        scratch.path_of("etc/conf.d/20-b.conf"),
        "/nonexistent/gmr/missing.conf".to_owned(),
        scratch.path_of("etc/app.yaml"),
        scratch.path_of("etc/broken.conf"),
        scratch.path_of("extra.toml"),
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
    let configuration =
        configuration(&ReportContext::read(pid), &[], &Mutex::default()).expect("configuration");
    assert_eq!(configuration.files.len(), 14, "{:#?}", configuration.files);
    for file in &configuration.files {
        let broken = file.path.contains("broken");
        let line_by_line = broken || !file.format.is_parsed();
        assert_eq!(file.raw.is_some(), line_by_line, "{file:#?}");
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
    if rustix::process::geteuid().as_raw() != 0 {
        println!("SKIP: needs root to make a mount namespace");
        return;
    }
    if !have_python() {
        return;
    }
    let scratch = Scratch::new("mntns");
    let mount_point = scratch.path_of("private");
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
    let configuration =
        configuration(&ReportContext::read(pid), &[], &Mutex::default()).expect("configuration");
    let ns = file(&configuration, &path);
    assert_eq!(value(ns, "DEFAULT", "only_in_namespace"), "yes");
}

/// A real configuration file shipped by a Debian package, and the secrets
/// planted into a copy of it.
struct RealFile {
    /// Where the package installs it.
    path: &'static str,
    /// The package, named when the file is missing.
    package: &'static str,
    /// The label the report must give it.
    format: ConfigFormat,
    /// The line after which the secrets go (its first occurrence), or
    /// `None` for the end of the file.
    after: Option<&'static str>,
    /// Lines holding the secrets, each secret a word starting `Planted`.
    planted: &'static [&'static str],
}

/// Debian's default files of daemons whose formats gmr does not parse.
const REAL_FILES: &[RealFile] = &[
    RealFile {
        path: "/etc/nginx/nginx.conf",
        package: "nginx-common",
        format: ConfigFormat::Nginx,
        after: Some("http {"),
        planted: &[
            "\tproxy_set_header Authorization \"Basic PlantedNginx1\";",
            "\tset $api_token PlantedNginx2;",
            "\tfastcgi_param DB_PASSWORD PlantedNginx3;",
        ],
    },
    RealFile {
        path: "/etc/nginx/sites-available/default",
        package: "nginx-common",
        format: ConfigFormat::Nginx,
        after: Some("server {"),
        planted: &["\tauth_basic_password PlantedNginx4;"],
    },
    RealFile {
        path: "/etc/nginx/fastcgi_params",
        package: "nginx-common",
        format: ConfigFormat::Nginx,
        after: None,
        planted: &["fastcgi_param  APP_SECRET  PlantedNginx5;"],
    },
    RealFile {
        path: "/etc/apache2/apache2.conf",
        package: "apache2",
        format: ConfigFormat::Apache,
        after: Some("<Directory /var/www/>"),
        planted: &[
            "\tSetEnv DB_PASSWORD PlantedApache1",
            "\tAuthLDAPBindPassword \"Planted Apache 2\"",
            "\tSetEnvIf Request_URI ^/x APP_TOKEN=PlantedApache3",
        ],
    },
    RealFile {
        path: "/etc/apache2/sites-available/000-default.conf",
        package: "apache2",
        format: ConfigFormat::Apache,
        after: Some("<VirtualHost *:80>"),
        planted: &["\tSetEnv SECRET_KEY PlantedApache4"],
    },
    RealFile {
        path: "/etc/apache2/envvars",
        package: "apache2",
        format: ConfigFormat::Apache,
        after: None,
        planted: &["export APACHE_DB_PASSWORD=PlantedApache5"],
    },
    RealFile {
        path: "/etc/haproxy/haproxy.cfg",
        package: "haproxy",
        format: ConfigFormat::Haproxy,
        after: Some("defaults"),
        planted: &[
            "\tstats auth admin:PlantedHaproxy1",
            "userlist admins",
            "\tuser admin insecure-password PlantedHaproxy2",
            "\tuser ops password $6$PlantedHaproxy3",
            "defaults",
        ],
    },
    RealFile {
        path: "/etc/redis/redis.conf",
        package: "redis-server",
        format: ConfigFormat::KeyValue,
        after: None,
        planted: &[
            "requirepass PlantedRedis1",
            "masterauth \"PlantedRedis2 x\"",
            "user alice on >PlantedRedis3 ~cached:* +get",
        ],
    },
    RealFile {
        path: "/etc/nslcd.conf",
        package: "nslcd",
        format: ConfigFormat::KeyValue,
        after: None,
        planted: &["bindpw PlantedNslcd1"],
    },
];

/// Most lines of a real file's settings the rules may hide beyond the
/// planted ones.
const MAX_OVERMASKED: usize = 2;

/// `text` with `planted` inserted after the first line equal (trimmed) to
/// `after`, or appended.
fn plant(text: &str, after: Option<&str>, planted: &[&str]) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    let at = after
        .and_then(|after| lines.iter().position(|line| line.trim() == after))
        .map_or(lines.len(), |at| at + 1);
    lines.splice(at..at, planted.iter().copied());
    lines.join("\n") + "\n"
}

#[test]
fn real_debian_files_hide_planted_secrets_and_little_else() {
    let mut overmasked_total = 0;
    let mut checked = 0;
    for real in REAL_FILES {
        let Ok(original) = fs::read_to_string(real.path) else {
            println!(
                "SKIP: {} is missing (apt-get install -y {})",
                real.path, real.package
            );
            continue;
        };
        let text = plant(&original, real.after, real.planted);
        let shown = config_file(
            real.path.to_owned(),
            FoundBy::CommandLine,
            Ok(Contents {
                text: text.clone(),
                truncated: false,
            }),
        );
        assert_eq!(shown.format, real.format, "{}", real.path);
        assert_eq!(shown.error, None, "{}", real.path);
        assert_eq!(shown.raw_omitted, 0, "{}", real.path);
        let raw = shown.raw.clone().expect("shown line by line");
        // The settings lines as they are, in the order the report shows
        // them masked: masking never turns a line blank or into a comment.
        let settings: Vec<&str> = text
            .lines()
            .filter(|line| {
                let line = line.trim_start();
                !line.is_empty() && !line.starts_with(['#', ';'])
            })
            .collect();
        assert_eq!(raw.len(), settings.len(), "{}: {raw:#?}", real.path);
        let mut overmasked = Vec::new();
        for (shown_line, line) in raw.iter().zip(&settings) {
            if line.contains("Planted") {
                assert!(
                    !shown_line.contains("Planted"),
                    "{}: {line:?} shown as {shown_line:?}",
                    real.path
                );
            } else if shown_line != line {
                overmasked.push(format!("{line:?} -> {shown_line:?}"));
            }
        }
        println!(
            "{} ({}): {} settings lines, {} lines planted, {} other lines masked{}",
            real.path,
            shown.format,
            settings.len(),
            real.planted.len(),
            overmasked.len(),
            overmasked
                .iter()
                .map(|line| format!("\n    {line}"))
                .collect::<String>()
        );
        assert!(
            overmasked.len() <= MAX_OVERMASKED,
            "{}: {overmasked:#?}",
            real.path
        );
        overmasked_total += overmasked.len();
        checked += 1;
        let configuration = Configuration {
            command_line: Vec::new(),
            command_line_rewritten: false,
            files: vec![shown],
            files_omitted: 0,
            environment: Vec::new(),
            environment_error: None,
            live: None,
            live_error: None,
        };
        let report = report_of(1, configuration);
        for (view, output) in [
            ("text", render_text(&report)),
            ("json", render_json(&report)),
            ("yaml", render_yaml(&report)),
        ] {
            assert!(
                !output.contains("Planted"),
                "{}: a planted secret leaked into the {view} report:\n{output}",
                real.path
            );
            assert!(
                output.contains(real.format.as_str()),
                "{}: no label in the {view} report",
                real.path
            );
        }
    }
    println!(
        "{checked} real files checked, {overmasked_total} lines masked beyond the planted ones"
    );
}

/// Directories of Debian's default configuration of daemons whose formats
/// gmr does not parse, swept whole.
const REAL_TREES: &[(&str, &str)] = &[
    ("/etc/nginx", "nginx-common"),
    ("/etc/apache2", "apache2"),
    ("/etc/haproxy", "haproxy"),
    ("/etc/redis", "redis-server"),
];

/// Most settings lines of the swept trees the rules may hide, though none
/// holds a secret.
const MAX_OVERMASKED_IN_TREES: usize = 10;

/// Most lines, comments included, of the swept trees the rules may hide
/// when a whole file is shown (a custom `file:` section): commented-out
/// examples such as `# requirepass foobared` are hidden on purpose.
const MAX_OVERMASKED_WHOLE_FILES: usize = 30;

/// Every file under `dir`, recursively, sorted; symbolic links to files
/// followed, to directories not.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(dir)
        .map(|read| read.flatten().map(|entry| entry.path()).collect())
        .unwrap_or_default();
    entries.sort();
    for path in entries {
        if path.is_symlink() && path.is_dir() {
            continue;
        }
        if path.is_dir() {
            files.extend(files_under(&path));
        } else if path.is_file() {
            files.push(path);
        }
    }
    files
}

#[test]
fn real_debian_trees_keep_their_settings() {
    let mut overmasked = Vec::new();
    let mut overmasked_whole = Vec::new();
    let mut counted = std::collections::BTreeMap::<&str, usize>::new();
    for (dir, package) in REAL_TREES {
        if !Path::new(dir).is_dir() {
            println!("SKIP: {dir} is missing (apt-get install -y {package})");
            continue;
        }
        for path in files_under(Path::new(dir)) {
            let Ok(text) = fs::read_to_string(&path) else {
                continue;
            };
            let path = path.to_string_lossy().into_owned();
            for (line, masked) in text.lines().zip(crate::mask::mask_file(&text).lines()) {
                if line != masked {
                    overmasked_whole.push(format!("{path}: {line:?} -> {masked:?}"));
                }
            }
            let shown = config_file(
                path.clone(),
                FoundBy::CommandLine,
                Ok(Contents {
                    text: text.clone(),
                    truncated: false,
                }),
            );
            *counted.entry(shown.format.as_str()).or_default() += 1;
            assert!(
                shown.format != ConfigFormat::Ini || shown.error.is_none(),
                "{path} labelled ini with an error: {shown:#?}"
            );
            let Some(raw) = &shown.raw else {
                continue;
            };
            let settings = text.lines().filter(|line| {
                let line = line.trim_start();
                !line.is_empty() && !line.starts_with(['#', ';'])
            });
            for (shown_line, line) in raw.iter().zip(settings) {
                if shown_line != line {
                    overmasked.push(format!("{path}: {line:?} -> {shown_line:?}"));
                }
            }
        }
    }
    println!(
        "files by label: {counted:?}; {} lines masked though no secret was planted:",
        overmasked.len()
    );
    for line in &overmasked {
        println!("    {line}");
    }
    println!(
        "{} lines, comments included, masked in whole files:",
        overmasked_whole.len()
    );
    for line in &overmasked_whole {
        println!("    {line}");
    }
    assert!(
        overmasked.len() <= MAX_OVERMASKED_IN_TREES,
        "{overmasked:#?}"
    );
    assert!(
        overmasked_whole.len() <= MAX_OVERMASKED_WHOLE_FILES,
        "{overmasked_whole:#?}"
    );
}
