//! One-shot reports (`gmr-agent report --pid`) on the parked fixtures
//! (C at -O2 with and without frame pointers, -O3, LTO, static glibc; C++
//! at -O2, -O3, LTO and without debug info; Rust release): each parked
//! thread shows its functions in order, and the stacks agree with gdb's on the same process, gdb's tail-call frames
//! included, with no tail-call frame gdb lacks. C++ names must equal gdb's
//! verbatim (qualified inlined functions, libiberty's literals). A second
//! one-shot (call sites from the per-boot cache) shows the same tail-call
//! frames.

use std::path::Path;

use gmr_tests::{
    CVariant, Fixture, Names,
    agent::{in_order, report_json, section, thread, user_functions},
    build_c_fixture, build_cpp_fixture, build_rust_fixture,
    expect::{C_MAIN, C_THREADS, Expectation, RUST_MAIN, RUST_THREADS},
    gdb_backtraces, match_ratio_by, require_root, strip_debug,
};

/// The share of gdb's named frames (its tail-call frames included) the
/// report must contain, in order.
const MIN_GDB_MATCH: f64 = 0.99;

/// The functions of a thread's tail-call frames, innermost first.
fn tail_call_frames(thread: &serde_json::Value) -> Vec<String> {
    thread["user_stack"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|frame| frame["tail_call"] == true)
        .map(|frame| frame["function"].to_string())
        .collect()
}

fn check(label: &str, program: &Path, threads: &[Expectation], main: &[&str], names: Names) {
    let fixture = Fixture::spawn(program, &[], None);
    let report = report_json(fixture.pid());

    assert_eq!(report["target"]["pid"], fixture.pid());
    assert_eq!(report["trigger"]["kind"], "request");
    let titles: Vec<&str> = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["Package", "Threads", "Processes", "Configuration"],
        "{label}: oslo's section order"
    );
    let package = section(&report, "Package");
    assert_eq!(package["executable"], program.to_str().unwrap(), "{label}");
    assert!(
        package["build_id"]
            .as_str()
            .is_some_and(|id| id.len() == 40),
        "{label}: {package}"
    );

    for &(role, name, frames) in threads {
        let t = thread(&report, fixture.tid(role));
        assert_eq!(t["name"], name, "{label}: {role}");
        let functions = user_functions(t);
        assert!(
            in_order(&functions, frames),
            "{label}: {role} should show {frames:?}, got {functions:?}"
        );
        assert!(
            !t["kernel_stack"].as_array().unwrap().is_empty()
                || t["on_cpu"] == true
                || role == "spinner",
            "{label}: {role} is blocked in the kernel, so it has kernel frames: {t}"
        );
    }
    let main_thread = thread(&report, fixture.pid());
    let functions = user_functions(main_thread);
    assert!(
        in_order(&functions, main),
        "{label}: main should show {main:?}, got {functions:?}"
    );

    let gdb = gdb_backtraces(fixture.pid()).expect("gdb");
    let score = match_ratio_by(&gdb, &report, names);
    println!("{label}: frames matching gdb by name\n{score}");
    println!(
        "| {label} | gdb frames {} | gdb tail-call frames {} | matched {}/{} | {:.3} |",
        gdb.iter().map(|t| t.frames.len()).sum::<usize>(),
        score.tail_calls(),
        score.matched(),
        score.total(),
        score.ratio()
    );
    let invented = score.invented_tail_calls();
    assert!(
        invented.is_empty(),
        "{label}: tail-call frames gdb does not show: {invented:?}\n{score}"
    );
    // The second one-shot takes the call sites from the per-boot cache.
    let again = report_json(fixture.pid());
    // The spinner runs on, so its stack may differ.
    for &(role, _, _) in threads.iter().filter(|&&(role, _, _)| role != "spinner") {
        let tid = fixture.tid(role);
        assert_eq!(
            tail_call_frames(thread(&again, tid)),
            tail_call_frames(thread(&report, tid)),
            "{label}: {role}'s tail-call frames in a second one-shot"
        );
    }
    assert!(
        score.ratio() >= MIN_GDB_MATCH,
        "{label}: only {}/{} of gdb's frames found\n{score}",
        score.matched(),
        score.total()
    );
}

#[test]
fn c_without_frame_pointers() {
    if require_root() {
        check(
            "C -O2 -fomit-frame-pointer",
            &build_c_fixture(CVariant::NoFramePointer),
            C_THREADS,
            C_MAIN,
            Names::CxxExact,
        );
    }
}

#[test]
fn c_with_frame_pointers() {
    if require_root() {
        check(
            "C -O2 -fno-omit-frame-pointer",
            &build_c_fixture(CVariant::FramePointer),
            C_THREADS,
            C_MAIN,
            Names::CxxExact,
        );
    }
}

#[test]
fn c_o3() {
    if require_root() {
        check(
            "C -O3",
            &build_c_fixture(CVariant::O3),
            C_THREADS,
            C_MAIN,
            Names::CxxExact,
        );
    }
}

#[test]
fn c_lto() {
    if require_root() {
        check(
            "C -O2 -flto",
            &build_c_fixture(CVariant::Lto),
            C_THREADS,
            C_MAIN,
            Names::CxxExact,
        );
    }
}

#[test]
fn c_static_glibc() {
    if require_root() {
        check(
            "C -O2 -static",
            &build_c_fixture(CVariant::Static),
            C_THREADS,
            C_MAIN,
            Names::CxxExact,
        );
    }
}

/// The C++ fixture's parked threads and main, by normalized name.
const CPP_THREADS: &[Expectation] = &[
    ("waiter", "waiter", &["wait", "wait_forever"]),
    ("sleeper", "sleeper", &["sleep_for", "sleep_forever"]),
];
const CPP_MAIN: &[&str] = &["join", "main"];

#[test]
fn cpp_o2_o3_lto() {
    if require_root() {
        for (name, flags) in [
            ("parked-cpp-o2", &["-O2"][..]),
            ("parked-cpp-o3", &["-O3"][..]),
            ("parked-cpp-lto", &["-O2", "-flto"][..]),
        ] {
            check(
                &format!("C++ {}", flags.join(" ")),
                &build_cpp_fixture(name, flags),
                CPP_THREADS,
                CPP_MAIN,
                Names::CxxExact,
            );
        }
    }
}

/// The C++ fixture without debug info: gdb and gmr name its functions
/// from the symbol table, demangled whole (a template's return type
/// included, `[clone .isra.0]` kept).
const CPP_SYMTAB_THREADS: &[Expectation] = &[
    (
        "waiter",
        "waiter",
        &["pthread_cond_wait", "wait_forever() [clone .isra.0]"],
    ),
    ("sleeper", "sleeper", &["nanosleep", "sleep_forever"]),
];

#[test]
fn cpp_symbol_table_only() {
    if require_root() {
        let program = strip_debug(
            &build_cpp_fixture("parked-cpp-o2", &["-O2"]),
            "parked-cpp-o2-symtab",
        );
        check(
            "C++ -O2, symbol table only",
            &program,
            CPP_SYMTAB_THREADS,
            CPP_MAIN,
            Names::CxxExact,
        );
    }
}

#[test]
fn rust_release() {
    if require_root() {
        check(
            "Rust release",
            &build_rust_fixture(),
            RUST_THREADS,
            RUST_MAIN,
            Names::Normalized,
        );
    }
}
