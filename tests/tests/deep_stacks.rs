//! Deep stacks: a 10,000-frame recursion on the main thread and on a
//! pthread unwinds to the thread's start, frame for frame as gdb sees it;
//! a small `--max-stack-bytes` cuts it and the report says which limit did;
//! shallow stacks copy only the few pages they use.

use std::{
    fs,
    process::Command,
    thread::sleep,
    time::{Duration, Instant},
};

use gmr_tests::{
    CVariant, Fixture, GdbThread,
    agent::{agent_binary, report_json, run_agent, thread, user_functions},
    build_c_fixture, build_c_program, gdb_backtraces, normalize_name, require_root,
};
use serde_json::Value;

/// Frames of `descend` per thread in the fixture.
const DEPTH: usize = 10_000;
/// Frames of `descend` per thread whose stacks (32 bytes a frame at -O2:
/// 6 MiB, within the default 8 MiB stack) each outgrow the capture's 4 MiB
/// ring buffer.
const RING_DEPTH: usize = 200_000;

/// Starts `deep` with `depth` frames per thread and waits until both
/// threads block in `read` at the bottom (the last one to park prints the
/// ready line just before).
fn deep_fixture(depth: usize) -> Fixture {
    let fixture = Fixture::spawn(
        &build_c_program("deep"),
        &["--depth", &depth.to_string()],
        None,
    );
    for role in ["main", "digger"] {
        let path = format!("/proc/{}/task/{}/syscall", fixture.pid(), fixture.tid(role));
        let deadline = Instant::now() + Duration::from_secs(10);
        while !fs::read_to_string(&path).is_ok_and(|s| s.starts_with("0 ")) {
            assert!(Instant::now() < deadline, "{role} never blocked in read");
            sleep(Duration::from_millis(10));
        }
    }
    fixture
}

/// gdb's named frames for `tid`, normalized, innermost first.
#[track_caller]
fn gdb_frames(gdb: &[GdbThread], tid: u32) -> Vec<String> {
    let thread = gdb
        .iter()
        .find(|t| t.tid == tid)
        .unwrap_or_else(|| panic!("gdb shows no thread {tid}"));
    thread
        .frames
        .iter()
        .enumerate()
        .filter(|(index, _)| !thread.tail_call_frames.contains(index))
        .map(|(_, frame)| normalize_name(frame))
        .filter(|name| name != "??")
        .collect()
}

/// How many of `wanted` occur in `names` in order (a greedy subsequence
/// match, linear: the quadratic matcher of `gmr_tests::gdb` would need
/// 10,000² cells here).
fn matched_in_order(names: &[String], wanted: &[String]) -> usize {
    let mut names = names.iter();
    wanted.iter().take_while(|w| names.any(|n| n == *w)).count()
}

#[test]
fn ten_thousand_frames_unwind_to_the_threads_start_as_gdb_sees_them() {
    if !require_root() {
        return;
    }
    let fixture = deep_fixture(DEPTH);
    let started = Instant::now();
    let report = report_json(fixture.pid());
    let took = started.elapsed();
    let gdb = gdb_backtraces(fixture.pid()).expect("gdb backtraces");
    for (role, outermost) in [
        ("main", &["main", "_start"][..]),
        ("digger", &["dig", "start_thread", "clone3"][..]),
    ] {
        let tid = fixture.tid(role);
        let ours_thread = thread(&report, tid);
        let ours = user_functions(ours_thread);
        let reference = gdb_frames(&gdb, tid);
        let descends = ours.iter().filter(|n| *n == "descend").count();
        let matched = matched_in_order(&ours, &reference);
        println!(
            "{role}: {} frames ours, {} named frames gdb, {matched} matched in order, \
             {descends} descend, report in {took:.2?}, note {}",
            ours.len(),
            reference.len(),
            ours_thread["user_stack_note"]
        );
        assert!(
            descends > DEPTH,
            "{role}: only {descends} of {} descend frames; note: {}",
            DEPTH + 1,
            ours_thread["user_stack_note"]
        );
        assert!(
            reference.iter().filter(|n| *n == "descend").count() > DEPTH,
            "gdb sees the recursion too"
        );
        assert_eq!(
            matched,
            reference.len(),
            "{role}: gdb's frame {:?} (#{matched}) is missing from ours",
            reference.get(matched)
        );
        let tail: Vec<&str> = ours
            .iter()
            .rev()
            .take(outermost.len() + 2)
            .map(String::as_str)
            .collect();
        for name in outermost.iter().map(|name| normalize_name(name)) {
            assert!(
                tail.contains(&name.as_str()),
                "{role}: the stack ends {tail:?}, not at {name}"
            );
        }
        assert_eq!(
            ours_thread["user_stack_note"],
            Value::Null,
            "{role}: the stack is complete"
        );
    }
}

/// A 64 KiB cap cuts both 320 KiB stacks, and each note names the cap with
/// its numbers; a cap outside the accepted range is refused, naming the key.
#[test]
fn a_small_cap_cuts_the_stack_and_the_note_names_it() {
    if !require_root() {
        return;
    }
    let fixture = deep_fixture(DEPTH);
    let out = run_agent(&[
        "report",
        "--pid",
        &fixture.pid().to_string(),
        "--format",
        "json",
        "--max-stack-bytes",
        "65536",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    for role in ["main", "digger"] {
        let ours = thread(&report, fixture.tid(role));
        let note = ours["user_stack_note"].as_str().unwrap_or_default();
        println!("{role}: {note}");
        assert!(
            note.contains("beyond the 64 KiB copied")
                && note.contains("the 64 KiB cap (max_stack_bytes)"),
            "{role}: {note}"
        );
        assert!(user_functions(ours).len() < DEPTH, "{role} was cut");
    }
    let bad = run_agent(&[
        "report",
        "--pid",
        &fixture.pid().to_string(),
        "--max-stack-bytes",
        "100",
    ]);
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        !bad.status.success() && stderr.contains("max_stack_bytes") && stderr.contains("100"),
        "{stderr}"
    );
}

/// Each stack is larger than the ring buffer: the iterator sends it over
/// several reads, the agent draining the ring in between, and the report
/// still has every frame.
#[test]
fn stacks_larger_than_the_ring_buffer_arrive_whole() {
    if !require_root() {
        return;
    }
    let fixture = deep_fixture(RING_DEPTH);
    let started = Instant::now();
    let report = report_json(fixture.pid());
    println!(
        "report on 2 × {RING_DEPTH} frames in {:.2?}",
        started.elapsed()
    );
    for (role, outermost) in [("main", "start"), ("digger", "clone3")] {
        let ours_thread = thread(&report, fixture.tid(role));
        let ours = user_functions(ours_thread);
        let descends = ours.iter().filter(|n| *n == "descend").count();
        println!(
            "{role}: {} frames, {descends} descend, ends {:?}",
            ours.len(),
            ours.last()
        );
        assert!(
            descends > RING_DEPTH,
            "{role}: {descends}; note {}",
            ours_thread["user_stack_note"]
        );
        assert_eq!(ours.last().map(String::as_str), Some(outermost), "{role}");
        assert_eq!(ours_thread["user_stack_note"], Value::Null, "{role}");
    }
}

#[test]
fn shallow_stacks_copy_only_the_pages_they_use() {
    if !require_root() {
        return;
    }
    let fixture = Fixture::spawn(&build_c_fixture(CVariant::FramePointer), &[], None);
    let out = Command::new(agent_binary())
        .args([
            "report",
            "--pid",
            &fixture.pid().to_string(),
            "--format",
            "json",
        ])
        .env("RUST_LOG", "gmr_userspace::capture=debug")
        .output()
        .expect("run gmr-agent");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    let line = log
        .lines()
        .find(|l| l.contains(" stack pages ("))
        .unwrap_or_else(|| panic!("no capture summary in the log:\n{log}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let number_before = |word: &str| -> usize {
        let at = words
            .iter()
            .position(|w| *w == word)
            .unwrap_or_else(|| panic!("{line}"));
        words[at - 1]
            .trim_end_matches(':')
            .parse()
            .unwrap_or_else(|_| panic!("{line}"))
    };
    let threads = number_before("threads");
    let pages = number_before("stack");
    println!("{line}");
    println!(
        "{pages} pages for {threads} threads; a fixed 8-page window would take {}",
        threads * 8
    );
    assert!(
        pages < threads * 4,
        "parked threads use a page or two of stack each, not {pages} pages for {threads}"
    );
    assert_eq!(
        thread(&report_json(fixture.pid()), fixture.tid("sleeper"))["user_stack_note"],
        Value::Null
    );
}
