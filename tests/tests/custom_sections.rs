//! Custom sections declared per tag in the agent's YAML, and report files in
//! several formats: the real agent, a real tagged cgroup, a real signal.

use std::path::{Path, PathBuf};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, run_agent, section},
    agent_config::{AgentConfig, Section, Tag},
    build_c_fixture, require_root,
    scratch::{REPORT_TIMEOUT, Scratch, wait_for_report_files},
};
use serde_json::Value;

/// The first report file of `pid` with extension `ext` below `dir`.
fn wait_for_file(dir: &Path, pid: u32, ext: &str) -> Option<PathBuf> {
    wait_for_report_files(dir, pid, ext, 1, REPORT_TIMEOUT)
        .into_iter()
        .next()
}

/// Tag `parked` on `cgroup` with every kind of custom section: builtins,
/// the file `included` and a command that prints a secret.
fn config(cgroup: &Path, included: &Path) -> AgentConfig {
    let tag = [
        ("Open Files", "open_files"),
        ("Limits", "limits"),
        ("Namespaces", "namespaces"),
        ("Memory Maps", "memory_maps"),
        ("Cgroup", "cgroup"),
    ]
    .into_iter()
    .fold(
        Tag::cgroup(cgroup).name("parked"),
        |tag, (title, builtin)| tag.section(Section::builtin(title, builtin)),
    )
    .section(Section::file("Paste Pipeline", included))
    .section(
        Section::command(
            "Status",
            &["sh", "-c", "echo pid={pid}; echo password=Hidden-77"],
        )
        .timeout_seconds(5.0),
    );
    AgentConfig::new().formats(&["json", "yaml"]).tag(tag)
}

#[test]
fn custom_sections_and_json_yaml_files_from_the_agent_config() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("custom");
    let included = scratch.path().join("paste.ini");
    std::fs::write(
        &included,
        "[pipeline:main]\npipeline = authtoken api\nadmin_password = Hidden-78\n",
    )
    .unwrap();
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(
        &build_c_fixture(CVariant::NoFramePointer),
        &[],
        Some(&cgroup),
    );
    let reports = scratch.path().join("reports");
    let agent = RunningAgent::with_config(
        scratch.path(),
        &config(cgroup.path(), &included),
        &[
            "--report-dir",
            reports.to_str().unwrap(),
            "--no-target-stderr",
        ],
    );
    fixture.signal(libc::SIGUSR2);

    let json_path = wait_for_file(&reports, fixture.pid(), "json")
        .unwrap_or_else(|| panic!("no JSON report; agent log:\n{}", agent.log()));
    let yaml_path = wait_for_file(&reports, fixture.pid(), "yaml").expect("YAML report beside it");
    let txt_path = wait_for_file(&reports, fixture.pid(), "txt").expect("text report beside it");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(&json_path).unwrap()).unwrap();
    let from_yaml: Value =
        serde_norway::from_str(&std::fs::read_to_string(&yaml_path).unwrap()).unwrap();
    assert_eq!(report, from_yaml, "JSON and YAML hold the same document");

    let titles: Vec<&str> = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Package",
            "Threads",
            "Processes",
            "Configuration",
            "Open Files",
            "Limits",
            "Namespaces",
            "Memory Maps",
            "Cgroup",
            "Paste Pipeline",
            "Status"
        ]
    );
    let open_files = section(&report, "Open Files");
    assert!(
        open_files["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[1].as_str().unwrap().starts_with("pipe:[")),
        "the reader thread's pipe is listed: {open_files}"
    );
    let limits = section(&report, "Limits");
    assert!(
        limits["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[0] == "Max open files")
    );
    let maps = section(&report, "Memory Maps");
    assert!(
        maps["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r[0].as_str().unwrap().ends_with("parked-nofp"))
    );
    let cg = section(&report, "Cgroup");
    assert_eq!(cg["rows"][0][1], cgroup.path().to_str().unwrap());
    let status = section(&report, "Status");
    assert_eq!(status["lines"][0], format!("pid={}", fixture.pid()));

    let everything = std::fs::read_to_string(&txt_path).unwrap() + &report.to_string();
    assert!(
        everything.contains("pipeline = authtoken api"),
        "the included file is shown"
    );
    assert!(
        !everything.contains("Hidden-77") && !everything.contains("Hidden-78"),
        "secrets are masked"
    );
}

#[test]
fn one_shot_report_uses_the_tag_covering_the_process() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("oneshot");
    let included = scratch.path().join("paste.ini");
    std::fs::write(&included, "[app]\nworkers = 4\n").unwrap();
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(
        &build_c_fixture(CVariant::NoFramePointer),
        &[],
        Some(&cgroup),
    );
    let config_path = config(cgroup.path(), &included).write(scratch.path());
    let out = run_agent(&[
        "report",
        "--pid",
        &fixture.pid().to_string(),
        "--config",
        config_path.to_str().unwrap(),
        "--format",
        "yaml",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_norway::from_slice(&out.stdout).expect("YAML on stdout");
    assert_eq!(
        section(&report, "Paste Pipeline")["lines"][1],
        "workers = 4"
    );
}

#[test]
fn bad_custom_section_config_is_refused_with_its_location() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("badcfg");
    let cgroup = TestCgroup::create();
    let path = scratch.path().join("agent.yaml");
    std::fs::write(
        &path,
        format!(
            "tags:\n  - cgroup: {}\n    sections:\n      - title: X\n        builtin: open_filez\n",
            cgroup.path().display()
        ),
    )
    .unwrap();
    let out = run_agent(&["run", "--config", path.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("agent.yaml:5:") && stderr.contains("open_filez"),
        "{stderr}"
    );
}
