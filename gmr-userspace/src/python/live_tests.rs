//! Reading the Python stacks of real interpreters running the
//! `parked_threads.py` fixture: compared with what the fixture printed
//! about itself, and read over and over from a thread whose stack never
//! stops changing, where every stack must be a real one or be marked
//! unreliable. Every CPython 3.9 to 3.13 found (pyenv builds, `python3.X`
//! on PATH, `/usr/bin/python3`) is tried; missing ones are skipped with a
//! message. Needs root to read other processes' memory.

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use serde_json::Value;

use super::{Interpreter, PythonThread};
use crate::proc::maps;
use crate::test_support::Reaped;

/// The fixture, in the tests crate.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/python/parked_threads.py")
}

/// Interpreters to try: the support library's list (the newest pyenv
/// build of each of 3.9 to 3.13, else `python3.X` on PATH, then the
/// system's `python3`).
fn interpreters() -> Vec<PathBuf> {
    gmr_tests::python::python_interpreters()
        .into_iter()
        .map(|python| python.path)
        .collect()
}

/// Runs the fixture and returns it with what it printed about itself and
/// the tid of its churning thread.
fn start(python: &Path, options: &[&str]) -> (Reaped, Value, u32) {
    let mut child = Command::new(python)
        .arg(fixture())
        .args(["--lifetime", "60"])
        .args(options)
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the fixture");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let child = Reaped(child);
    let stacks = lines.next().expect("stacks line").expect("read stdout");
    let ready = lines.next().expect("ready line").expect("read stdout");
    let churn = ready
        .split_whitespace()
        .find_map(|field| field.strip_prefix("churn="))
        .and_then(|tid| tid.parse().ok())
        .unwrap_or_else(|| panic!("no churn tid in {ready:?}"));
    let stacks = stacks.strip_prefix("stacks ").expect("stacks prefix");
    (
        child,
        serde_json::from_str(stacks).expect("fixture JSON"),
        churn,
    )
}

/// The interpreter of the fixture `python` runs as `pid`.
fn interpreter_of(python: &Path, pid: u32) -> Interpreter {
    Interpreter::detect(pid, &maps::read(pid).expect("maps"))
        .unwrap_or_else(|e| panic!("{}: {e}", python.display()))
        .unwrap_or_else(|| panic!("{}: no interpreter found", python.display()))
}

#[test]
fn python_stacks_match_what_each_interpreter_prints() {
    if !nix_is_root() {
        eprintln!("skipping: reading another process's memory needs root");
        return;
    }
    for python in interpreters() {
        let (child, printed, _) = start(&python, &[]);
        let pid = child.0.id();
        let started = Instant::now();
        let interpreter = interpreter_of(&python, pid);
        let threads = interpreter
            .threads()
            .unwrap_or_else(|e| panic!("{}: {e}", python.display()));
        eprintln!(
            "{} ({} in {}): {} threads in {:?}",
            python.display(),
            interpreter.version,
            interpreter.binary,
            threads.len(),
            started.elapsed()
        );
        for expected in printed["threads"].as_array().expect("threads") {
            let tid = expected["native_id"].as_u64().expect("native_id") as u32;
            let thread = threads
                .iter()
                .find(|t| t.native_tid == Some(tid))
                .unwrap_or_else(|| panic!("{}: no thread {tid} in {threads:#?}", python.display()));
            let names = function_names(thread);
            let want = expected["functions"]
                .as_array()
                .expect("functions")
                .iter()
                .map(|f| f.as_str().expect("name").to_owned())
                .collect::<Vec<_>>();
            assert_eq!(
                names,
                want,
                "{}: thread {}",
                python.display(),
                expected["name"]
            );
            assert!(
                thread.frames.iter().all(|f| f.line.is_some()),
                "{}: lines {thread:#?}",
                python.display()
            );
            if expected["name"] != "busy" {
                assert_eq!(
                    thread.holds_gil,
                    Some(false),
                    "{}: a parked thread holds the GIL",
                    python.display()
                );
            }
        }
    }
}

/// Reads the churning thread's stack [`CHURN_READS`] times: every stack
/// read is `churn` repeated, then `worker_churn` and the thread bootstrap,
/// with a line inside `churn`, or is marked unreliable without frames.
#[test]
fn a_changing_stack_is_real_or_marked_unreliable() {
    if !nix_is_root() {
        eprintln!("skipping: reading another process's memory needs root");
        return;
    }
    for python in interpreters() {
        let (child, _, churn_tid) = start(&python, &[]);
        let pid = child.0.id();
        let interpreter = interpreter_of(&python, pid);
        let mut unreliable = 0;
        let mut gil_seen = 0;
        let started = Instant::now();
        for _ in 0..CHURN_READS {
            let threads = interpreter.threads().expect("thread states");
            let holders = threads.iter().filter(|t| t.holds_gil == Some(true)).count();
            assert!(holders <= 1, "{}: {holders} GIL holders", python.display());
            gil_seen += holders;
            let churn = threads
                .iter()
                .find(|t| t.native_tid == Some(churn_tid))
                .unwrap_or_else(|| {
                    panic!(
                        "{}: no thread has the churn thread's tid {churn_tid}; every thread \
                         (tid, pthread_t, functions): {:?}",
                        python.display(),
                        thread_ids(&threads)
                    )
                });
            if let Some(reason) = &churn.unreliable {
                assert!(churn.frames.is_empty(), "{reason}: {churn:#?}");
                unreliable += 1;
                continue;
            }
            let names = function_names(churn);
            let recursion = names.iter().take_while(|n| *n == "churn").count();
            assert_eq!(
                &names[recursion..],
                ["worker_churn", "run", "_bootstrap_inner", "_bootstrap"],
                "{}: not a real stack: {names:?}",
                python.display()
            );
        }
        eprintln!(
            "{}: {CHURN_READS} reads of 7 threads in {:?}, churn stack unreliable {unreliable} \
             times, a GIL holder seen {gil_seen} times",
            python.display(),
            started.elapsed()
        );
        // Two threads compete for the GIL all the time, so some read must
        // find it held.
        assert!(
            gil_seen > 0,
            "{}: the GIL never seen held",
            python.display()
        );
    }
}

/// Reads every thread [`SPAWN_READS`] times while another thread starts
/// and joins short-lived threads, as a thread pool does: each thread state
/// that comes and goes is freed beside the list being read, and no read
/// may lose a parked thread, its tid or its stack.
#[test]
fn threads_coming_and_going_hide_no_other() {
    if !nix_is_root() {
        eprintln!("skipping: reading another process's memory needs root");
        return;
    }
    for python in interpreters() {
        let (child, printed, churn_tid) = start(&python, &["--spawn"]);
        let pid = child.0.id();
        let interpreter = interpreter_of(&python, pid);
        let started = Instant::now();
        let mut most = 0;
        for read in 0..SPAWN_READS {
            let threads = interpreter
                .threads()
                .unwrap_or_else(|e| panic!("{}: read {read}: {e}", python.display()));
            most = most.max(threads.len());
            let mut wanted = vec![churn_tid];
            for expected in printed["threads"].as_array().expect("threads") {
                let Some(tid) = expected["native_id"].as_u64() else {
                    continue;
                };
                wanted.push(tid as u32);
                let found = threads.iter().find(|t| t.native_tid == Some(tid as u32));
                if let Some(thread) = found.filter(|t| t.unreliable.is_none()) {
                    let names = function_names(thread);
                    assert!(
                        expected["functions"].as_array().expect("functions")[..2]
                            .iter()
                            .all(|f| names.iter().any(|n| f == n.as_str())),
                        "{}: read {read}: thread {} in {names:?}, printed {}",
                        python.display(),
                        expected["name"],
                        expected["functions"]
                    );
                }
            }
            let missing: Vec<u32> = wanted
                .iter()
                .copied()
                .filter(|&tid| !threads.iter().any(|t| t.native_tid == Some(tid)))
                .collect();
            assert!(
                missing.is_empty(),
                "{}: read {read}: no thread has tid {missing:?}; every thread (tid, pthread_t, \
                 functions): {:?}",
                python.display(),
                thread_ids(&threads)
            );
        }
        eprintln!(
            "{}: {SPAWN_READS} reads beside short-lived threads in {:?}, at most {most} threads",
            python.display(),
            started.elapsed()
        );
    }
}

/// The fixture in its own pid namespace, as in a container: the thread ids
/// CPython records are the namespace's, and must come out as the agent's.
#[test]
fn threads_in_a_pid_namespace_get_the_agents_ids() {
    if !nix_is_root() {
        eprintln!("skipping: reading another process's memory needs root");
        return;
    }
    let unshare = Path::new("/usr/bin/unshare");
    if !unshare.exists() {
        eprintln!("skipping: no {}", unshare.display());
        return;
    }
    for python in interpreters() {
        let mut child = Command::new(unshare)
            .args(["--pid", "--fork", "--kill-child", "--mount-proc"])
            .arg(&python)
            .arg(fixture())
            .args(["--lifetime", "60"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start unshare");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let child = Reaped(child);
        let stacks = lines.next().expect("stacks line").expect("read stdout");
        let printed: Value =
            serde_json::from_str(stacks.strip_prefix("stacks ").expect("stacks prefix"))
                .expect("fixture JSON");
        assert_eq!(
            printed["pid"],
            1,
            "{}: pid 1 in its namespace",
            python.display()
        );
        let children = format!("/proc/{0}/task/{0}/children", child.0.id());
        let host_pid: u32 = std::fs::read_to_string(&children)
            .expect("unshare's children")
            .trim()
            .parse()
            .expect("one child");
        let tasks = std::fs::read_dir(format!("/proc/{host_pid}/task"))
            .expect("tasks")
            .map(|t| {
                t.expect("task")
                    .file_name()
                    .to_str()
                    .expect("tid")
                    .parse()
                    .expect("tid")
            })
            .collect::<Vec<u32>>();
        let interpreter = interpreter_of(&python, host_pid);
        let threads = interpreter.threads().expect("threads");
        for expected in printed["threads"].as_array().expect("threads") {
            let want = expected["functions"]
                .as_array()
                .expect("functions")
                .iter()
                .map(|f| f.as_str().expect("name").to_owned())
                .collect::<Vec<_>>();
            let thread = threads
                .iter()
                .find(|t| function_names(t) == want)
                .unwrap_or_else(|| panic!("{}: no thread with {want:?}", python.display()));
            let tid = thread.native_tid.unwrap_or_else(|| {
                panic!(
                    "{}: no native tid for the thread in {want:?} (pthread_t {:#x}, \
                     unreliable: {:?}); the process's tids {tasks:?}; every thread \
                     (tid, pthread_t, functions): {:?}",
                    python.display(),
                    thread.pthread_id,
                    thread.unreliable,
                    thread_ids(&threads)
                )
            });
            assert!(
                tasks.contains(&tid),
                "{}: {tid} is not in {tasks:?}",
                python.display()
            );
            if expected["name"] == "MainThread" {
                assert_eq!(tid, host_pid, "{}: the main thread", python.display());
            }
        }
    }
}

/// Reads of every thread per interpreter beside short-lived threads.
const SPAWN_READS: usize = 500;

/// Reads of the churning thread per interpreter.
const CHURN_READS: usize = 100;

fn function_names(thread: &PythonThread) -> Vec<String> {
    thread.frames.iter().map(|f| f.function.clone()).collect()
}

/// Each thread's OS tid, `pthread_t` and function names: what a failure
/// shows when a thread's tid was not found.
fn thread_ids(threads: &[PythonThread]) -> Vec<(Option<u32>, u64, Vec<String>)> {
    threads
        .iter()
        .map(|t| (t.native_tid, t.pthread_id, function_names(t)))
        .collect()
}

fn nix_is_root() -> bool {
    rustix::process::geteuid().is_root()
}
