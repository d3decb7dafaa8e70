//! The Green Threads section against real interpreters: an eventlet (and a
//! gevent) service with greenlets parked in known functions and an asyncio service with
//! pending tasks, each printing its own stacks (gr_frame, cr_await), are
//! reported on with `gmr-agent report`, and every greenlet and task the
//! fixture printed must be in the report with the same frames (function,
//! file, line), found by its address. The version matrix runs greenlets in
//! two OS threads, each with its own hub: every greenlet must name the
//! thread (tid and Python ident) it found itself running in, and each
//! thread's hub must be marked as the hub and as the greenlet the thread
//! runs.
//!
//! Every CPython 3.9 to 3.13 (pyenv, else on PATH) and the system's
//! python3 is tried;
//! greenlet and eventlet are installed per interpreter with pip into
//! `target/pydeps/<interpreter>` once (later runs reuse it). An interpreter
//! that is missing, or that cannot install the packages, is skipped with
//! the reason printed.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use gmr_tests::agent::{report_json, section};
use gmr_tests::python::{PythonUnderTest, find_python3, pip_packages, python_interpreters};
use gmr_tests::{Fixture, require_root, workspace_root};
use serde_json::Value;

const TITLE: &str = "Green Threads";

/// The fixture script `name`.
fn fixture(name: &str) -> String {
    workspace_root()
        .join("tests/fixtures/python")
        .join(name)
        .display()
        .to_string()
}

/// A directory with greenlet and eventlet for `python`, installed with pip
/// on first use; `None` (with the reason printed) when pip cannot.
fn green_deps(label: &str, python: &Path) -> Option<PathBuf> {
    green_deps_with(label, python, "greenlet")
}

/// Like [`green_deps`], with `greenlet` the pip requirement for greenlet
/// (`greenlet==2.0.2`); `label` names the directory, so it must tell the
/// requirement apart.
fn green_deps_with(label: &str, python: &Path, greenlet: &str) -> Option<PathBuf> {
    let dir_name: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    pip_packages(
        python,
        dir_name.trim_matches('-'),
        label,
        &[greenlet, "eventlet"],
    )
}

/// Runs `test` with each interpreter that could install greenlet and
/// eventlet (its label, path and packages directory); says so when none
/// could.
fn for_each_green_python(mut test: impl FnMut(&str, &Path, &Path)) {
    let mut tested = 0;
    for PythonUnderTest { label, path } in python_interpreters() {
        let Some(deps) = green_deps(&label, &path) else {
            continue;
        };
        test(&label, &path, &deps);
        tested += 1;
    }
    if tested == 0 {
        println!("SKIP: no interpreter could install greenlet and eventlet");
    }
}

/// What the fixture printed about itself on its `stacks` line.
#[track_caller]
fn printed_stacks(fixture: &Fixture) -> Value {
    let lines = fixture.stdout_lines();
    let line = lines
        .iter()
        .find_map(|line| line.strip_prefix("stacks "))
        .unwrap_or_else(|| panic!("the fixture printed no stacks line: {lines:?}"));
    serde_json::from_str(line).expect("the stacks line is JSON")
}

/// `(function, file, line)` of each frame, innermost first.
fn frames(frames: &Value) -> Vec<(String, String, u64)> {
    frames
        .as_array()
        .expect("frames array")
        .iter()
        .map(|f| {
            (
                f["function"].as_str().unwrap_or("?").to_owned(),
                f["file"].as_str().unwrap_or("?").to_owned(),
                f["line"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// The entry of `list` whose address is `address`.
#[track_caller]
fn by_address<'a>(list: &'a Value, address: &Value, what: &str) -> &'a Value {
    list.as_array()
        .expect("array")
        .iter()
        .find(|entry| entry["address"] == *address)
        .unwrap_or_else(|| panic!("{what} at {address} missing from the report: {list}"))
}

/// Runs `gmr-agent report` on the fixture and returns the section.
#[track_caller]
fn green_section(fixture: &Fixture, label: &str) -> Value {
    let started = Instant::now();
    let report = report_json(fixture.pid());
    let data = section(&report, TITLE).clone();
    println!(
        "{label}: report in {:?}; section: {} objects walked in {} us, {} greenlets, {} tasks",
        started.elapsed(),
        data["objects_walked"],
        data["elapsed_us"],
        data["greenlets"].as_array().map_or(0, Vec::len),
        data["tasks"].as_array().map_or(0, Vec::len),
    );
    for frame in data["greenlets"]
        .as_array()
        .into_iter()
        .chain(data["tasks"].as_array())
        .flatten()
        .flat_map(|entry| entry["frames"].as_array().into_iter().flatten())
    {
        assert_eq!(frame["kind"], "python", "{frame}");
    }
    data
}

#[test]
fn greenlets_match_what_each_greenlet_sees() {
    if !require_root() {
        return;
    }
    for_each_green_python(|label, python, deps| {
        assert_green_service_matches(label, python, Some(deps), Library::Eventlet);
    });
}

/// Greenlet releases before 3.1.1 keep the back-pointer in the subclasses,
/// after a base whose size changes with CPython: one release per CPython
/// (the newest before 3.1.1 with a wheel for it), so every size is read.
const OLDER_GREENLETS: [(u32, &str); 5] = [
    (9, "2.0.2"),
    (10, "2.0.2"),
    (11, "3.0.3"),
    (12, "3.0.3"),
    (13, "3.1.0"),
];

#[test]
fn greenlets_before_3_1_1_match_what_each_greenlet_sees() {
    if !require_root() {
        return;
    }
    assert_pinned_greenlets_match(&OLDER_GREENLETS);
}

/// greenlet 0.4.x and 1.x, the C implementation: the releases Debian
/// bullseye (0.4.17 on 3.9), Ubuntu 22.04 (1.1.2 on 3.10) and RHEL 9 (1.1
/// on 3.9) ship, by the last release of each line with a wheel for it.
const C_GREENLETS: [(u32, &str); 4] = [(9, "0.4.17"), (9, "1.1.3"), (10, "1.1.3"), (11, "1.1.3")];

#[test]
fn greenlets_0_4_and_1_x_match_what_each_greenlet_sees() {
    if !require_root() {
        return;
    }
    assert_pinned_greenlets_match(&C_GREENLETS);
}

/// For each (CPython minor, greenlet release): pip installs that release
/// with eventlet into the interpreter's own directory, and the report of
/// the green service matches what its greenlets print.
fn assert_pinned_greenlets_match(releases: &[(u32, &str)]) {
    for &(minor, version) in releases {
        let Some(PythonUnderTest { label, path }) = find_python3(minor) else {
            println!("SKIP: greenlet {version}: no Python 3.{minor} in pyenv or on PATH");
            continue;
        };
        let label = format!("{label} greenlet {version}");
        let Some(deps) = green_deps_with(&label, &path, &format!("greenlet=={version}")) else {
            continue;
        };
        let loaded = assert_green_service_matches(&label, &path, Some(&deps), Library::Eventlet);
        assert_eq!(
            loaded, version,
            "{label}: the pinned greenlet is the one loaded"
        );
    }
}

/// Debian's own python3 with Debian's python3-greenlet (2.0.x on bookworm,
/// whose back-pointer sits in the subclasses) and python3-eventlet, as
/// Debian's OpenStack services run: every parked green thread is found
/// with its frames.
#[test]
fn debian_greenlet_and_eventlet_match_what_each_greenlet_sees() {
    if !require_root() {
        return;
    }
    let Some(greenlet) = debian_greenlet() else {
        return;
    };
    let label = format!("Debian python3 with greenlet {greenlet}");
    let loaded =
        assert_green_service_matches(&label, Path::new(DEBIAN_PYTHON), None, Library::Eventlet);
    assert_eq!(loaded, greenlet, "Debian's greenlet is the one loaded");
}

/// A greenlet whose layout is not the one its version says (Debian's
/// greenlet 2.0.x build labelled 3.5.6, whose back-pointer is elsewhere, or
/// labelled 1.1.3, whose objects are too small for the C struct) fails the
/// section, naming the version and the check that failed; a version whose
/// layout is not known at all (labelled 4.0.0) fails it too. Never a
/// section that says "0 greenlets".
#[test]
fn an_unverifiable_greenlet_layout_fails_the_section_naming_the_version() {
    if !require_root() {
        return;
    }
    if debian_greenlet().is_none() {
        return;
    }
    for (label, expected) in [
        ("3.5.6", "failed the layout check"),
        ("1.1.3", "failed the layout check"),
        ("4.0.0", "is not supported"),
    ] {
        let deps =
            std::env::temp_dir().join(format!("gmr-greenlet-as-{label}-{}", std::process::id()));
        let package = deps.join("greenlet");
        std::fs::create_dir_all(&package).expect("make the relabelled package's directory");
        for entry in std::fs::read_dir(DEBIAN_GREENLET).expect("read Debian's greenlet package") {
            let entry = entry.expect("a greenlet package entry");
            if entry.path().is_file() {
                std::fs::copy(entry.path(), package.join(entry.file_name()))
                    .expect("copy Debian's greenlet");
            }
        }
        let init = package.join("__init__.py");
        let source = std::fs::read_to_string(&init).expect("read greenlet/__init__.py");
        let relabelled: String = source
            .lines()
            .map(|line| {
                if line.starts_with("__version__") {
                    format!("__version__ = '{label}'\n")
                } else {
                    format!("{line}\n")
                }
            })
            .collect();
        assert_ne!(
            source, relabelled,
            "greenlet/__init__.py sets no __version__"
        );
        std::fs::write(&init, relabelled).expect("relabel greenlet");
        let service = Fixture::spawn(
            Path::new(DEBIAN_PYTHON),
            &[
                &fixture("green_service.py"),
                "--deps",
                &deps.display().to_string(),
                "--lifetime",
                "60",
            ],
            None,
        );
        assert_eq!(
            printed_stacks(&service)["greenlet"],
            label,
            "the relabelled greenlet is the one loaded"
        );
        let report = report_json(service.pid());
        let section = report["sections"]
            .as_array()
            .expect("sections array")
            .iter()
            .find(|s| s["title"] == TITLE)
            .unwrap_or_else(|| panic!("no {TITLE} section in {report}"));
        println!("greenlet labelled {label}: {}", section["error"]);
        assert_eq!(section["status"], "failed", "{label}: {section}");
        let error = section["error"]
            .as_str()
            .expect("the failed section's error");
        assert!(
            error.contains(&format!("greenlet {label}")) && error.contains(expected),
            "{label}: the error names the version and says {expected:?}: {error}"
        );
        drop(service);
        std::fs::remove_dir_all(&deps).expect("remove the relabelled greenlet");
    }
}

/// The green-thread library the fixture service runs on.
#[derive(Clone, Copy)]
enum Library {
    Eventlet,
    Gevent,
}

impl Library {
    /// Its module name, as `--library` takes it.
    fn module(self) -> &'static str {
        match self {
            Library::Eventlet => "eventlet",
            Library::Gevent => "gevent",
        }
    }
}

/// gevent's greenlets (its Cython `Greenlet` and `Hub` derive from
/// `greenlet.greenlet`) with Debian's python3-gevent and python3-greenlet.
#[test]
fn debian_gevent_greenlets_match_what_each_greenlet_sees() {
    if !require_root() {
        return;
    }
    let Some(greenlet) = debian_greenlet() else {
        return;
    };
    let imports = Command::new(DEBIAN_PYTHON)
        .args(["-c", "import gevent"])
        .output()
        .expect("run Debian's python3");
    if !imports.status.success() {
        println!(
            "SKIP: {DEBIAN_PYTHON} cannot import python3-gevent (apt-get install -y python3-gevent): {}",
            String::from_utf8_lossy(&imports.stderr).trim()
        );
        return;
    }
    let label = format!("Debian python3 with gevent and greenlet {greenlet}");
    let loaded =
        assert_green_service_matches(&label, Path::new(DEBIAN_PYTHON), None, Library::Gevent);
    assert_eq!(loaded, greenlet, "Debian's greenlet is the one loaded");
}

/// Debian's python3 and where Debian's python3-greenlet installs.
const DEBIAN_PYTHON: &str = "/usr/bin/python3";
const DEBIAN_GREENLET: &str = "/usr/lib/python3/dist-packages/greenlet";

/// The version of Debian's python3-greenlet when Debian's python3 imports
/// it and python3-eventlet; `None` with a SKIP line when it cannot.
fn debian_greenlet() -> Option<String> {
    let out = Command::new(DEBIAN_PYTHON)
        .args([
            "-c",
            "import eventlet, greenlet; print(greenlet.__file__, greenlet.__version__)",
        ])
        .output();
    let printed = match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout).into_owned(),
        Ok(out) => {
            println!(
                "SKIP: {DEBIAN_PYTHON} cannot import python3-greenlet and python3-eventlet \
                 (apt-get install -y python3-greenlet python3-eventlet): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return None;
        }
        Err(error) => {
            println!("SKIP: no {DEBIAN_PYTHON}: {error}");
            return None;
        }
    };
    let (file, version) = printed
        .trim()
        .split_once(' ')
        .expect("the greenlet file and version");
    assert!(
        file.starts_with(DEBIAN_GREENLET),
        "{DEBIAN_PYTHON} imports greenlet from {file}, not Debian's {DEBIAN_GREENLET}"
    );
    Some(version.to_owned())
}

/// Runs the fixture service under `python` (with `deps` first on its
/// path, if given), with greenlets in two OS threads, and checks every
/// greenlet it printed against the report: the four parked ones of each
/// thread with their frames and the thread they found themselves in, the
/// unstarted and the finished one, each thread's hub (running, marked) and
/// main greenlet. Returns the greenlet version the fixture loaded.
#[track_caller]
fn assert_green_service_matches(
    label: &str,
    python: &Path,
    deps: Option<&Path>,
    library: Library,
) -> String {
    let deps = deps.map(|dir| dir.display().to_string());
    let mut args = vec![fixture("green_service.py")];
    args.extend(["--library".to_owned(), library.module().to_owned()]);
    if let Some(deps) = deps {
        args.extend(["--deps".to_owned(), deps]);
    }
    args.extend(["--threads".to_owned(), "2".to_owned()]);
    args.extend(["--lifetime".to_owned(), "60".to_owned()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let service = Fixture::spawn(python, &args, None);
    let printed = printed_stacks(&service);
    let data = green_section(&service, label);
    assert_eq!(
        data["greenlet"], printed["greenlet"],
        "{label}: greenlet version"
    );
    let threads = printed["threads"].as_array().expect("threads");
    assert_eq!(threads.len(), 2, "{label}: the fixture runs two threads");
    let native_id = |ident: &Value| {
        threads
            .iter()
            .find(|t| t["ident"] == *ident)
            .unwrap_or_else(|| panic!("{label}: no printed thread has ident {ident}"))["native_id"]
            .clone()
    };
    let expected = printed["greenlets"].as_array().expect("greenlets");
    assert_eq!(
        expected.len(),
        8,
        "{label}: the fixture parks four greenlets per thread"
    );
    for greenlet in expected {
        let found = by_address(&data["greenlets"], &greenlet["address"], "greenlet");
        assert_eq!(found["state"], "suspended", "{label}: {found}");
        assert_eq!(
            frames(&found["frames"]),
            frames(&greenlet["frames"]),
            "{label}: frames of greenlet {}",
            greenlet["address"]
        );
        assert_on_thread(
            label,
            found,
            &greenlet["ident"],
            &native_id(&greenlet["ident"]),
        );
        assert_eq!(
            (&found["running"], &found["hub"]),
            (&Value::Bool(false), &Value::Bool(false)),
            "{label}: a parked greenlet neither runs nor is a hub: {found}"
        );
    }
    let main_thread = &threads[0];
    for (key, state) in [("unstarted", "not_started"), ("finished", "dead")] {
        let found = by_address(&data["greenlets"], &printed[key], key);
        assert_eq!(found["state"], state, "{label}: {found}");
        assert_eq!(found["frames"], serde_json::json!([]), "{label}: {found}");
        // Both belong to the main thread: the unstarted one through its
        // parent (the main greenlet), the finished one ran there.
        assert_on_thread(
            label,
            found,
            &main_thread["ident"],
            &main_thread["native_id"],
        );
    }
    let all = data["greenlets"].as_array().expect("greenlets");
    for thread in threads {
        // While parked, every thread runs its hub.
        let hub = by_address(&data["greenlets"], &thread["hub"], "hub greenlet");
        assert_eq!(
            (&hub["state"], &hub["running"], &hub["hub"]),
            (
                &Value::from("running"),
                &Value::Bool(true),
                &Value::Bool(true)
            ),
            "{label}: the hub of thread {} runs on it and is marked: {hub}",
            thread["ident"]
        );
        assert_on_thread(label, hub, &thread["ident"], &thread["native_id"]);
        let main = by_address(&data["greenlets"], &thread["main"], "main greenlet");
        assert_eq!(
            (&main["main"], &main["running"], &main["hub"]),
            (&Value::Bool(true), &Value::Bool(false), &Value::Bool(false)),
            "{label}: main greenlet of thread {}: {main}",
            thread["ident"]
        );
        assert_on_thread(label, main, &thread["ident"], &thread["native_id"]);
    }
    let marked = |key: &str| all.iter().filter(|g| g[key] == true).count();
    assert_eq!(
        (marked("running"), marked("hub")),
        (2, 2),
        "{label}: one running greenlet and one hub per thread: {all:?}"
    );
    for greenlet in all {
        assert!(
            threads
                .iter()
                .any(|t| t["ident"] == greenlet["python_ident"]),
            "{label}: every greenlet names one of the fixture's threads: {greenlet}"
        );
    }
    let main = by_address(&data["greenlets"], &main_thread["main"], "main greenlet");
    let main_functions = frames(&main["frames"])
        .into_iter()
        .map(|(function, ..)| function)
        .collect::<Vec<_>>();
    assert!(
        main_functions.ends_with(&["main".to_owned(), "<module>".to_owned()]),
        "{label}: main greenlet frames: {main_functions:?}"
    );
    println!(
        "{label}: {} greenlets on 2 threads, thread/running/hub as the fixture says",
        all.len()
    );
    printed["greenlet"]
        .as_str()
        .expect("the greenlet version")
        .to_owned()
}

/// The greenlet `found` (as reported) names the thread with Python ident
/// `ident` and OS thread id `native_id`.
#[track_caller]
fn assert_on_thread(label: &str, found: &Value, ident: &Value, native_id: &Value) {
    assert!(
        ident.is_u64(),
        "{label}: the fixture printed no ident: {ident}"
    );
    assert_eq!(
        (&found["python_ident"], &found["thread"]),
        (ident, native_id),
        "{label}: thread of greenlet {}: {found}",
        found["address"]
    );
}

#[test]
fn asyncio_tasks_match_their_coroutine_chains() {
    if !require_root() {
        return;
    }
    let mut tested = 0;
    for PythonUnderTest {
        label,
        path: python,
    } in python_interpreters()
    {
        let service = Fixture::spawn(
            &python,
            &[&fixture("asyncio_service.py"), "--lifetime", "60"],
            None,
        );
        let printed = printed_stacks(&service);
        let data = green_section(&service, &label);
        // Before 3.11 the patch level is not always known from outside.
        let minor = |v: &Value| {
            v.as_str()
                .unwrap_or("")
                .splitn(3, '.')
                .take(2)
                .collect::<Vec<_>>()
                .join(".")
        };
        assert_eq!(
            minor(&data["python"]),
            minor(&printed["python"]),
            "{label}: Python version"
        );
        let expected = printed["tasks"].as_array().expect("tasks");
        // Four tasks, and gather's two children.
        assert_eq!(expected.len(), 6, "{label}: {expected:?}");
        for task in expected {
            let found = by_address(&data["tasks"], &task["address"], "task");
            assert_eq!(found["state"], "pending", "{label}: {found}");
            assert_eq!(found["name"], task["name"], "{label}: task name");
            assert_eq!(
                frames(&found["frames"]),
                frames(&task["coroutines"]),
                "{label}: coroutines of task {}",
                task["name"]
            );
            assert!(found["awaiting"].is_string(), "{label}: {found}");
        }
        let gather = by_address(&data["tasks"], &expected_gather(expected), "gather task");
        assert_eq!(gather["awaiting"], "_GatheringFuture", "{label}: {gather}");
        tested += 1;
    }
    assert!(tested > 0, "no interpreter could run the asyncio fixture");
}

/// The address of the task parked in `gather_children`.
#[track_caller]
fn expected_gather(tasks: &[Value]) -> Value {
    tasks
        .iter()
        .find(|t| t["coroutines"][0]["function"] == "gather_children")
        .map(|t| t["address"].clone())
        .expect("the fixture has a gather_children task")
}

/// Every frame of a greenlet under churn must be a real frame: a function
/// defined in its file, and a chain that starts where eventlet starts
/// greenlets (or at the script, for the main greenlet).
#[track_caller]
fn assert_plausible(label: &str, greenlet: &Value) {
    let chain = frames(&greenlet["frames"]);
    let Some((outermost, ..)) = chain.last() else {
        return;
    };
    let starts = if greenlet["main"] == true {
        &["<module>"][..]
    } else {
        &["main", "run"][..]
    };
    assert!(
        starts.contains(&outermost.as_str()),
        "{label}: greenlet starts in {outermost}: {greenlet}"
    );
    for (function, file, line) in &chain {
        let source = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("{label}: frame file {file}: {e}: {greenlet}"));
        let lines = source.lines().count() as u64;
        assert!(
            *line >= 1 && *line <= lines,
            "{label}: {file}:{line} is past its end ({lines} lines): {greenlet}"
        );
        assert!(
            function == "<module>" || source.contains(&format!("def {function}(")),
            "{label}: {function} is not defined in {file}: {greenlet}"
        );
    }
}

#[test]
fn churning_greenlets_give_real_stacks_or_say_why_not() {
    if !require_root() {
        return;
    }
    for_each_green_python(|label, python, deps| {
        let service = Fixture::spawn(
            python,
            &[
                &fixture("green_service.py"),
                "--deps",
                &deps.display().to_string(),
                "--churn",
                "8",
                "--lifetime",
                "60",
            ],
            None,
        );
        let printed = printed_stacks(&service);
        for round in 0..2 {
            let label = format!("{label} under churn, report {round}");
            let report = report_json(service.pid());
            let status = report["sections"]
                .as_array()
                .expect("sections")
                .iter()
                .find(|s| s["title"] == TITLE)
                .unwrap_or_else(|| panic!("{label}: no {TITLE} section"));
            if status["status"] != "ok" {
                // Failing is allowed only for lists that kept changing.
                let error = status["error"].as_str().unwrap_or("");
                assert!(error.contains("kept changing"), "{label}: {error}");
                println!("{label}: section failed as allowed: {error}");
                continue;
            }
            let data = &status["data"];
            println!(
                "{label}: {} objects, {} restarts, {} us",
                data["objects_walked"], data["walk_restarts"], data["elapsed_us"]
            );
            for greenlet in data["greenlets"].as_array().expect("greenlets") {
                assert_plausible(&label, greenlet);
            }
            // The parked greenlets do not move, whatever else does.
            for greenlet in printed["greenlets"].as_array().expect("greenlets") {
                let found = by_address(&data["greenlets"], &greenlet["address"], "greenlet");
                assert_eq!(
                    frames(&found["frames"]),
                    frames(&greenlet["frames"]),
                    "{label}: parked greenlet {}",
                    greenlet["address"]
                );
            }
        }
    });
}

#[test]
fn a_thousand_greenlets_are_all_found() {
    if !require_root() {
        return;
    }
    let Some(PythonUnderTest {
        label,
        path: python,
    }) = python_interpreters()
        .into_iter()
        .find(|python| python.path == Path::new("/usr/bin/python3"))
    else {
        println!("SKIP: no system Python for the scale test");
        return;
    };
    let Some(deps) = green_deps(&label, &python) else {
        return;
    };
    let service = Fixture::spawn(
        &python,
        &[
            &fixture("green_service.py"),
            "--deps",
            &deps.display().to_string(),
            "--extra",
            "1000",
            "--lifetime",
            "60",
        ],
        None,
    );
    let data = green_section(&service, &format!("{label} with 1000 extra greenlets"));
    let sleepers = data["greenlets"]
        .as_array()
        .expect("greenlets")
        .iter()
        .filter(|g| {
            g["state"] == "suspended"
                && frames(&g["frames"])
                    .iter()
                    .any(|(function, ..)| function == "tick_forever")
        })
        .count();
    assert_eq!(sleepers, 1001, "every sleeping greenlet is reported");
}
