//! Faults during capture, through the real agent: targets that exit, exec
//! or churn threads while captured, stacks of garbage, a binary replaced on
//! disk, unreadable /proc entries, a full or read-only report directory, and
//! the agent killed mid-capture. Each time the agent keeps serving, the
//! report says what happened, and the target is never stopped or killed.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, files_for, json_report, report_json, section, thread, user_functions},
    agent_config::AgentConfig,
    build_c_fixture, build_c_program, require_root,
    scratch::{REPORT_TIMEOUT, Scratch, report_files, wait_for_report_files},
};
use serde_json::Value;

/// Starts an agent on [`AgentConfig::service`] in `scratch`.
fn agent(scratch: &Scratch, cgroup: &TestCgroup, extra: &[&str]) -> RunningAgent {
    RunningAgent::with_config(
        scratch.path(),
        &AgentConfig::service(scratch.path(), cgroup.path()),
        extra,
    )
}

fn reports_dir(scratch: &Scratch) -> PathBuf {
    scratch.path().join("reports")
}

/// The section titled `title`, whatever its status.
#[track_caller]
fn any_section<'a>(report: &'a Value, title: &str) -> &'a Value {
    report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == title)
        .unwrap_or_else(|| panic!("no {title} section in {report}"))
}

/// Asserts the agent still makes a full report for a healthy process.
#[track_caller]
fn assert_still_serving(agent: &RunningAgent, healthy: &Fixture) {
    let answer = agent.trigger(&healthy.pid().to_string());
    let files = files_for(&answer, healthy.pid());
    assert!(!files.is_empty(), "{answer}\n{}", agent.log());
    let report = json_report(&files);
    let functions = user_functions(thread(&report, healthy.tid("sleeper")));
    assert!(
        functions.iter().any(|f| f == "sleeper_inner"),
        "{functions:?}"
    );
}

#[test]
fn a_target_that_exits_before_or_during_capture_gets_a_report_saying_so() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("exits");
    let (cgroup, healthy) = Fixture::parked_in_new_cgroup(CVariant::FramePointer, &[]);
    let agent = agent(&scratch, &cgroup, &["--no-target-stderr"]);
    let churn = build_c_program("churn");

    // Exits while the agent is busy with another report: deterministic.
    let big = Fixture::spawn(
        &build_c_fixture(CVariant::FramePointer),
        &["--threads", "1500"],
        Some(&cgroup),
    );
    let mut quitter = Fixture::spawn(&churn, &["--exit-after-ms", "150"], Some(&cgroup));
    let quitter_pid = quitter.pid();
    let busy = {
        let socket = agent.socket().to_path_buf();
        let big_pid = big.pid();
        std::thread::spawn(move || gmr_tests::agent::control_trigger(&socket, &big_pid.to_string()))
    };
    std::thread::sleep(Duration::from_millis(20));
    let answer = agent.trigger(&quitter_pid.to_string());
    assert!(quitter.wait_for_exit(Duration::from_secs(5)).is_some());
    busy.join().unwrap().expect("the big report");
    let report = json_report(&files_for(&answer, quitter_pid));
    let threads = any_section(&report, "Threads");
    println!("exited before capture: {threads}");
    let said = match threads["status"].as_str() {
        Some("failed") => &threads["error"],
        _ => &threads["data"]["note"],
    };
    assert!(
        said.as_str().is_some_and(|s| s.contains("exited")),
        "the report says the process exited: {threads}"
    );

    // Exits at random points while being captured.
    let mut outcomes = Vec::new();
    for round in 0..8 {
        let mut racer = Fixture::spawn(
            &churn,
            &[
                "--batch",
                "200",
                "--exit-after-ms",
                &(40 + 15 * round).to_string(),
            ],
            Some(&cgroup),
        );
        let pid = racer.pid();
        let answer = agent.trigger(&pid.to_string());
        assert!(racer.wait_for_exit(Duration::from_secs(5)).is_some());
        let report = json_report(&files_for(&answer, pid));
        let threads = any_section(&report, "Threads");
        assert_sections_explained(&report);
        assert!(
            !threads["data"]["note"]
                .as_str()
                .is_some_and(|n| n.contains("exec'd")),
            "exiting is not exec'ing: {}",
            threads["data"]["note"]
        );
        outcomes.push(match threads["status"].as_str().unwrap() {
            "ok" => format!(
                "captured {} threads, note {}",
                threads["data"]["threads"].as_array().unwrap().len(),
                threads["data"]["note"]
            ),
            _ => format!("failed: {}", threads["error"]),
        });
    }
    println!("racing exits: {outcomes:#?}");

    // Killed while a long capture runs.
    let extra = 1500;
    for delay_ms in [5, 40, 150] {
        let mut victim = Fixture::spawn(
            &build_c_fixture(CVariant::FramePointer),
            &["--threads", &extra.to_string()],
            Some(&cgroup),
        );
        let pid = victim.pid();
        let pending = {
            let socket = agent.socket().to_path_buf();
            std::thread::spawn(move || gmr_tests::agent::control_trigger(&socket, &pid.to_string()))
        };
        assert!(agent.wait_for_log(&format!("trigger {pid}"), REPORT_TIMEOUT));
        std::thread::sleep(Duration::from_millis(delay_ms));
        victim.signal(libc::SIGKILL);
        assert!(victim.wait_for_exit(Duration::from_secs(5)).is_some());
        let answer = pending.join().unwrap().expect("an answer");
        let report = json_report(&files_for(&answer, pid));
        assert_sections_explained(&report);
        let threads = any_section(&report, "Threads");
        let summary: Vec<String> = report["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}: {} {}", s["title"], s["status"], s["error"]))
            .collect();
        let all = threads["data"]["threads"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let note = &threads["data"]["note"];
        println!(
            "killed {delay_ms} ms in: {} threads, note {note}; {summary:#?}",
            all.len()
        );
        match threads["status"].as_str() {
            Some("failed") => assert!(threads["error"].as_str().unwrap().contains("exited")),
            _ if all.len() < extra + 5 => assert!(
                note.as_str().is_some_and(|n| n.contains("exited")),
                "a partial thread list says why: {threads}"
            ),
            _ => {}
        }
        if let Some(note) = note.as_str() {
            let files = files_for(&answer, pid);
            let text = files
                .iter()
                .find(|f| f.extension().is_some_and(|e| e == "txt"));
            let text = std::fs::read_to_string(text.expect("a text report")).unwrap();
            assert!(
                text.contains(&format!("note: {note}")),
                "the text report says it too"
            );
        }
    }
    assert_still_serving(&agent, &healthy);
    assert!(healthy.is_alive() && big.is_alive());
}

/// Asserts every section is either ok or failed with a reason, and every
/// thread without user frames says why.
#[track_caller]
fn assert_sections_explained(report: &Value) {
    let sections = report["sections"].as_array().unwrap();
    assert!(sections.len() >= 4, "{report}");
    for s in sections {
        match s["status"].as_str() {
            Some("ok") => {}
            Some("failed") => assert!(
                s["error"].as_str().is_some_and(|e| !e.is_empty()),
                "a failed section says why: {s}"
            ),
            other => panic!("section status {other:?}: {s}"),
        }
    }
    let threads = any_section(report, "Threads");
    for t in threads["data"]["threads"].as_array().into_iter().flatten() {
        let has_frames = t["user_stack"].as_array().is_some_and(|f| !f.is_empty());
        assert!(
            has_frames || t["user_stack_note"].is_string(),
            "a thread without user frames says why: {t}"
        );
    }
}

/// The generation an `exec_loop` process is in, from its command line
/// (retried: mid-exec the command line can read as empty).
fn exec_generation(pid: u32) -> Option<u64> {
    let read = || -> Option<u64> {
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
        std::str::from_utf8(args.get(1)?).ok()?.parse().ok()
    };
    (0..100).find_map(|_| {
        read().or_else(|| {
            std::thread::sleep(Duration::from_millis(1));
            None
        })
    })
}

#[test]
fn threads_churning_and_a_process_execing_in_a_loop_are_reported_and_live_on() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("churn");
    let (cgroup, healthy) = Fixture::parked_in_new_cgroup(CVariant::FramePointer, &[]);
    let churn = Fixture::spawn(&build_c_program("churn"), &["--batch", "32"], Some(&cgroup));
    let exec_loop = Fixture::spawn(&build_c_program("exec_loop"), &[], Some(&cgroup));
    let agent = agent(&scratch, &cgroup, &["--no-target-stderr"]);

    let rounds = 15;
    let mut churn_threads = Vec::new();
    let mut exec_threads = Vec::new();
    let mut exec_notes = 0;
    // At least `rounds`, and more (up to 4×) until an exec lands in a report.
    for round in 0.. {
        if round >= rounds && (exec_notes > 0 || round >= 4 * rounds) {
            break;
        }
        for (fixture, seen) in [
            (&churn, &mut churn_threads),
            (&exec_loop, &mut exec_threads),
        ] {
            let answer = agent.trigger(&fixture.pid().to_string());
            let files = files_for(&answer, fixture.pid());
            assert!(!files.is_empty(), "{answer}\n{}", agent.log());
            let report = json_report(&files);
            assert_sections_explained(&report);
            let threads = any_section(&report, "Threads");
            seen.push(threads["data"]["threads"].as_array().map_or(0, Vec::len));
            let exec_noted = threads["data"]["note"]
                .as_str()
                .is_some_and(|n| n.contains("exec'd another program"));
            exec_notes += usize::from(exec_noted);
            let symbolized = threads["data"]["threads"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|t| !user_functions(t).is_empty());
            assert!(
                symbolized || exec_noted || threads["status"] == "failed",
                "unsymbolized stacks say why: {threads}"
            );
        }
    }
    println!("{exec_notes} report(s) noted an exec during the report");
    assert!(
        exec_notes > 0,
        "an exec every 3 ms lands inside some report"
    );
    println!("threads captured per report: churn {churn_threads:?}, exec_loop {exec_threads:?}");
    assert!(
        churn_threads.iter().filter(|&&n| n > 1).count() > rounds / 2,
        "most churn reports catch some of its short-lived threads: {churn_threads:?}"
    );
    assert!(
        churn.is_alive() && exec_loop.is_alive(),
        "the targets live on"
    );
    let before = exec_generation(exec_loop.pid()).expect("exec_loop generation");
    std::thread::sleep(Duration::from_millis(100));
    let after = exec_generation(exec_loop.pid()).expect("exec_loop generation");
    assert!(after > before, "exec_loop still execs: {before} → {after}");
    assert_still_serving(&agent, &healthy);
}

#[test]
fn garbage_frame_pointers_and_wild_stacks_end_with_a_note() {
    if !require_root() {
        return;
    }
    if !cfg!(target_arch = "x86_64") {
        println!("SKIP: the garbage_stack fixture sets x86-64 registers by hand");
        return;
    }
    let scratch = Scratch::new("garbage");
    let cgroup = TestCgroup::create();
    let garbage = Fixture::spawn(&build_c_program("garbage_stack"), &[], Some(&cgroup));
    let agent = agent(&scratch, &cgroup, &["--no-target-stderr"]);

    let check = |report: &Value| {
        assert_sections_explained(report);
        for role in ["smashed", "cycle", "wild"] {
            let t = thread(report, garbage.tid(role));
            let frames = t["user_stack"].as_array().unwrap();
            let note = t["user_stack_note"].as_str().unwrap_or_else(|| {
                panic!("{role}: a stack of garbage is marked as cut short: {t}")
            });
            println!("{role}: {} frame(s), note: {note}", frames.len());
            assert!(
                frames.len() <= 8,
                "{role}: garbage gives no long stack: {t}"
            );
            assert!(!frames.is_empty(), "{role}: at least the pc: {t}");
        }
        let wild = thread(report, garbage.tid("wild"));
        assert!(
            wild["user_stack_note"]
                .as_str()
                .unwrap()
                .contains("could not be copied"),
            "{wild}"
        );
        let smashed = user_functions(thread(report, garbage.tid("smashed")));
        assert_eq!(smashed.first().map(String::as_str), Some("smashed_park"));
        let cycle = thread(report, garbage.tid("cycle"));
        assert!(
            cycle["user_stack"][0]["module"].is_null(),
            "anonymous code: {cycle}"
        );
    };
    // One-shot, then the daemon: by signal (the main thread handles it),
    // by trigger file and by control request.
    check(&report_json(garbage.pid()));
    garbage.signal(libc::SIGUSR2);
    let reports = reports_dir(&scratch);
    let by_signal = wait_for_report_files(&reports, garbage.pid(), "json", 1, REPORT_TIMEOUT);
    assert_eq!(by_signal.len(), 1, "{}", agent.log());
    check(&json_report(&by_signal));
    touch(&scratch.path().join("svc.trigger"));
    let by_file = wait_for_report_files(&reports, garbage.pid(), "json", 2, REPORT_TIMEOUT);
    assert_eq!(by_file.len(), 2, "{}", agent.log());
    check(&json_report(&by_file[1..]));
    check(&json_report(&files_for(
        &agent.trigger("svc"),
        garbage.pid(),
    )));
    assert!(garbage.wait_for_usr2(1, Duration::from_secs(5)));
    assert!(garbage.is_alive());
}

/// Sets the mtime of `file` to now, like `touch`.
fn touch(file: &Path) {
    let status = Command::new("touch").arg(file).status().expect("touch");
    assert!(status.success(), "touch {}", file.display());
}

#[test]
fn a_binary_replaced_or_deleted_on_disk_is_noted_and_still_symbolized() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("replaced");
    let cgroup = TestCgroup::create();
    let installed = scratch.path().join("svc-bin");
    std::fs::copy(build_c_fixture(CVariant::FramePointer), &installed).unwrap();
    let target = Fixture::spawn(&installed, &[], Some(&cgroup));
    let agent = agent(&scratch, &cgroup, &["--no-target-stderr"]);
    let report_now = || json_report(&files_for(&agent.trigger("svc"), target.pid()));

    let check = |report: &Value, deleted: bool| {
        let package = section(report, "Package");
        assert_eq!(package["executable_deleted"], deleted, "{package}");
        let functions = user_functions(thread(report, target.tid("sleeper")));
        assert!(
            functions.iter().any(|f| f == "sleeper_inner"),
            "the running image is symbolized, not the file now at its path: {functions:?}"
        );
    };
    check(&report_now(), false);
    // Replaced: a new binary renamed over the path, as package upgrades do.
    let upgrade = scratch.path().join("svc-bin.new");
    std::fs::copy(build_c_program("exec_loop"), &upgrade).unwrap();
    std::fs::rename(&upgrade, &installed).unwrap();
    let replaced = report_now();
    check(&replaced, true);
    println!("replaced: {}", section(&replaced, "Package"));
    // Deleted outright.
    std::fs::remove_file(&installed).unwrap();
    check(&report_now(), true);
    assert!(target.is_alive());
}

/// A tmpfs mounted at a scratch path, unmounted on drop.
struct TinyMount(PathBuf);

impl TinyMount {
    /// Mounts a `size` tmpfs (e.g. `256k`) at `path`, which it creates.
    #[track_caller]
    fn new(path: &Path, size: &str) -> Self {
        std::fs::create_dir_all(path).unwrap();
        mount(
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "gmr-test",
            ],
            path,
        );
        Self(path.to_path_buf())
    }

    /// Remounts it read-only or read-write.
    #[track_caller]
    fn set_read_only(&self, read_only: bool) {
        let mode = if read_only {
            "remount,ro"
        } else {
            "remount,rw"
        };
        mount(&["-o", mode], &self.0);
    }
}

impl Drop for TinyMount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[track_caller]
fn mount(args: &[&str], target: &Path) {
    let status = Command::new("mount")
        .args(args)
        .arg(target)
        .status()
        .expect("mount");
    assert!(status.success(), "mount {args:?} {}", target.display());
}

/// Fills the filesystem holding `dir` with one file; returns the file.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let filler = dir.join("filler");
    let mut file = std::fs::File::create(&filler).unwrap();
    let block = vec![0u8; 4096];
    while file.write_all(&block).is_ok() {}
    filler
}

#[test]
fn a_full_or_read_only_report_dir_is_logged_and_the_report_still_reaches_stderr() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("fulldir");
    let (cgroup, target) = Fixture::parked_in_new_cgroup(CVariant::FramePointer, &[]);
    let reports = reports_dir(&scratch);
    let tmpfs = TinyMount::new(&reports, "256k");
    let agent = agent(&scratch, &cgroup, &[]);
    let pid = target.pid();
    let tag_dir = reports.join("svc");

    // Full.
    let filler = fill(&reports);
    let answer = agent.trigger(&pid.to_string());
    assert!(files_for(&answer, pid).is_empty(), "{answer}");
    assert!(
        answer.to_string().contains("could not be written"),
        "{answer}"
    );
    let wanted = format!(
        "cannot write the report for {pid} under {}",
        reports.display()
    );
    assert!(
        agent.wait_for_log(&wanted, REPORT_TIMEOUT),
        "{}",
        agent.log()
    );
    assert!(
        agent.log().contains("No space left on device"),
        "{}",
        agent.log()
    );
    assert!(
        target.wait_for_stderr("sleeper_inner", REPORT_TIMEOUT),
        "the report reached the target's stderr anyway"
    );
    assert!(
        report_files(&reports, pid, "txt").is_empty()
            && report_files(&reports, pid, "json").is_empty(),
        "no truncated report is left behind: {:?}",
        std::fs::read_dir(&tag_dir).map(|d| d.count())
    );
    // Space returns: the next report is written whole.
    std::fs::remove_file(&filler).unwrap();
    let files = files_for(&agent.trigger(&pid.to_string()), pid);
    assert_eq!(files.len(), 2, "{}", agent.log());
    assert_eq!(json_report(&files)["target"]["pid"], pid);

    // Read-only.
    tmpfs.set_read_only(true);
    let answer = agent.trigger(&pid.to_string());
    assert!(files_for(&answer, pid).is_empty(), "{answer}");
    assert!(
        agent.wait_for_log("Read-only file system", REPORT_TIMEOUT),
        "{}",
        agent.log()
    );
    tmpfs.set_read_only(false);
    let files = files_for(&agent.trigger(&pid.to_string()), pid);
    assert_eq!(files.len(), 2, "{}", agent.log());
    assert_eq!(
        report_files(&reports, pid, "txt").len(),
        2,
        "the two reports written, none of the failed ones"
    );
    assert!(target.is_alive());
}

/// The state letters of every thread of `pid`.
fn thread_states(pid: u32) -> Vec<char> {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|task| std::fs::read_to_string(task.path().join("stat")).ok())
        .filter_map(|stat| stat.rsplit_once(')')?.1.trim_start().chars().next())
        .collect()
}

#[test]
fn the_agent_killed_mid_capture_leaves_the_target_running_and_restarts_cleanly() {
    if !require_root() {
        return;
    }
    let scratch = Scratch::new("killed");
    let cgroup = TestCgroup::create();
    let extra = 2000;
    let big = Fixture::spawn(
        &build_c_fixture(CVariant::FramePointer),
        &["--threads", &extra.to_string()],
        Some(&cgroup),
    );
    let pid = big.pid();
    let config = AgentConfig::service(scratch.path(), cgroup.path()).write(scratch.path());
    let socket = scratch.path().join("agent.sock");
    let args = ["--config", config.to_str().unwrap(), "--no-target-stderr"];
    let mut agent = RunningAgent::start_at(&socket, &args);

    // How long a warm report of this process takes, to kill the next ones
    // at several points of it.
    let files = files_for(&agent.trigger(&pid.to_string()), pid);
    assert!(!files.is_empty(), "{}", agent.log());
    let started = Instant::now();
    agent.trigger(&pid.to_string());
    let full = started.elapsed();
    let mut cut = 0;
    for divisor in [20, 8, 3] {
        let pending = {
            let socket = socket.clone();
            std::thread::spawn(move || gmr_tests::agent::control_trigger(&socket, &pid.to_string()))
        };
        assert!(agent.wait_for_log(&format!("trigger {pid}"), REPORT_TIMEOUT));
        std::thread::sleep(full / divisor);
        agent.kill_now();
        let died = pending.join().unwrap().is_err();
        println!(
            "a report takes {full:?}; killed the agent {:?} into the next: {}",
            full / divisor,
            if died { "cut short" } else { "it had finished" }
        );
        cut += usize::from(died);
        let states = thread_states(pid);
        assert_eq!(states.len(), extra + 5, "every thread is still there");
        assert!(
            states.iter().all(|s| matches!(s, 'S' | 'R')),
            "no thread stopped or dead: {states:?}"
        );
        // A new agent on the same socket, trigger file and report directory.
        agent = RunningAgent::start_at(&socket, &args);
    }
    assert!(cut > 0, "at least one kill landed mid-report");
    let report = json_report(&files_for(&agent.trigger(&pid.to_string()), pid));
    let threads = section(&report, "Threads")["threads"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(threads, extra + 5, "a full report after the restarts");
    let reports = reports_dir(&scratch);
    let before = report_files(&reports, pid, "json").len();
    touch(&scratch.path().join("svc.trigger"));
    let after = wait_for_report_files(&reports, pid, "json", before + 1, REPORT_TIMEOUT);
    assert_eq!(after.len(), before + 1, "{}", agent.log());
    for file in &after {
        let text = std::fs::read_to_string(file).unwrap();
        assert!(
            serde_json::from_str::<Value>(&text).is_ok(),
            "no truncated report was left: {}",
            file.display()
        );
    }
    assert!(big.is_alive());
}

/// `gmr-agent report --pid PID --format json` run in a private mount
/// namespace where an empty read-only tmpfs hides each of `hidden` (paths
/// below `/proc/PID`, `""` for the whole directory), as a hardened procfs
/// (hidepid, an LSM) would. The host's /proc is untouched.
#[track_caller]
fn report_with_hidden_proc(pid: u32, hidden: &[&str]) -> Value {
    let mut script = String::from("set -e\n");
    for entry in hidden {
        let path = format!("/proc/{pid}/{entry}");
        if Path::new(&path).is_dir() {
            script += &format!("mount -t tmpfs -o ro,size=4k gmr-hidden {path}\n");
        } else {
            script += &format!("mount --bind /dev/null {path}\n");
        }
    }
    script += &format!("exec \"$0\" report --pid {pid} --format json\n");
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script])
        .arg(gmr_tests::agent::agent_binary())
        .output()
        .expect("unshare");
    assert!(
        out.status.success(),
        "report with {hidden:?} hidden failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the JSON report parses")
}

#[test]
fn unreadable_proc_entries_fail_only_the_parts_that_need_them() {
    if !require_root() {
        return;
    }
    let target = Fixture::spawn(&build_c_fixture(CVariant::FramePointer), &[], None);
    let pid = target.pid();
    for hidden in [
        &["map_files"][..],
        &["maps", "map_files"],
        &["environ", "cmdline", "exe"],
        &[""],
    ] {
        let report = report_with_hidden_proc(pid, hidden);
        assert_sections_explained(&report);
        let summary: Vec<String> = report["sections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| format!("{}: {} {}", s["title"], s["status"], s["error"]))
            .collect();
        println!("hidden {hidden:?}: {summary:#?}");
        // The eBPF capture needs no /proc: every thread is there with its
        // kernel stack, whatever is hidden.
        let threads = section(&report, "Threads");
        assert_eq!(threads["threads"].as_array().unwrap().len(), 5, "{threads}");
        let sleeper = thread(&report, target.tid("sleeper"));
        assert!(
            !sleeper["kernel_stack"].as_array().unwrap().is_empty(),
            "{sleeper}"
        );
        if hidden == [""] {
            assert!(
                sleeper["user_stack_note"]
                    .as_str()
                    .is_some_and(|n| n.contains("maps") && n.contains("unsymbolized")),
                "the thread says why its stack is bare: {sleeper}"
            );
            for title in ["Processes", "Configuration"] {
                let failed = any_section(&report, title);
                assert!(
                    failed["error"]
                        .as_str()
                        .is_some_and(|e| e.contains("hidden")),
                    "{title} says the process is hidden, not gone: {failed}"
                );
            }
        }
    }
    assert!(target.is_alive());
}
