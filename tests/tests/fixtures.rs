//! Self-test of the test support: the fixtures build, park where they say,
//! count SIGUSR2, live in their cgroup, and gdb's backtraces parse.

use std::path::Path;
use std::time::Duration;

use gmr_tests::{
    CVariant, Fixture, GdbThread, TestCgroup, build_c_fixture, build_rust_fixture,
    expect::{C_MAIN, C_THREADS, Expectation, RUST_MAIN, RUST_THREADS},
    gdb_backtraces, require_root,
};

/// Runs `program` in a fresh cgroup, checks the SIGUSR2 protocol and the
/// cgroup membership, and checks gdb sees each thread parked as expected.
fn check_fixture(label: &str, program: &Path, threads: &[Expectation], main_frames: &[&str]) {
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(program, &[], Some(&cgroup));
    assert_eq!(
        cgroup.processes(),
        [fixture.pid()],
        "{label}: cgroup members"
    );

    fixture.signal(libc::SIGUSR2);
    assert!(
        fixture.wait_for_usr2(1, Duration::from_secs(5)),
        "{label}: no `usr2 count=1`; stderr:\n{}",
        fixture.stderr_contents()
    );

    let gdb = gdb_backtraces(fixture.pid()).expect("gdb backtraces");
    print_backtraces(label, &gdb);
    assert_eq!(gdb.len(), threads.len() + 1, "{label}: gdb thread count");
    for &(role, name, frames) in threads {
        let thread = gdb_thread(&gdb, fixture.tid(role));
        assert_eq!(
            thread.name.as_deref(),
            Some(name),
            "{label}: name of {role}"
        );
        assert!(
            thread.has_frames_in_order(frames),
            "{label}: {role} should show {frames:?} in order, gdb has {:?}",
            thread.frames
        );
    }
    let main = gdb_thread(&gdb, fixture.pid());
    assert!(
        main.has_frames_in_order(main_frames),
        "{label}: main should show {main_frames:?} in order, gdb has {:?}",
        main.frames
    );
    assert_eq!(
        fixture.usr2_count(),
        1,
        "{label}: gdb must not trigger SIGUSR2"
    );
}

#[track_caller]
fn gdb_thread(gdb: &[GdbThread], tid: u32) -> &GdbThread {
    gdb.iter()
        .find(|t| t.tid == tid)
        .unwrap_or_else(|| panic!("gdb did not report tid {tid}: {gdb:?}"))
}

fn print_backtraces(label: &str, gdb: &[GdbThread]) {
    println!("gdb backtraces of {label}:");
    for thread in gdb {
        println!(
            "  {} {:?}: {}",
            thread.tid,
            thread.name.as_deref().unwrap_or("?"),
            thread.frames.join(" <- ")
        );
    }
}

#[test]
fn c_fixture_without_frame_pointers() {
    if !require_root() {
        return;
    }
    let program = build_c_fixture(CVariant::NoFramePointer);
    check_fixture("C -fomit-frame-pointer", &program, C_THREADS, C_MAIN);
}

#[test]
fn c_fixture_with_frame_pointers() {
    if !require_root() {
        return;
    }
    let program = build_c_fixture(CVariant::FramePointer);
    check_fixture("C -fno-omit-frame-pointer", &program, C_THREADS, C_MAIN);
}

#[test]
fn rust_fixture() {
    if !require_root() {
        return;
    }
    let program = build_rust_fixture();
    check_fixture("Rust release", &program, RUST_THREADS, RUST_MAIN);
}

#[test]
fn c_fixture_extra_threads_and_ignored_usr2() {
    if !require_root() {
        return;
    }
    let program = build_c_fixture(CVariant::NoFramePointer);
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(
        &program,
        &["--threads", "3", "--ignore-usr2"],
        Some(&cgroup),
    );

    assert_eq!(fixture.tids().len(), 7, "roles: {:?}", fixture.tids());
    let tasks = std::fs::read_dir(format!("/proc/{}/task", fixture.pid()))
        .expect("read task dir")
        .count();
    assert_eq!(tasks, 8, "main + 4 roles + 3 extras");
    for i in 0..3 {
        let role = format!("extra-{i}");
        let comm_path = format!("/proc/{}/task/{}/comm", fixture.pid(), fixture.tid(&role));
        let comm = std::fs::read_to_string(&comm_path).expect("read comm");
        assert_eq!(comm.trim(), role);
    }

    fixture.signal(libc::SIGUSR2);
    assert!(
        !fixture.wait_for_usr2(1, Duration::from_millis(500)),
        "SIGUSR2 should be ignored"
    );
    let status = std::fs::read_to_string(format!("/proc/{}/status", fixture.pid()))
        .expect("fixture still running");
    assert!(!status.contains("State:\tZ"), "fixture died: {status}");
}
