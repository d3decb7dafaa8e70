//! A real podman container: runc, a Debian root made by debootstrap
//! (`cargo xtask rootfs`, which `cargo xtask test` runs first), no network.
//! The parked fixture runs in it from a path that exists only inside the
//! container, and prints its own pid and thread ids as it sees them (its
//! pid namespace's). Reports, one-shot and through `--tag-container` with a
//! trigger file, must give the host's pid and the container's, the
//! container's id as podman knows it, every thread's id in both namespaces,
//! and stacks symbolized from the container's files that match gdb's (gdb
//! attached from the host), its configuration file read from the
//! container's root, no planted secret in any report or the agent's log;
//! the process lives on.
//! A process outside containers, in the agent's own pid namespace, shows
//! one pid in text and the same id twice in JSON.

use std::{
    collections::HashMap,
    os::unix::fs::MetadataExt as _,
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture,
    agent::{RunningAgent, in_order, report_json, run_agent, section, thread, user_functions},
    build_c_fixture, gdb_backtraces, match_ratio,
    podman::{Container, podman_stdout, rootfs},
    require_root,
    scratch::{REPORT_TIMEOUT, Scratch, wait_for_report_files},
};
use serde_json::Value;

/// Where the fixture is mounted inside the container; nothing is there on
/// the host, so symbols found for it come from the container's files.
const PROGRAM_IN_CONTAINER: &str = "/opt/gmr-container-test/parked";

/// The configuration file the fixture is started with (`-c`), mounted
/// there from the test's scratch directory; nothing is there on the host.
const CONFIG_IN_CONTAINER: &str = "/etc/gmr-container-test/app.conf";

/// Least share of gdb's named frames the report must match: the fixture
/// is parked, so only a thread that wakes between the two captures may
/// differ (the corpus measures 100% on it).
const MIN_GDB_MATCH: f64 = 0.9;

/// How long the fixture may take to print its ready line in the container.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Runs the parked fixture `program` in a container of `root`, `config`
/// mounted at [`CONFIG_IN_CONTAINER`] and `environment` (`NAME=value`)
/// set; `None` (after a printed SKIP) when podman cannot run a container here.
fn start(root: &Path, program: &Path, config: &Path, environment: &str) -> Option<Container> {
    // `:O` lays an overlay on the root, so the cached root stays clean.
    let rootfs = format!("{}:O", root.display());
    let mount = format!("{}:{PROGRAM_IN_CONTAINER}:ro", program.display());
    let config_mount = format!("{}:{CONFIG_IN_CONTAINER}:ro", config.display());
    Container::run(&[
        "--network",
        "none",
        "--volume",
        &mount,
        "--volume",
        &config_mount,
        "--env",
        environment,
        "--rootfs",
        &rootfs,
        PROGRAM_IN_CONTAINER,
        "-c",
        CONFIG_IN_CONTAINER,
    ])
}

/// The fixture's `ready` line (printed once its threads are parked), as
/// role → id in the container's pid namespace; `pid` is its own.
#[track_caller]
fn wait_for_ready(container: &Container) -> HashMap<String, u32> {
    let start = Instant::now();
    loop {
        let logs = podman_stdout(&["logs", &container.id]);
        if let Some(line) = logs.lines().find(|l| l.starts_with("ready ")) {
            return line
                .split_whitespace()
                .skip(1)
                .map(|pair| {
                    let (role, id) = pair.split_once('=').expect("role=id");
                    (role.to_owned(), id.parse().expect("a numeric id"))
                })
                .collect();
        }
        assert!(
            start.elapsed() < READY_TIMEOUT,
            "the fixture printed no ready line in the container within {READY_TIMEOUT:?}; \
             its logs:\n{logs}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The secrets planted in `text` (the test's unique values), if any.
fn leaked<'a>(text: &str, secrets: &'a [String]) -> Vec<&'a str> {
    secrets
        .iter()
        .filter(|secret| text.contains(secret.as_str()))
        .map(String::as_str)
        .collect()
}

/// The host's id of each thread of `pid`, by thread name (the fixture
/// names its threads after their roles).
#[track_caller]
fn host_tids_by_name(pid: u32) -> HashMap<String, u32> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap_or_else(|e| panic!("list /proc/{pid}/task: {e}"))
        .filter_map(Result::ok)
        .filter_map(|task| {
            let tid: u32 = task.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(task.path().join("comm")).ok()?;
            Some((comm.trim_end().to_owned(), tid))
        })
        .collect()
}

/// Checks a JSON report's header and threads against podman and the
/// fixture's own view: `ready` is its ready line, `host_tids` its threads'
/// host ids by name.
#[track_caller]
fn check_json(
    report: &Value,
    container: &Container,
    host_pid: u32,
    ready: &HashMap<String, u32>,
    host_tids: &HashMap<String, u32>,
) {
    let target = &report["target"];
    let namespace = std::fs::metadata(format!("/proc/{host_pid}/ns/pid"))
        .expect("stat the target's pid namespace")
        .ino();
    assert_eq!(target["pid"], host_pid, "the host's pid: {target}");
    assert_eq!(
        target["ns_pid"], ready["pid"],
        "the pid the process sees itself under: {target}"
    );
    assert_eq!(target["pid_namespace"], namespace, "{target}");
    assert_eq!(
        target["container_id"].as_str(),
        Some(container.id.as_str()),
        "podman's id: {target}"
    );
    for (role, &ns_tid) in ready {
        // The ready line gives the main thread's id as `pid`.
        let host_tid = if role == "pid" {
            host_pid
        } else {
            host_tids[role]
        };
        assert_ne!(host_tid, ns_tid, "{role}: two namespaces, two ids");
        assert_eq!(
            thread(report, host_tid)["ns_tid"],
            ns_tid,
            "thread {role} (host tid {host_tid}) under the id it sees"
        );
    }
}

#[test]
fn a_podman_containers_process_is_reported_with_both_pids_and_its_container() {
    if !require_root() {
        return;
    }
    let root = rootfs();
    if !root.join("usr/bin/bash").exists() {
        println!(
            "SKIP: no Debian root at {}: `cargo xtask rootfs` builds it (debootstrap, about \
             90 s; `cargo xtask test` does so first)",
            root.display()
        );
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        println!("SKIP: podman is not installed (`cargo xtask rootfs` installs it)");
        return;
    }
    assert!(
        !Path::new(PROGRAM_IN_CONTAINER).exists(),
        "{PROGRAM_IN_CONTAINER} exists on the host: the test could not tell whose file was read"
    );
    assert!(!Path::new(CONFIG_IN_CONTAINER).exists());
    let program = build_c_fixture(CVariant::FramePointer);
    let scratch = Scratch::new("container");
    let nonce = format!(
        "{}x{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    );
    let secrets = [
        format!("CtrEnvSecret{nonce}"),
        format!("CtrConfSecret{nonce}"),
        format!("CtrUrlSecret{nonce}"),
    ];
    let config_file = scratch.path().join("app.conf");
    std::fs::write(
        &config_file,
        format!(
            "[DEFAULT]\ndebug = true\nadmin_password = {}\n[database]\nconnection = mysql://app:{}@db/app\n",
            secrets[1], secrets[2]
        ),
    )
    .unwrap();
    let started = Instant::now();
    let environment = format!("GMR_DB_PASSWORD={}", secrets[0]);
    let Some(container) = start(&root, &program, &config_file, &environment) else {
        return;
    };
    let ready = wait_for_ready(&container);
    println!("container started and parked in {:.1?}", started.elapsed());
    let host_pid = container.host_pid();
    let host_tids = host_tids_by_name(host_pid);
    let top = podman_stdout(&["top", &container.id, "pid", "hpid"]);
    assert_eq!(
        top.lines()
            .nth(1)
            .map(|row| row.split_whitespace().collect::<Vec<_>>()),
        Some(vec![&*ready["pid"].to_string(), &*host_pid.to_string()]),
        "podman top agrees with the fixture on its pids: {top}"
    );
    assert_eq!(
        container.inspect("{{.Id}}"),
        container.id,
        "podman run printed the full id"
    );

    let reported = Instant::now();
    let report = report_json(host_pid);
    println!("one-shot JSON report in {:.1?}", reported.elapsed());
    check_json(&report, &container, host_pid, &ready, &host_tids);

    // Stacks are symbolized from the container's files: the program is
    // only there, and libc is the root's.
    let sleeper = thread(&report, host_tids["sleeper"]);
    let functions = user_functions(sleeper);
    assert!(
        in_order(&functions, &["sleeper_inner", "sleeper_outer"]),
        "sleeper's stack: {functions:?}"
    );
    let frames = sleeper["user_stack"].as_array().expect("user frames");
    let module_of = |function: &str| {
        frames
            .iter()
            .find(|f| f["function"].as_str().is_some_and(|f| f.contains(function)))
            .and_then(|f| f["module"].as_str())
            .unwrap_or_else(|| panic!("no {function} frame with a module in {sleeper}"))
    };
    assert_eq!(module_of("sleeper_inner"), PROGRAM_IN_CONTAINER);
    let libc = module_of("nanosleep");
    assert!(
        libc.contains("libc.so") && root.join(libc.trim_start_matches('/')).exists(),
        "nanosleep comes from the root's libc, named as the container sees it: {libc}"
    );
    let package = section(&report, "Package");
    assert_eq!(package["executable"], PROGRAM_IN_CONTAINER, "{package}");
    assert_eq!(package["own_mount_namespace"], true, "{package}");

    // Its configuration file is read from the container's root, masked.
    let configuration = section(&report, "Configuration");
    let file = configuration["files"]
        .as_array()
        .and_then(|files| files.iter().find(|f| f["path"] == CONFIG_IN_CONTAINER))
        .unwrap_or_else(|| panic!("{CONFIG_IN_CONTAINER} not shown: {configuration}"));
    assert_eq!(file["error"], Value::Null, "{file}");
    let shown = file.to_string();
    assert!(
        shown.contains("debug") && shown.contains("admin_password"),
        "{file}"
    );
    let environment = configuration["environment"].to_string();
    assert!(environment.contains("GMR_DB_PASSWORD"), "{environment}");

    // gdb, attached from the host, names the same frames.
    let gdb = gdb_backtraces(host_pid).expect("gdb attaches to the container's process");
    let matched = match_ratio(&gdb, &report);
    println!(
        "gdb frames matched: {}/{} ({:.0}%) over {} threads",
        matched.matched(),
        matched.total(),
        matched.ratio() * 100.0,
        gdb.len()
    );
    assert!(
        matched.total() > 0 && matched.ratio() >= MIN_GDB_MATCH,
        "gmr matched {:.0}% of gdb's frames: {matched:#?}",
        matched.ratio() * 100.0
    );

    // The text header says which pid is which, and each thread its id in
    // the container.
    let out = run_agent(&["report", "--pid", &host_pid.to_string()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let json = report.to_string();
    for (view, output) in [("text", &*text), ("JSON", &*json)] {
        let leaks = leaked(output, &secrets);
        assert!(leaks.is_empty(), "the {view} report leaks {leaks:?}");
    }
    let namespace = report["target"]["pid_namespace"].as_u64().unwrap();
    assert!(
        text.contains(&format!(
            "\npid = {host_pid} (host); {} in its own pid namespace pid:[{namespace}]\n\
             container = {}\n",
            ready["pid"], container.id
        )),
        "{text}"
    );
    let sleeper_block = text
        .split("------")
        .skip_while(|part| !part.contains("(\"sleeper\")"))
        .nth(1)
        .unwrap_or_else(|| panic!("no sleeper block in {text}"));
    assert!(
        sleeper_block.starts_with(&format!(
            "\nns_tid = {} (in the process's own pid namespace)\n",
            ready["sleeper"]
        )),
        "{sleeper_block}"
    );

    // The same through a tag on the container's id and its trigger file:
    // podman's cgroupfs manager gives the container a cgroup in the v2
    // hierarchy of this hybrid host too, where the agent finds it.
    let reports = scratch.path().join("reports");
    let short = &container.id[..12];
    let config = scratch.path().join("agent.yaml");
    std::fs::write(&config, "formats: [text, json]\n").unwrap();
    let agent = RunningAgent::start(&[
        "--config",
        config.to_str().unwrap(),
        "--tag-container",
        short,
        "--report-dir",
        reports.to_str().unwrap(),
        "--no-target-stderr",
    ]);
    let trigger = PathBuf::from(format!("/run/gmr/container-{short}.trigger"));
    let trigger = &trigger;
    let touched = Instant::now();
    let status = Command::new("touch").arg(trigger).status().expect("touch");
    assert!(status.success(), "touch {}", trigger.display());
    let files = wait_for_report_files(&reports, host_pid, "json", 1, REPORT_TIMEOUT);
    println!(
        "report through the tag's trigger file in {:.1?}",
        touched.elapsed()
    );
    let [file] = files.as_slice() else {
        panic!(
            "one JSON report on {host_pid} expected, got {files:?}; agent log:\n{}",
            agent.log()
        );
    };
    let tagged: Value = serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(tagged["trigger"]["kind"], "file", "{}", tagged["trigger"]);
    check_json(&tagged, &container, host_pid, &ready, &host_tids);
    let text_reports = wait_for_report_files(&reports, host_pid, "txt", 1, REPORT_TIMEOUT);
    for path in files.iter().chain(&text_reports) {
        let leaks = leaked(&std::fs::read_to_string(path).unwrap(), &secrets);
        assert!(leaks.is_empty(), "{} leaks {leaks:?}", path.display());
    }
    let log = agent.log();
    drop(agent);
    assert!(
        leaked(&log, &secrets).is_empty(),
        "the agent's log leaks:\n{log}"
    );
    assert!(
        !trigger.exists(),
        "the agent removed the trigger file it created when it stopped"
    );

    assert_eq!(
        container.inspect("{{.State.Status}}"),
        "running",
        "the container's process lives on"
    );
    assert_eq!(container.host_pid(), host_pid, "the same process");
    println!("container test took {:.1?}", started.elapsed());
}

#[test]
fn a_process_in_the_agents_pid_namespace_has_one_pid_in_text_and_both_in_json() {
    if !require_root() {
        return;
    }
    let fixture = Fixture::spawn(&build_c_fixture(CVariant::FramePointer), &[], None);
    let pid = fixture.pid();
    let report = report_json(pid);
    let own_namespace = std::fs::metadata("/proc/self/ns/pid").unwrap().ino();
    let target = &report["target"];
    assert_eq!(
        (&target["pid"], &target["ns_pid"], &target["pid_namespace"]),
        (&pid.into(), &pid.into(), &own_namespace.into()),
        "one namespace, both fields, the same id: {target}"
    );
    let sleeper = fixture.tid("sleeper");
    assert_eq!(thread(&report, sleeper)["ns_tid"], sleeper);
    let out = run_agent(&["report", "--pid", &pid.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("\npid = {pid}\ncomm = ")), "{text}");
    assert!(!text.contains("ns_tid"), "{text}");
}
