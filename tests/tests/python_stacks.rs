//! Python stacks in reports (`gmr-agent report --pid`) of real CPython
//! processes running `parked_threads.py`: per thread, the Python function
//! names must be those the fixture printed from `sys._current_frames()`,
//! merged into the native stack in place of the eval loop, with lines,
//! source text and the GIL holder. Runs against every interpreter
//! `gmr_tests::python` finds (3.9 to 3.13 and /usr/bin/python3).

use serde_json::Value;

use gmr_tests::{
    CVariant, Fixture,
    agent::{report_json, run_agent, section, thread},
    build_c_fixture,
    python::{PythonUnderTest, find_python3, python_interpreters},
    require_root, workspace_root,
};

/// The fixture script.
fn script() -> String {
    workspace_root()
        .join("tests/fixtures/python/parked_threads.py")
        .display()
        .to_string()
}

/// Starts the fixture under `python`.
fn spawn(python: &PythonUnderTest) -> Fixture {
    Fixture::spawn(&python.path, &[&script(), "--lifetime", "120"], None)
}

/// What the fixture printed about its own threads.
fn printed_stacks(fixture: &Fixture) -> Value {
    let lines = fixture.stdout_lines();
    let json = lines
        .iter()
        .find_map(|line| line.strip_prefix("stacks "))
        .unwrap_or_else(|| panic!("no stacks line in {lines:?}"));
    serde_json::from_str(json).expect("the stacks line is JSON")
}

/// `function` of every frame in `frames` (a JSON array), `kind` checked.
fn names(frames: &Value, kind: &str) -> Vec<String> {
    frames
        .as_array()
        .unwrap_or_else(|| panic!("not a frame array: {frames}"))
        .iter()
        .filter(|frame| frame["kind"] == kind)
        .map(|frame| frame["function"].as_str().unwrap_or("?").to_owned())
        .collect()
}

/// The line of `script()` holding `text`, 1-based.
fn line_of(text: &str) -> u64 {
    let source = std::fs::read_to_string(script()).expect("read the fixture");
    source
        .lines()
        .position(|line| line.trim() == text)
        .unwrap_or_else(|| panic!("{text:?} is not a line of the fixture")) as u64
        + 1
}

fn check(python: &PythonUnderTest) {
    let label = &python.label;
    let fixture = spawn(python);
    let printed = printed_stacks(&fixture);
    let report = report_json(fixture.pid());
    let threads = section(&report, "Threads");
    assert_eq!(threads["python_note"], Value::Null, "{label}: {threads}");
    let version = threads["python"]["version"].as_str().unwrap_or("");
    assert!(version.starts_with("3."), "{label}: version {version:?}");

    let mut gil_holders = Vec::new();
    for expected in printed["threads"].as_array().expect("threads") {
        let role = expected["name"].as_str().expect("name");
        let tid = expected["native_id"].as_u64().expect("native_id") as u32;
        let t = thread(&report, tid);
        let want = expected["functions"]
            .as_array()
            .expect("functions")
            .iter()
            .map(|f| f.as_str().expect("function name").to_owned())
            .collect::<Vec<_>>();
        assert_eq!(
            names(&t["python_frames"], "python"),
            want,
            "{label}: {role}'s Python stack"
        );
        assert_eq!(
            t["python_frames"].as_array().map(Vec::len),
            Some(want.len()),
            "{label}: {role}: only Python frames in python_frames"
        );
        // In the user stack, the Python frames appear in the same order,
        // in place of the eval loop. Only the busy thread may have moved
        // between the native capture and the Python read; then nothing is
        // merged and the note says so (both views are shown as read).
        let merged = names(&t["user_stack"], "python");
        let not_merged = t["python_note"]
            .as_str()
            .is_some_and(|note| note.starts_with("not merged"));
        if role == "busy" && not_merged {
            assert!(merged.is_empty(), "{label}: busy: {merged:?} {t}");
            println!(
                "{label}: busy moved between the reads: {}",
                t["python_note"]
            );
        } else {
            assert_eq!(merged, want, "{label}: {role}'s merged stack");
        }
        assert_eq!(
            t["python_ident"], expected["ident"],
            "{label}: {role}'s threading.get_ident(), as Python logs print it"
        );
        if t["holds_gil"] == true {
            gil_holders.push(role.to_owned());
        }
        if role == "busy" {
            continue;
        }
        assert_eq!(t["holds_gil"], false, "{label}: {role} is parked");
        assert_eq!(t["python_note"], Value::Null, "{label}: {role}: {t}");
        assert!(
            !names(&t["user_stack"], "native")
                .iter()
                .any(|name| name.starts_with("_PyEval_EvalFrameDefault")),
            "{label}: {role}: every eval-loop frame was replaced: {}",
            t["user_stack"]
        );
    }
    assert!(
        gil_holders.len() <= 1
            && gil_holders
                .iter()
                .all(|role| role == "busy" || role == "churn"),
        "{label}: GIL held by {gil_holders:?}"
    );

    let parked = &thread(&report, fixture.tid("event"))["python_frames"];
    let park = parked
        .as_array()
        .expect("frames")
        .iter()
        .find(|frame| frame["function"] == "park_on_event")
        .expect("park_on_event frame");
    assert_eq!(park["file"], script(), "{label}");
    assert_eq!(park["line"], line_of("event.wait()"), "{label}");
    assert_eq!(park["source"], "event.wait()", "{label}");

    let churn = thread(&report, fixture.tid("churn"));
    let churn_names = names(&churn["python_frames"], "python");
    if churn_names.is_empty() {
        // Unreadable while it changed: said so, never a made-up stack.
        let note = churn["python_note"].as_str().unwrap_or("");
        assert!(note.contains("Python stack"), "{label}: {churn}");
    } else {
        let recursion = churn_names.iter().take_while(|n| *n == "churn").count();
        assert_eq!(
            churn_names[recursion..],
            ["worker_churn", "run", "_bootstrap_inner", "_bootstrap"],
            "{label}: the churning thread's stack is a real one"
        );
    }
    println!("{label}: Python {version}: every thread's Python stack matches");
}

#[test]
fn python_stacks_per_thread_match_the_interpreters_own_view() {
    if !require_root() {
        return;
    }
    let pythons = python_interpreters();
    assert!(!pythons.is_empty(), "no CPython 3.9-3.13 at all to test");
    for python in &pythons {
        check(python);
    }
}

#[test]
fn text_report_shows_a_python_stack_block() {
    if !require_root() {
        return;
    }
    let Some(python) = python_interpreters().into_iter().last() else {
        return;
    };
    let fixture = spawn(&python);
    let out = run_agent(&[
        "report",
        "--pid",
        &fixture.pid().to_string(),
        "--format",
        "text",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "Python stack (does not hold the GIL), innermost first:\n  File \"{}\", line {}, in main_park\n    signal.pause()\n",
        script(),
        line_of("signal.pause()")
    );
    assert!(
        text.contains(&expected),
        "{}: no\n{expected}in\n{text}",
        python.label
    );
    assert!(
        text.contains(&format!(
            "  park_on_event ({}:{}) [python]\n",
            script(),
            line_of("event.wait()")
        )),
        "{}: merged frame line missing in\n{text}",
        python.label
    );
}

#[test]
fn a_native_process_has_no_python() {
    if !require_root() {
        return;
    }
    let fixture = Fixture::spawn(&build_c_fixture(CVariant::FramePointer), &[], None);
    let report = report_json(fixture.pid());
    let threads = section(&report, "Threads");
    assert_eq!(threads["python"], Value::Null);
    assert_eq!(threads["python_note"], Value::Null);
    for t in threads["threads"].as_array().expect("threads") {
        assert_eq!(t["python_frames"], Value::Null);
        assert_eq!(t["holds_gil"], Value::Null);
        assert!(
            t["user_stack"]
                .as_array()
                .expect("frames")
                .iter()
                .all(|frame| frame["kind"] == "native"),
            "{t}"
        );
    }
}

/// An interpreter too old to read: the Threads section still has every
/// native stack, and a note says why there are no Python frames.
#[test]
fn an_unsupported_python_gets_a_note_and_native_stacks() {
    if !require_root() {
        return;
    }
    for (minor, says) in [
        (8, "Python 3.8 is not supported"),
        (6, "no _PyRuntime symbol"),
    ] {
        let Some(python) = find_python3(minor) else {
            println!("SKIP: Python 3.{minor}: no python3.{minor} in pyenv or on PATH");
            continue;
        };
        let fixture = spawn(&python);
        let report = report_json(fixture.pid());
        let threads = section(&report, "Threads");
        let note = threads["python_note"].as_str().unwrap_or("");
        assert!(note.contains(says), "{}: note {note:?}", python.label);
        let main = thread(&report, fixture.pid());
        assert!(
            !names(&main["user_stack"], "native").is_empty(),
            "{}: native stack kept: {main}",
            python.label
        );
        assert_eq!(main["python_frames"], Value::Null, "{}", python.label);
    }
}
