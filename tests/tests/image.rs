//! The agent's OCI image (`cargo xtask image`, which `cargo xtask test`
//! builds first) run by podman with the flags the README's "fleet" section
//! documents, on the host's processes: a parked fixture in a cgroup of the
//! host, and the same fixture in a second container (the Debian root of
//! `cargo xtask rootfs`), the program mounted where only that container
//! sees it. Each is triggered from the host by touching its trigger file
//! in the mounted `/run/gmr` and by `gmr-agent trigger` through the mounted
//! control socket; reports land in the host's directory, mode 0600, with
//! stacks symbolized from each target's own root and Package read in the
//! target's mount namespace. The socket and trigger files keep mode 0600 on
//! the host. The agent's idle memory and CPU are measured in the container
//! and, with the same tags, on the host.

use std::{
    os::unix::fs::{FileTypeExt as _, PermissionsExt as _},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, agent_binary, in_order, section, thread, user_functions},
    build_c_fixture,
    podman::{AGENT_CAPABILITIES, AGENT_PATHS, Container, podman, rootfs},
    require_root,
    scratch::{REPORT_TIMEOUT, Scratch, report_files, wait_for_report_files},
};
use serde_json::Value;

/// The image `cargo xtask image` builds.
const IMAGE: &str = "localhost/gmr-agent:latest";

/// Where the fixture is mounted in the second container; nothing is there
/// on the host or in the agent's image.
const PROGRAM_IN_CONTAINER: &str = "/opt/gmr-image-test/parked";

/// How long the agent's container may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// How long idle CPU is measured.
const IDLE_WINDOW: Duration = Duration::from_secs(5);

/// The documented `podman run` flags (README "fleet"): no capability but
/// [`AGENT_CAPABILITIES`], the host's pid namespace, a cgroup namespace of
/// its own (as a Kubernetes pod has on cgroup v2), no network, and
/// [`AGENT_PATHS`] mounted, each from `sources` where the test gives its own
/// directory, else from the host (securityfs only where the host has it).
fn agent_flags(sources: &[(&str, &Path)]) -> Vec<String> {
    let mut flags: Vec<String> = [
        "--cap-drop",
        "all",
        "--pid",
        "host",
        "--cgroupns",
        "private",
        "--network",
        "none",
    ]
    .map(String::from)
    .to_vec();
    for capability in AGENT_CAPABILITIES {
        flags.push(format!("--cap-add={capability}"));
    }
    for (path, read_only) in AGENT_PATHS {
        let source = sources
            .iter()
            .find(|(inside, _)| *inside == path)
            .map_or_else(|| PathBuf::from(path), |(_, source)| source.to_path_buf());
        if !source.exists() {
            continue;
        }
        let mode = if read_only { ":ro" } else { "" };
        flags.push(format!("--volume={}:{path}{mode}", source.display()));
    }
    flags
}

/// A process's resident memory (kB) and CPU time (clock ticks) so far.
#[track_caller]
fn usage(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let rss = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no VmRSS for {pid}"));
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    let ticks = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    (rss, ticks)
}

/// RSS in MB and CPU in percent of one core over [`IDLE_WINDOW`].
fn idle_usage(pid: u32) -> (f64, f64) {
    let (_, before) = usage(pid);
    std::thread::sleep(IDLE_WINDOW);
    let (rss, after) = usage(pid);
    let hz = rustix::param::clock_ticks_per_second() as f64;
    let cpu = (after - before) as f64 / hz / IDLE_WINDOW.as_secs_f64() * 100.0;
    (rss as f64 / 1024.0, cpu)
}

/// Mode bits and whether `path` is a socket.
#[track_caller]
fn mode(path: &Path) -> (u32, bool) {
    let meta = std::fs::metadata(path).unwrap_or_else(|e| panic!("stat {}: {e}", path.display()));
    (
        meta.permissions().mode() & 0o777,
        meta.file_type().is_socket(),
    )
}

/// Waits for the second container's fixture to print its ready line.
#[track_caller]
fn wait_until_parked(container: &Container) {
    let start = Instant::now();
    while !container.logs().lines().any(|l| l.starts_with("ready ")) {
        assert!(
            start.elapsed() < READY_TIMEOUT,
            "no ready line from the fixture; logs:\n{}",
            container.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The module path and function names of `tid`'s frames in `report`.
fn sleeper_frames(report: &Value, tid: u32) -> (Vec<String>, String) {
    let sleeper = thread(report, tid);
    let functions = user_functions(sleeper);
    let module = sleeper["user_stack"]
        .as_array()
        .and_then(|frames| {
            frames.iter().find(|f| {
                f["function"]
                    .as_str()
                    .is_some_and(|f| f.contains("sleeper_inner"))
            })
        })
        .and_then(|f| f["module"].as_str())
        .unwrap_or_default()
        .to_owned();
    (functions, module)
}

/// One JSON report read from `path`.
#[track_caller]
fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_image_reports_on_host_and_container_processes_triggered_from_the_host() {
    if !require_root() {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        println!("SKIP: podman is not installed (`cargo xtask image` installs it)");
        return;
    }
    if !podman(&["image", "exists", IMAGE]).status.success() {
        println!(
            "SKIP: no image {IMAGE}: `cargo xtask image` builds it (`cargo xtask test` does so first)"
        );
        return;
    }
    let root = rootfs();
    if !root.join("usr/bin/bash").exists() {
        println!(
            "SKIP: no Debian root at {} for the second container: `cargo xtask rootfs`",
            root.display()
        );
        return;
    }
    assert!(!Path::new(PROGRAM_IN_CONTAINER).exists());
    let program = build_c_fixture(CVariant::FramePointer);

    // The host process, in a cgroup of the host.
    let cgroup = TestCgroup::create();
    let host = Fixture::spawn(&program, &[], Some(&cgroup));
    // The same program in a second container, from a path only it has.
    let mount = format!("{}:{PROGRAM_IN_CONTAINER}:ro", program.display());
    let rootfs = format!("{}:O", root.display());
    let Some(guest) = Container::run(&[
        "--network",
        "none",
        "--volume",
        &mount,
        "--rootfs",
        &rootfs,
        PROGRAM_IN_CONTAINER,
    ]) else {
        return;
    };
    wait_until_parked(&guest);
    let guest_pid = guest.host_pid();
    let guest_sleeper = std::fs::read_dir(format!("/proc/{guest_pid}/task"))
        .unwrap()
        .filter_map(Result::ok)
        .find(|t| {
            std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "sleeper")
        })
        .and_then(|t| t.file_name().to_str()?.parse::<u32>().ok())
        .expect("the guest's sleeper thread");

    // The host directories the agent's container mounts.
    let scratch = Scratch::new("image");
    let run_dir = scratch.path().join("run");
    let lib_dir = scratch.path().join("lib");
    let etc_dir = scratch.path().join("etc");
    for dir in [&run_dir, &lib_dir, &etc_dir] {
        std::fs::create_dir_all(dir).unwrap();
    }
    let tags = format!(
        "tags:\n- cgroup: {}\n  name: on-host\n- container: {}\n  name: in-container\n",
        cgroup.path().display(),
        guest.id
    );
    std::fs::write(
        etc_dir.join("agent.yaml"),
        format!("formats: [text, json]\nmin_interval_seconds: 0\n{tags}"),
    )
    .unwrap();
    let flags = agent_flags(&[
        ("/run/gmr", &run_dir),
        ("/var/lib/gmr", &lib_dir),
        ("/etc/gmr", &etc_dir),
    ]);
    let mut args: Vec<&str> = flags.iter().map(String::as_str).collect();
    args.extend([IMAGE, "run"]);
    let started = Instant::now();
    let Some(agent) = Container::run(&args) else {
        return;
    };
    while !agent.logs().contains("agent ready") {
        assert!(
            started.elapsed() < READY_TIMEOUT,
            "the agent's container did not become ready:\n{}",
            agent.logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    println!("agent container ready in {:.1?}", started.elapsed());
    let (rss, cpu) = idle_usage(agent.host_pid());
    println!("agent in the container, idle: RSS {rss:.1} MB, CPU {cpu:.2}% of a core");

    // Bind-mounted, the socket and the trigger files keep the agent's modes.
    assert_eq!(
        mode(&run_dir.join("agent.sock")),
        (0o600, true),
        "the control socket"
    );
    for name in ["on-host", "in-container"] {
        assert_eq!(
            mode(&run_dir.join(format!("{name}.trigger"))),
            (0o600, false),
            "{name}'s trigger file"
        );
    }

    let reports = lib_dir.join("reports");
    let socket = run_dir.join("agent.sock");
    for (name, pid, sleeper) in [
        ("on-host", host.pid(), host.tid("sleeper")),
        ("in-container", guest_pid, guest_sleeper),
    ] {
        let touched = Instant::now();
        assert!(
            Command::new("touch")
                .arg(run_dir.join(format!("{name}.trigger")))
                .status()
                .unwrap()
                .success()
        );
        let files = wait_for_report_files(&reports, pid, "json", 1, REPORT_TIMEOUT);
        assert_eq!(
            files.len(),
            1,
            "a report on {pid} after the touch: {files:?}\n{}",
            agent.logs()
        );
        println!(
            "{name}: report through the trigger file in {:.1?}",
            touched.elapsed()
        );
        let out = Command::new(agent_binary())
            .args(["trigger", "--socket"])
            .arg(&socket)
            .arg(pid.to_string())
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "gmr-agent trigger {pid}: {said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let written: Vec<PathBuf> = said
            .lines()
            .filter_map(|l| l.strip_prefix(&format!("{pid}: ")))
            .filter_map(|p| p.strip_prefix("/var/lib/gmr/"))
            .map(|p| lib_dir.join(p))
            .collect();
        assert!(
            !written.is_empty() && written.iter().all(|p| p.exists()),
            "the agent names files in its /var/lib/gmr, found in the host's {}: {said}",
            lib_dir.display()
        );
        let files = report_files(&reports, pid, "json");
        assert_eq!(files.len(), 2, "{files:?}");
        for file in files.iter().chain(&report_files(&reports, pid, "txt")) {
            assert_eq!(mode(file), (0o600, false), "{}", file.display());
        }
        for file in &files {
            let report = read_json(file);
            assert_eq!(report["target"]["pid"], pid, "{}", report["target"]);
            let (functions, module) = sleeper_frames(&report, sleeper);
            assert!(
                in_order(&functions, &["sleeper_inner", "sleeper_outer"]),
                "{name}: {functions:?}"
            );
            let package = section(&report, "Package");
            if name == "on-host" {
                assert_eq!(
                    module,
                    program.to_str().unwrap(),
                    "symbolized from the host's file"
                );
                assert_eq!(
                    package["own_mount_namespace"], false,
                    "a host process: {package}"
                );
                assert_eq!(
                    package["executable"],
                    program.to_str().unwrap(),
                    "{package}"
                );
            } else {
                assert_eq!(
                    module, PROGRAM_IN_CONTAINER,
                    "symbolized from the container's root"
                );
                assert_eq!(package["own_mount_namespace"], true, "{package}");
                assert_eq!(package["executable"], PROGRAM_IN_CONTAINER, "{package}");
                assert_eq!(report["target"]["container_id"], guest.id.as_str());
            }
        }
    }
    assert!(host.is_alive(), "the host process lives on");
    assert_eq!(
        guest.inspect("{{.State.Status}}"),
        "running",
        "the container's process lives on"
    );
    let (rss_after, _) = idle_usage(agent.host_pid());
    println!("agent in the container after 4 reports: RSS {rss_after:.1} MB");
    drop(agent);

    // The same tags on the host, for the comparison.
    let host_config = scratch.path().join("host.yaml");
    std::fs::write(
        &host_config,
        format!("min_interval_seconds: 0\n{tags}")
            .replace(
                "  name: on-host\n",
                &format!(
                    "  name: on-host\n  trigger_file: {}/h1.trigger\n",
                    scratch.path().display()
                ),
            )
            .replace(
                "  name: in-container\n",
                &format!(
                    "  name: in-container\n  trigger_file: {}/h2.trigger\n",
                    scratch.path().display()
                ),
            ),
    )
    .unwrap();
    let on_host = RunningAgent::start(&[
        "--config",
        host_config.to_str().unwrap(),
        "--report-dir",
        scratch.path().join("host-reports").to_str().unwrap(),
        "--no-target-stderr",
    ]);
    std::thread::sleep(Duration::from_secs(1));
    let (rss, cpu) = idle_usage(on_host.pid());
    println!("agent on the host, idle: RSS {rss:.1} MB, CPU {cpu:.2}% of a core");
}
