//! Go goroutines (issue 17): the Green Threads section of a Go fixture
//! holding goroutines in many wait states plus 10,000 idle ones, built by
//! each installed Go toolchain, stripped and not, compared with the
//! runtime's own `runtime.Stack(buf, true)` dump, which the fixture writes
//! when it gets SIGUSR1 (a signal it handles itself): same ids, states,
//! functions, files, lines and creators, waits within a minute. And
//! Debian's own stripped Go daemon against its SIGQUIT dump.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use gmr_tests::agent::report_json;
use gmr_tests::go_fixtures::{GoBuild, build_go_program, installed_go_toolchains};
use gmr_tests::realworld::launch;
use gmr_tests::syscalls::{Signal, send_signal};
use gmr_tests::{Fixture, require_root};
use serde_json::Value;

/// Identical idle goroutines the fixture starts (its `IDLE`).
const IDLE: usize = 10_000;
/// Longest the Green Threads section may take for them (the median over
/// every build).
const MAX_READ: Duration = Duration::from_secs(1);

/// One goroutine: state, whole minutes waited, frames and creator.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    state: String,
    minutes: u64,
    frames: Vec<(String, String, u32)>,
    created_by: Option<(String, String, u32, Option<u64>)>,
}

/// Parses a `runtime.Stack(buf, true)` dump into goroutines by id.
fn parse_dump(text: &str) -> HashMap<u64, Seen> {
    let mut out = HashMap::new();
    for block in text.split("\n\n") {
        let mut lines = block.lines();
        let Some(header) = lines.next() else { continue };
        let Some(rest) = header.strip_prefix("goroutine ") else {
            continue;
        };
        let (id, bracket) = rest.split_once(" [").expect("goroutine header");
        let id: u64 = id
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .expect("goroutine id");
        let inside = bracket.split_once("]:").expect("header's ]:").0;
        let mut parts = inside.split(", ");
        let state = parts.next().unwrap().to_owned();
        let minutes = parts
            .filter_map(|p| p.strip_suffix(" minutes"))
            .find_map(|m| m.parse().ok())
            .unwrap_or(0);
        let rest: Vec<&str> = lines.collect();
        let mut frames = Vec::new();
        let mut created_by = None;
        let mut i = 0;
        while i + 1 < rest.len() {
            let (call, place) = (rest[i], rest[i + 1].trim_start_matches('\t'));
            let place = place.split(" +0x").next().unwrap();
            let (file, line) = place.rsplit_once(':').expect("file:line");
            let line: u32 = line.parse().expect("line number");
            if let Some(creator) = call.strip_prefix("created by ") {
                let (function, parent) = match creator.split_once(" in goroutine ") {
                    Some((f, p)) => (f, Some(p.parse().expect("parent id"))),
                    None => (creator, None),
                };
                created_by = Some((function.to_owned(), file.to_owned(), line, parent));
            } else {
                let function = &call[..call.rfind('(').expect("call's (")];
                frames.push((function.to_owned(), file.to_owned(), line));
            }
            i += 2;
        }
        let seen = Seen {
            state,
            minutes,
            frames,
            created_by,
        };
        out.insert(id, seen);
    }
    out
}

/// The goroutines of the report's Green Threads section, by id.
fn from_report(data: &Value) -> HashMap<u64, Seen> {
    let text = |v: &Value| v.as_str().unwrap_or("?").to_owned();
    let line = |v: &Value| v.as_u64().unwrap_or(0) as u32;
    data["goroutines"]
        .as_array()
        .expect("goroutines")
        .iter()
        .map(|g| {
            let frames = g["frames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| (text(&f["function"]), text(&f["file"]), line(&f["line"])))
                .collect();
            let created_by = g["created_by"].as_object().map(|c| {
                (
                    text(&c["function"]),
                    text(&c["file"]),
                    line(&c["line"]),
                    c["goroutine"].as_u64(),
                )
            });
            let seen = Seen {
                state: text(&g["state"]),
                minutes: g["wait_minutes"].as_u64().unwrap_or(0),
                frames,
                created_by,
            };
            (g["id"].as_u64().expect("id"), seen)
        })
        .collect()
}

/// Every running goroutine names its OS thread, a thread of the fixture
/// (so it links to the Threads section); no parked one names a thread.
fn check_threads(label: &str, pid: u32, data: &Value) {
    for goroutine in data["goroutines"].as_array().expect("goroutines") {
        let thread = goroutine["thread"].as_u64();
        match goroutine["state"].as_str() {
            Some("running") => {
                let tid = thread.unwrap_or_else(|| panic!("{label}: no thread: {goroutine}"));
                let task = format!("/proc/{pid}/task/{tid}");
                assert!(
                    Path::new(&task).exists(),
                    "{label}: {task} is no thread of the fixture: {goroutine}"
                );
            }
            Some("syscall") => {}
            _ => assert_eq!(thread, None, "{label}: a parked goroutine on a thread"),
        }
    }
}

/// Asks the fixture for its own dump (SIGUSR1) and reads it.
fn runtime_dump(pid: u32, path: &Path) -> String {
    let done = std::path::PathBuf::from(format!("{}.done", path.display()));
    let _ = std::fs::remove_file(&done);
    send_signal(pid, Signal::USR1).unwrap_or_else(|e| panic!("kill -USR1 {pid}: {e}"));
    let deadline = Instant::now() + Duration::from_secs(30);
    while !done.exists() {
        assert!(Instant::now() < deadline, "no dump from {pid} within 30 s");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::fs::read_to_string(path).expect("read the runtime's dump")
}

/// Whether the runtime's dump and the report may disagree on goroutine
/// `seen` by nature: the busy loops run or wait for a CPU at any instant,
/// and the goroutine writing the dump runs while it does.
fn moving(seen: &Seen) -> bool {
    seen.state == "running"
        || seen.state == "runnable"
        || seen
            .frames
            .iter()
            .any(|f| f.0 == "main.busy" || f.0 == "main.dumpOnSignal")
}

/// Goroutines and frames matched, of the dump's settled goroutines.
struct Matched {
    goroutines: (usize, usize),
    frames: (usize, usize),
    mismatches: Vec<String>,
}

fn compare(dump: &HashMap<u64, Seen>, ours: &HashMap<u64, Seen>) -> Matched {
    let mut matched = Matched {
        goroutines: (0, 0),
        frames: (0, 0),
        mismatches: Vec::new(),
    };
    for (id, theirs) in dump.iter().filter(|(_, s)| !moving(s)) {
        matched.goroutines.1 += 1;
        matched.frames.1 += theirs.frames.len();
        let Some(mine) = ours.get(id) else {
            matched
                .mismatches
                .push(format!("goroutine {id} missing: {theirs:?}"));
            continue;
        };
        let same_frames = theirs
            .frames
            .iter()
            .zip(&mine.frames)
            .filter(|(a, b)| a == b)
            .count();
        matched.frames.0 += same_frames;
        let same = mine.state == theirs.state
            && mine.frames == theirs.frames
            && mine.created_by == theirs.created_by
            && mine.minutes.abs_diff(theirs.minutes) <= 1;
        if same {
            matched.goroutines.0 += 1;
        } else if matched.mismatches.len() < 5 {
            matched.mismatches.push(format!(
                "goroutine {id}:\n runtime {theirs:?}\n gmr     {mine:?}"
            ));
        }
    }
    let extra = ours
        .iter()
        .filter(|(id, s)| !dump.contains_key(id) && !moving(s))
        .count();
    if extra > 0 {
        matched.mismatches.push(format!(
            "{extra} goroutine(s) in the report but not in the dump"
        ));
    }
    matched
}

#[test]
fn goroutines_match_the_runtimes_own_dump_on_every_go_version() {
    if !require_root() {
        return;
    }
    let toolchains = installed_go_toolchains();
    let mut failures = Vec::new();
    let mut read_times = Vec::new();
    let newest = toolchains.last().expect("a toolchain").label.clone();
    let oldest = toolchains[0].label.clone();
    for toolchain in &toolchains {
        // One cgo build (dynamically linked, libc's resolver) with the
        // newest toolchain: reading goroutines does not depend on cgo.
        let cgo = (toolchain.label == newest).then_some(GoBuild {
            stripped: false,
            cgo: true,
            pie: false,
        });
        // A stripped position-independent build with the oldest and the
        // newest toolchain: found by content in a process whose pointers
        // were relocated at load.
        let pie = (toolchain.label == newest || toolchain.label == oldest).then_some(GoBuild {
            stripped: true,
            cgo: false,
            pie: true,
        });
        let plain = [false, true].map(|stripped| GoBuild {
            stripped,
            cgo: false,
            pie: false,
        });
        for build in plain.into_iter().chain(cgo).chain(pie) {
            let label = format!(
                "{} {}{}{}",
                toolchain.label,
                if build.stripped {
                    "stripped"
                } else {
                    "unstripped"
                },
                if build.cgo { " cgo" } else { "" },
                if build.pie { " pie" } else { "" }
            );
            let program = build_go_program(toolchain, "goroutines", build);
            let dump_path = std::env::temp_dir().join(format!(
                "gmr-goroutines-{}-{}.txt",
                std::process::id(),
                label.replace(' ', "-")
            ));
            let fixture = Fixture::spawn(&program, &[dump_path.to_str().unwrap()], None);
            let report = report_json(fixture.pid());
            let section = report["sections"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["title"] == "Green Threads")
                .unwrap_or_else(|| panic!("{label}: no Green Threads section: {report}"));
            let Some(data) = section.get("data").filter(|d| !d.is_null()) else {
                println!("{label}: not read: {}", section["error"]);
                failures.push(format!("{label}: {}", section["error"]));
                continue;
            };
            assert_eq!(data["runtime"], "go", "{label}");
            // Unstripped builds are read with the layout from their own
            // DWARF, stripped ones with the release's table.
            let layout = data["layout"].as_str().unwrap_or_default();
            let expected = if build.stripped {
                "layout: table for go1."
            } else {
                "layout: DWARF of "
            };
            assert!(layout.starts_with(expected), "{label}: {layout:?}");
            let ours = from_report(data);
            check_threads(&label, fixture.pid(), data);
            let dump = parse_dump(&runtime_dump(fixture.pid(), &dump_path));
            let _ = std::fs::remove_file(&dump_path);
            let matched = compare(&dump, &ours);
            let elapsed = data["elapsed_us"].as_u64().unwrap_or(u64::MAX);
            println!(
                "{label} ({}, {layout}): goroutines {}/{}, frames {}/{}, {} goroutines read in {:.1} ms",
                data["go_version"],
                matched.goroutines.0,
                matched.goroutines.1,
                matched.frames.0,
                matched.frames.1,
                ours.len(),
                elapsed as f64 / 1000.0
            );
            assert!(
                ours.len() > IDLE,
                "{label}: {} goroutines, fewer than the {IDLE} idle ones",
                ours.len()
            );
            read_times.push(Duration::from_micros(elapsed));
            if !matched.mismatches.is_empty() {
                failures.push(format!("{label}:\n{}", matched.mismatches.join("\n")));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // The median over every build: the fixture's own busy goroutines and
    // the other work on this machine make single wall-clock times noisy.
    read_times.sort();
    let median = read_times[read_times.len() / 2];
    println!("median time to read {IDLE}+ goroutines: {median:?}");
    assert!(
        median <= MAX_READ,
        "median {median:?} over {MAX_READ:?}: {read_times:?}"
    );
}

#[test]
fn the_dump_parser_reads_the_runtimes_format() {
    let dump = "goroutine 7 [chan receive, 3 minutes]:\nmain.idle(...)\n\t/src/main.go:12 +0x1d\ncreated by main.main in goroutine 1\n\t/src/main.go:30 +0x25\n\ngoroutine 1 [running]:\nmain.main()\n\t/src/main.go:40 +0x3\n";
    let parsed = parse_dump(dump);
    assert_eq!(parsed[&7].state, "chan receive");
    assert_eq!(parsed[&7].minutes, 3);
    assert_eq!(
        parsed[&7].frames,
        vec![("main.idle".to_owned(), "/src/main.go".to_owned(), 12)]
    );
    assert_eq!(
        parsed[&7].created_by,
        Some((
            "main.main".to_owned(),
            "/src/main.go".to_owned(),
            30,
            Some(1)
        ))
    );
    assert!(moving(&parsed[&1]));
}

/// Debian's prometheus-node-exporter.
const NODE_EXPORTER: &str = "/usr/bin/prometheus-node-exporter";

/// Whether the default traceback (what `runtime.Stack` and gmr show)
/// hides frame `function` of `file`, as the runtime's `showfuncinfo` does:
/// the runtime's unexported functions and compiler-generated wrappers.
/// SIGQUIT's dump prints at the `system` level, which shows them.
fn hidden_by_default(function: &str, file: &str) -> bool {
    let unexported_runtime = function
        .strip_prefix("runtime.")
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_uppercase()));
    unexported_runtime || file == "<autogenerated>"
}

/// Debian's stripped Go daemon, unmodified (the real-world corpus' Go
/// service): gmr's goroutines, read while it serves, against the dump the
/// runtime itself prints on SIGQUIT (which ends the process, so it comes
/// last): every goroutine gmr lists is in the dump with the same state and
/// creator, and its frames are the dump's with the frames the default
/// traceback hides taken out.
#[test]
fn debian_node_exporter_goroutines_match_its_own_sigquit_dump() {
    if !require_root() {
        return;
    }
    if !Path::new(NODE_EXPORTER).exists() {
        println!("SKIP: {NODE_EXPORTER} is not installed");
        return;
    }
    let scratch = gmr_tests::scratch::Scratch::new("node-exporter");
    let dir = scratch.path();
    let cgroup = gmr_tests::TestCgroup::create();
    let port = launch::free_port().unwrap();
    let listen = format!("--web.listen-address=127.0.0.1:{port}");
    let argv = [
        NODE_EXPORTER,
        &listen,
        "--collector.disable-defaults",
        "--collector.loadavg",
    ];
    let mut daemon = launch::spawn_in(&cgroup, dir, &[], &argv).unwrap();
    launch::wait_until("node-exporter serves /metrics", dir, || {
        launch::http_get(port, "/metrics").is_ok_and(|r| r.contains("node_load1"))
    })
    .unwrap();
    // The scrape's own goroutines finish with its connection.
    std::thread::sleep(Duration::from_millis(500));
    let report = report_json(daemon.id());
    let section = report["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["title"] == "Green Threads")
        .expect("a Green Threads section");
    let data = &section["data"];
    assert_eq!(data["runtime"], "go", "{}", section["error"]);
    let ours = from_report(data);
    send_signal(daemon.id(), Signal::QUIT)
        .unwrap_or_else(|e| panic!("kill -QUIT {}: {e}", daemon.id()));
    daemon.wait().expect("node-exporter exits on SIGQUIT");
    let stderr = std::fs::read_to_string(dir.join("stderr")).expect("its stderr");
    let dump_text = stderr
        .rsplit_once("SIGQUIT: quit")
        .expect("the runtime's SIGQUIT dump on stderr")
        .1;
    let dump = parse_dump(dump_text);
    let mut compared = 0;
    for (id, mine) in &ours {
        if moving(mine) {
            continue;
        }
        let theirs = dump
            .get(id)
            .unwrap_or_else(|| panic!("goroutine {id} is not in the dump: {mine:?}"));
        let shown: Vec<_> = theirs
            .frames
            .iter()
            .filter(|(function, file, _)| !hidden_by_default(function, file))
            .cloned()
            .collect();
        assert_eq!(
            (&mine.state, &mine.frames, &mine.created_by),
            (&theirs.state, &shown, &theirs.created_by),
            "goroutine {id}: gmr, then the runtime's dump"
        );
        compared += 1;
    }
    println!(
        "node-exporter ({}): {compared} goroutine(s) equal to its SIGQUIT dump ({} in the dump, {} runtime-internal in gmr's count)",
        data["go_version"],
        dump.len(),
        data["system_goroutines"]
    );
    assert!(compared > 0, "no goroutine to compare: {data}");
}
