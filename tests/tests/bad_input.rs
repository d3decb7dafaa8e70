//! Bad targets for `gmr-agent report`: each gives a clear error or a report
//! that says what is missing — never a panic, never a harmed target.

use std::{
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use gmr_tests::{
    CVariant, Fixture,
    agent::{in_order, report_json, run_agent, section, thread, user_functions},
    build_c_fixture, require_root,
};

#[test]
fn nonexistent_pid_is_a_clear_error() {
    if !require_root() {
        return;
    }
    let out = run_agent(&["report", "--pid", "999999999"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("process 999999999 does not exist"),
        "{stderr}"
    );
}

#[test]
fn kernel_thread_has_kernel_stack_and_says_why_no_user_stack() {
    if !require_root() {
        return;
    }
    let report = report_json(2);
    let kthreadd = thread(&report, 2);
    assert!(
        !kthreadd["kernel_stack"].as_array().unwrap().is_empty(),
        "{kthreadd}"
    );
    assert!(kthreadd["user_stack"].as_array().unwrap().is_empty());
    assert!(
        kthreadd["user_stack_note"]
            .as_str()
            .unwrap()
            .contains("kernel thread"),
        "{kthreadd}"
    );
}

#[test]
fn zombie_is_reported_as_such() {
    if !require_root() {
        return;
    }
    let mut parent = Command::new("python3")
        .args(["-c", "import os,time\npid=os.fork()\nif pid==0: os._exit(0)\nprint(pid, flush=True)\ntime.sleep(60)"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(parent.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let zombie: u32 = line.trim().parse().unwrap();
    std::thread::sleep(Duration::from_millis(200));

    let report = report_json(zombie);
    let t = thread(&report, zombie);
    assert_eq!(t["state"], "Z (zombie)", "{t}");
    assert!(t["user_stack"].as_array().unwrap().is_empty(), "{t}");
    let _ = parent.kill();
    let _ = parent.wait();
}

#[test]
fn deleted_binary_still_symbolizes_and_says_deleted() {
    if !require_root() {
        return;
    }
    let copy = std::env::temp_dir().join(format!("gmr-deleted-{}", std::process::id()));
    std::fs::copy(build_c_fixture(CVariant::NoFramePointer), &copy).unwrap();
    let fixture = Fixture::spawn(&copy, &[], None);
    std::fs::remove_file(&copy).unwrap();

    let report = report_json(fixture.pid());
    assert_eq!(section(&report, "Package")["executable_deleted"], true);
    let sleeper = user_functions(thread(&report, fixture.tid("sleeper")));
    assert!(
        in_order(&sleeper, &["nanosleep", "sleeper_inner", "sleeper_outer"]),
        "{sleeper:?}"
    );
}

#[test]
fn binary_in_another_mount_namespace_symbolizes() {
    if !require_root() {
        return;
    }
    let hidden = std::env::temp_dir().join(format!("gmr-mntns-{}", std::process::id()));
    std::fs::create_dir_all(&hidden).unwrap();
    let program = build_c_fixture(CVariant::NoFramePointer);
    let script = format!(
        "mount -t tmpfs gmr {dir} && cp {prog} {dir}/private-parked && exec {dir}/private-parked",
        dir = hidden.display(),
        prog = program.display()
    );
    let fixture = Fixture::spawn(
        Path::new("/usr/bin/unshare"),
        &["-m", "--propagation", "private", "sh", "-c", &script],
        None,
    );
    assert!(
        !hidden.join("private-parked").exists(),
        "the binary is invisible from here"
    );

    let report = report_json(fixture.pid());
    let sleeper = user_functions(thread(&report, fixture.tid("sleeper")));
    assert!(
        in_order(&sleeper, &["nanosleep", "sleeper_inner", "sleeper_outer"]),
        "{sleeper:?}"
    );
    assert!(
        section(&report, "Package")["build_id"].is_string(),
        "build-id read via /proc/PID/exe"
    );
    drop(fixture);
    let _ = std::fs::remove_dir(&hidden);
}

#[test]
fn processes_that_exit_around_the_capture_never_crash_the_agent() {
    if !require_root() {
        return;
    }
    for _ in 0..20 {
        let child = Command::new("sleep").arg("0.01").spawn().unwrap();
        let out = run_agent(&[
            "report",
            "--pid",
            &child.id().to_string(),
            "--format",
            "json",
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{stderr}");
        if out.status.success() {
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("valid JSON");
            assert_eq!(
                report["sections"].as_array().unwrap().len(),
                4,
                "a partial report keeps every section"
            );
        } else {
            assert!(
                stderr.contains("does not exist") || stderr.contains("exited"),
                "{stderr}"
            );
        }
        let mut child = child;
        let _ = child.wait();
    }
}
