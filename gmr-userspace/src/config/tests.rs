//! Loading configurations: files, flags, and the shipped example.

use super::*;
use crate::sections::custom::{Builtin, CustomSource};

fn write(text: &str) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new();
    let path = dir.0.join("agent.yaml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

mod tempdir {
    /// A scratch directory removed on drop.
    pub struct Dir(pub std::path::PathBuf);
    impl Dir {
        pub fn new() -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let path = std::env::temp_dir().join(format!("gmr-config-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&path).unwrap();
            Self(path)
        }
    }
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn load_file(text: &str) -> Result<AgentConfig> {
    let (_dir, path) = write(text);
    AgentConfig::load(&Overrides {
        config: Some(path),
        ..Default::default()
    })
}

#[test]
fn unknown_keys_and_wrong_types_name_line_and_column() {
    if cgroup::cgroup2_mount().is_err() {
        eprintln!("SKIP: no cgroup2 mount");
        return;
    }
    let err = load_file("signal: SIGUSR2\nreport_dirr: /tmp\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(":2:1:") && err.contains("report_dirr"),
        "{err}"
    );
    let err = load_file("target_stderr: maybe\n").unwrap_err().to_string();
    assert!(err.contains(":1:"), "{err}");
    let err = load_file("signal: SIGBOGUS\n").unwrap_err().to_string();
    assert!(err.contains("SIGBOGUS"), "{err}");
    for key in ["min_interval_seconds", "cache_idle_seconds"] {
        let err = load_file(&format!("{key}: -1\n")).unwrap_err().to_string();
        assert!(err.contains(key) && err.contains("-1"), "{err}");
    }
    let config = load_file("cache_idle_seconds: 0.5\n").unwrap();
    assert_eq!(config.cache_idle, std::time::Duration::from_millis(500));
    assert_eq!(
        load_file("").unwrap().cache_idle,
        std::time::Duration::from_secs(60)
    );
    for bytes in ["1000", "1073741824"] {
        let err = load_file(&format!("max_stack_bytes: {bytes}\n")).unwrap_err();
        let err = err.to_string();
        assert!(
            err.contains("max_stack_bytes") && err.contains(bytes),
            "{err}"
        );
    }
    assert_eq!(load_file("").unwrap().stack_cap, StackCap::DEFAULT);
    let config = load_file("max_stack_bytes: 1048576\n").unwrap();
    assert_eq!(config.stack_cap.bytes(), 1 << 20);
    let (_dir, path) = write("max_stack_bytes: 1048576\n");
    let flag = AgentConfig::load(&Overrides {
        config: Some(path),
        max_stack_bytes: Some(65536),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(flag.stack_cap.bytes(), 65536, "the flag wins over the file");
    let err = load_file("tags:\n  - cgroup: /nonexistent/gmr\n").unwrap_err();
    assert!(format!("{err:#}").contains("/nonexistent/gmr"), "{err:#}");
}

#[test]
fn file_and_flags_merge() {
    let Ok(mount) = cgroup::cgroup2_mount() else {
        eprintln!("SKIP: no cgroup2 mount");
        return;
    };
    let text = format!(
        "signal: USR1\nreport_dir: /tmp/r\ntags:\n  - cgroup: {}\n    name: everything\n",
        mount.display()
    );
    let (_dir, path) = write(&text);
    let config = AgentConfig::load(&Overrides {
        config: Some(path),
        signal: Some("SIGURG".into()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(config.signal, 23);
    assert_eq!(config.report_dir, PathBuf::from("/tmp/r"));
    assert_eq!(config.tags.len(), 1);
    assert_eq!(config.tags[0].name, "everything");
    assert!(config.target_stderr);
}

#[test]
fn custom_sections_and_formats_are_validated() {
    let Ok(mount) = cgroup::cgroup2_mount() else {
        eprintln!("SKIP: no cgroup2 mount");
        return;
    };
    let head = format!(
        "formats: [json]\ntags:\n  - cgroup: {}\n    sections:\n",
        mount.display()
    );
    let good = format!(
        "{head}      - title: Files\n        builtin: open_files\n      - title: Paste\n        file: /etc/paste.ini\n      - title: Ps\n        command: [ps, -p, \"{{pid}}\"]\n        timeout_seconds: 2\n"
    );
    let config = load_file(&good).unwrap();
    assert_eq!(config.formats, [Format::Text, Format::Json]);
    let sections = &config.tags[0].sections;
    assert_eq!(
        sections[0].source,
        CustomSource::Builtin(Builtin::OpenFiles)
    );
    assert_eq!(
        sections[1].source,
        CustomSource::File("/etc/paste.ini".into())
    );
    assert!(
        matches!(&sections[2].source, CustomSource::Command { timeout, .. } if timeout.as_secs() == 2)
    );

    let both = format!("{head}      - title: X\n        builtin: limits\n        file: /etc/x\n");
    assert!(
        load_file(&both)
            .unwrap_err()
            .to_string()
            .contains("exactly one")
    );
    let unknown = format!("{head}      - title: X\n        builtin: bogus\n");
    let err = load_file(&unknown).unwrap_err().to_string();
    assert!(err.contains("bogus") && err.contains("open_files"), "{err}");
    let relative = format!("{head}      - title: X\n        file: etc/x\n");
    assert!(
        load_file(&relative)
            .unwrap_err()
            .to_string()
            .contains("absolute")
    );
    assert!(
        load_file("formats: [pdf]\n")
            .unwrap_err()
            .to_string()
            .contains("pdf")
    );
}

#[test]
fn missing_explicit_file_is_an_error() {
    let err = AgentConfig::load(&Overrides {
        config: Some("/nonexistent/agent.yaml".into()),
        ..Default::default()
    })
    .unwrap_err();
    assert!(err.to_string().contains("/nonexistent/agent.yaml"), "{err}");
}

/// A real cgroup directory below the mount, removed on drop.
struct RealCgroup(PathBuf);

impl RealCgroup {
    /// Creates `<mount>/<name>`, or `None` (after saying SKIP) when this
    /// host or user cannot.
    fn create(name: &str) -> Option<Self> {
        let mount = cgroup::cgroup2_mount().ok()?;
        let path = mount.join(name);
        match std::fs::create_dir(&path) {
            Ok(()) => Some(Self(path)),
            Err(e) => {
                eprintln!("SKIP: cannot create cgroup {}: {e}", path.display());
                None
            }
        }
    }
}

impl Drop for RealCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn units_and_containers_from_flags_and_file_resolve_and_get_default_names() {
    let pid = std::process::id();
    let unit = format!("gmr-config-test-{pid}.service");
    let id = format!("{pid:08x}{}", "0123456789abcdef".repeat(4))[..64].to_owned();
    let (Some(unit_cgroup), Some(container_cgroup)) = (
        RealCgroup::create(&unit),
        RealCgroup::create(&format!("docker-{id}.scope")),
    ) else {
        return;
    };
    let config = AgentConfig::load(&Overrides {
        config: Some("/dev/null".into()),
        tag_units: vec![unit.parse().unwrap()],
        tag_containers: vec![id[..12].parse().unwrap()],
        ..Default::default()
    })
    .unwrap();
    let tags: Vec<(&str, &Path)> = config
        .tags
        .iter()
        .map(|t| (t.name.as_str(), t.cgroups[0].path.as_path()))
        .collect();
    let container_name = format!("container-{}", &id[..12]);
    assert_eq!(
        tags,
        [
            (unit.as_str(), unit_cgroup.0.as_path()),
            (container_name.as_str(), container_cgroup.0.as_path())
        ]
    );

    let config = load_file(&format!(
        "tags:\n  - unit: {unit}\n    name: api\n  - container: {id}\n"
    ))
    .unwrap();
    assert_eq!(config.tags[0].name, "api");
    assert_eq!(config.tags[1].cgroups[0].path, container_cgroup.0);
}

#[test]
fn unresolvable_tags_name_their_flag_or_file_entry() {
    if cgroup::cgroup2_mount().is_err() {
        eprintln!("SKIP: no cgroup2 mount");
        return;
    }
    let err = AgentConfig::load(&Overrides {
        config: Some("/dev/null".into()),
        tag_units: vec!["gmr-no-such-unit.service".parse().unwrap()],
        ..Default::default()
    })
    .unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.starts_with("--tag-unit gmr-no-such-unit.service: ")
            && message.contains("no cgroup named gmr-no-such-unit.service below"),
        "{message}"
    );
    let err = load_file("tags:\n  - cgroup: /\n  - container: 0123456789ab\n").unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("agent.yaml: tags[0]") && message.contains("is not a cgroup v2"),
        "{message}"
    );
}

#[test]
fn the_dist_example_is_valid_and_shows_every_key() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../dist/agent.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    for key in [
        "signal:",
        "report_dir:",
        "formats:",
        "target_stderr:",
        "min_interval_seconds:",
        "cache_idle_seconds:",
        "max_stack_bytes:",
        "retention:",
        "max_reports:",
        "max_bytes:",
        "tags:",
        "cgroup:",
        "unit:",
        "container:",
        "name:",
        "config_files:",
        "sections:",
        "title:",
        "builtin:",
        "file:",
        "command:",
        "timeout_seconds:",
        "file_trigger:",
        "trigger_file:",
        "trigger_group:",
        "freeze:",
        "kubernetes:",
        "pod_logs:",
        "container_logs:",
        "pod:",
        "namespace:",
    ] {
        assert!(text.contains(key), "dist/agent.yaml does not show {key}");
    }
    // Resolving its targets needs the host it was written for; everything
    // else is checked here.
    let config = file::read(&path).unwrap();
    signal::parse(config.signal.as_deref().unwrap()).unwrap();
    parse_formats(config.formats.unwrap()).unwrap();
    min_interval(config.min_interval_seconds).unwrap();
    cache_idle(config.cache_idle_seconds).unwrap();
    stack_cap(config.max_stack_bytes).unwrap();
    assert!(config.retention.is_some());
    assert!(
        config
            .tags
            .iter()
            .any(|t| matches!(&t.target, Target::Unit(u) if u.as_str() == "nova-api.service"))
    );
    for entry in config.tags {
        let name = entry.target.to_string();
        assert!(
            entry
                .settings
                .trigger_file
                .is_none_or(|path| path.is_absolute())
        );
        tag::custom_sections(entry.settings.sections, &name).unwrap();
    }
}
