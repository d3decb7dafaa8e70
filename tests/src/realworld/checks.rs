//! The checks of a corpus run, per process: report written, alive
//! afterwards, frames matched against gdb, stacks complete, secrets absent
//! from its reports (each secret's verdict is in [`super::secrets`]). Every
//! failure is collected, none stops the others.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use super::run::{Corpus, Reports, Running, trigger};
use super::secrets::{Secret, SecretCheck, check_secret, found_in, secret_failures};
use crate::{
    MatchReport, Names,
    agent::{RunningAgent, user_functions},
    gdb_backtraces, match_ratio_by, normalize_name,
    process::is_alive,
};

/// Functions at the outer end of a complete native stack: where glibc
/// starts a thread (`start_thread`, under `clone3`/`clone`) and where a
/// program starts (`_start`, `__libc_start_main`, `__libc_start_call_main`).
/// Compared in [`normalize_name`](crate::normalize_name) form.
pub const THREAD_ENTRIES: [&str; 6] = [
    "start_thread",
    "clone3",
    "clone",
    "_start",
    "__libc_start_main",
    "__libc_start_call_main",
];

/// Words of a user stack's note saying the stack was cut short: beyond
/// the captured bytes, or beyond the unwinder's frame cap.
pub const CUT_NOTES: [&str; 2] = ["truncated", "frames omitted"];

/// What was found about one process.
pub struct ProcessCheck {
    /// Its service's name.
    pub service: &'static str,
    /// The process.
    pub pid: u32,
    /// `master` (parent of others in the group), `worker` (child of one)
    /// or `main` (alone).
    pub role: &'static str,
    /// Threads in its JSON report.
    pub threads: Option<usize>,
    /// gdb's frames scored against the report, threads the report also
    /// has; or why gdb gave nothing.
    pub gdb: Result<MatchReport, String>,
    /// Threads gdb saw that the report lacks (threads may come and go
    /// between the report and gdb's attach).
    pub missing_threads: usize,
    /// Secrets planted for its service.
    pub planted: usize,
    /// Secrets found in its own report files, with the file's format.
    pub leaks: Vec<(Secret, &'static str)>,
    /// Whether the report reached its stderr, or where its fd 2 points.
    pub stderr_copy: String,
    /// Trigger to the last report file.
    pub elapsed: Option<Duration>,
    /// Still running after the report and gdb.
    pub alive: bool,
    /// The most user frames any of its threads has in the report.
    pub deepest: usize,
    /// Threads whose user stack the report says was cut short
    /// ([`CUT_NOTES`]).
    pub cut: usize,
    /// Threads whose user stack reaches where the thread began
    /// ([`THREAD_ENTRIES`]).
    pub to_entry: usize,
    /// The threads that do not: tid, name, frame count and the stack's
    /// note.
    pub short_of_entry: Vec<String>,
    /// User frames of its threads without a function name.
    pub unnamed_frames: usize,
    /// Threads whose stack ended because frame pointers went backwards.
    pub moved_backwards: usize,
    /// Its text report (empty when none was written).
    pub text: String,
}

/// Everything a corpus run found.
pub struct Outcome {
    /// One entry per process of every service, in service order.
    pub processes: Vec<ProcessCheck>,
    /// One entry per planted secret.
    pub secrets: Vec<SecretCheck>,
    /// Each failed check, in words.
    pub failures: Vec<String>,
}

/// Triggers every service of `corpus` through `agent` in turn, then
/// checks every process and every secret.
pub fn check(corpus: &Corpus, agent: &RunningAgent) -> Outcome {
    let all_secrets = corpus.secrets();
    let mut outcome = Outcome {
        processes: Vec::new(),
        secrets: Vec::new(),
        failures: corpus.failures.clone(),
    };
    let mut stderr_leaks: Vec<(Secret, String)> = Vec::new();
    let mut triggered = Vec::new();
    for running in &corpus.running {
        let name = running.service.name;
        let pids = running.cgroup.processes();
        if pids.len() != running.started.processes {
            outcome.failures.push(format!(
                "{name}: {} processes in its cgroup when triggered, {} expected",
                pids.len(),
                running.started.processes
            ));
        }
        let stderr_before = file_len(&running.started.stderr);
        let reports = trigger(running, &pids, &corpus.report_dir());
        triggered.push((running, pids, reports, stderr_before));
    }
    for (running, pids, reports, stderr_before) in &triggered {
        // Read after every trigger: the stderr copy may land after the files.
        let stderr_after = read_from(&running.started.stderr, *stderr_before);
        for secret in found_in(&stderr_after, &all_secrets) {
            stderr_leaks.push((
                secret.clone(),
                format!("{}'s stderr copy", running.service.name),
            ));
        }
        for report in reports {
            let process = check_process(running, pids, report, &stderr_after, &all_secrets);
            outcome.failures.extend(process_failures(running, &process));
            outcome.processes.push(process);
        }
    }
    let log_leaks: Vec<Secret> = found_in(&agent.log(), &all_secrets)
        .into_iter()
        .cloned()
        .collect();
    for secret in all_secrets {
        let mut leaked_in: Vec<String> = stderr_leaks
            .iter()
            .filter(|(s, _)| s.value == secret.value)
            .map(|(_, place)| place.clone())
            .collect();
        if log_leaks.iter().any(|s| s.value == secret.value) {
            leaked_in.push("the agent's log".into());
        }
        let checked = check_secret(secret, &outcome.processes, leaked_in);
        outcome.failures.extend(secret_failures(&checked));
        outcome.secrets.push(checked);
    }
    outcome
}

/// Checks one reported process: its report, gdb, its secrets, alive.
fn check_process(
    running: &Running,
    pids: &[u32],
    report: &Reports,
    stderr_after: &str,
    all_secrets: &[Secret],
) -> ProcessCheck {
    let pid = report.pid;
    let json: Option<Value> = report
        .files
        .iter()
        .find(|f| f.extension().is_some_and(|e| e == "json"))
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|text| serde_json::from_str(&text).ok());
    let threads = json.as_ref().and_then(report_threads).unwrap_or_default();
    let deepest = threads
        .iter()
        .map(|t| t["user_stack"].as_array().map_or(0, Vec::len))
        .max()
        .unwrap_or(0);
    let cut = threads
        .iter()
        .filter(|t| {
            t["user_stack_note"]
                .as_str()
                .is_some_and(|note| CUT_NOTES.iter().any(|cut| note.contains(cut)))
        })
        .count();
    let short_of_entry: Vec<String> = threads
        .iter()
        .filter(|t| {
            let functions = user_functions(t);
            !THREAD_ENTRIES
                .iter()
                .any(|entry| functions.contains(&normalize_name(entry)))
        })
        .map(|t| {
            format!(
                "{} ({}): {} frames, {}",
                t["tid"],
                t["name"].as_str().unwrap_or("?"),
                t["user_stack"].as_array().map_or(0, Vec::len),
                t["user_stack_note"].as_str().unwrap_or("no note")
            )
        })
        .collect();
    let to_entry = threads.len() - short_of_entry.len();
    let unnamed_frames = threads
        .iter()
        .flat_map(|t| t["user_stack"].as_array().into_iter().flatten())
        .filter(|frame| frame["function"].is_null())
        .count();
    let moved_backwards = threads
        .iter()
        .filter(|t| {
            t["user_stack_note"]
                .as_str()
                .is_some_and(|note| note.contains("moved backwards"))
        })
        .count();
    let (gdb, missing_threads) = match (&json, gdb_backtraces(pid)) {
        (Some(json), Ok(gdb)) => {
            let scored = match_ratio_by(&gdb, json, Names::CxxExact);
            let missing = scored.threads.iter().filter(|t| !t.in_report).count();
            let present = MatchReport {
                threads: scored.threads.into_iter().filter(|t| t.in_report).collect(),
            };
            (Ok(present), missing)
        }
        (None, _) => (Err("no JSON report to score".into()), 0),
        (_, Err(e)) => (Err(format!("gdb: {e:#}")), 0),
    };
    let mut leaks = Vec::new();
    let mut text = String::new();
    for file in &report.files {
        let format = match file.extension().and_then(|e| e.to_str()) {
            Some("json") => "JSON",
            Some("yaml") => "YAML",
            _ => "text",
        };
        let contents = std::fs::read_to_string(file).unwrap_or_default();
        leaks.extend(
            found_in(&contents, all_secrets)
                .into_iter()
                .map(|s| (s.clone(), format)),
        );
        if format == "text" {
            text = contents;
        }
    }
    ProcessCheck {
        service: running.service.name,
        pid,
        role: role(pid, pids),
        threads: json.as_ref().map(|_| threads.len()),
        gdb,
        missing_threads,
        planted: running.started.secrets.len(),
        leaks,
        stderr_copy: stderr_copy(pid, stderr_after, &running.started.stderr),
        elapsed: report.elapsed,
        alive: is_alive(pid),
        deepest,
        cut,
        to_entry,
        short_of_entry,
        unnamed_frames,
        moved_backwards,
        text,
    }
}

/// The failed checks of one process, in words.
fn process_failures(running: &Running, p: &ProcessCheck) -> Vec<String> {
    let who = format!("{} {} ({})", p.service, p.pid, p.role);
    let mut failures = Vec::new();
    if p.elapsed.is_none() {
        failures.push(format!(
            "{who}: no report in every format within the timeout"
        ));
    }
    if !p.alive {
        failures.push(format!("{who}: not alive after its report"));
    }
    match &p.gdb {
        Err(e) => failures.push(format!("{who}: cannot compare with gdb: {e}")),
        Ok(scored) if scored.ratio() < running.service.match_floor => failures.push(format!(
            "{who}: {:.0}% of gdb's named frames matched, below the service's floor of {:.0}%:\n{scored}",
            100.0 * scored.ratio(),
            100.0 * running.service.match_floor
        )),
        Ok(_) => {}
    }
    if let Ok(scored) = &p.gdb {
        let invented = scored.invented_tail_calls();
        if !invented.is_empty() {
            failures.push(format!(
                "{who}: tail-call frames gdb does not show: {invented:?}\n{scored}"
            ));
        }
    }
    let seen = p.gdb.as_ref().map_or(0, |scored| scored.threads.len()) + p.missing_threads;
    if p.missing_threads * 4 > seen {
        failures.push(format!(
            "{who}: {} of the {seen} threads gdb saw are missing from the report",
            p.missing_threads
        ));
    }
    if p.stderr_copy.starts_with("no (fd 2 is the test's file)") {
        failures.push(format!(
            "{who}: its fd 2 is still the file the test gave it, but the report is not in it"
        ));
    }
    if running.service.complete_stacks && !p.short_of_entry.is_empty() {
        failures.push(format!(
            "{who}: {} thread(s) not unwound to where they began: {}",
            p.short_of_entry.len(),
            p.short_of_entry.join("; ")
        ));
    }
    if running.service.every_frame_named && (p.unnamed_frames > 0 || p.moved_backwards > 0) {
        failures.push(format!(
            "{who}: {} unnamed frame(s), {} stack(s) ended by frame pointers moving backwards",
            p.unnamed_frames, p.moved_backwards
        ));
    }
    if p.cut > 0 {
        failures.push(format!(
            "{who}: {} thread(s) with the user stack cut short (deepest stack {} frames)",
            p.cut, p.deepest
        ));
    }
    failures
}

/// Where the report went on the target's stderr: `yes` when the copy
/// for `pid` is in the file the test gave it, else where fd 2 points.
fn stderr_copy(pid: u32, stderr_after: &str, given: &Path) -> String {
    if stderr_after.contains(&format!("pid = {pid}\n")) {
        return "yes".into();
    }
    match std::fs::read_link(format!("/proc/{pid}/fd/2")) {
        Ok(target) if target == given => "no (fd 2 is the test's file)".into(),
        Ok(target) => format!("no: the daemon moved fd 2 to {}", target.display()),
        Err(e) => format!("no: fd 2 unreadable ({e})"),
    }
}

/// `master`, `worker` or `main`, from the parent links inside the group.
fn role(pid: u32, group: &[u32]) -> &'static str {
    if parent(pid).is_some_and(|ppid| group.contains(&ppid)) {
        "worker"
    } else if group.iter().any(|&other| parent(other) == Some(pid)) {
        "master"
    } else {
        "main"
    }
}

/// The parent pid, from `/proc/PID/stat`.
fn parent(pid: u32) -> Option<u32> {
    stat_fields(pid)?.get(1)?.parse().ok()
}

/// The fields of `/proc/PID/stat` after the command name (state first,
/// then the parent's pid).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// The threads of the JSON report's Threads section.
fn report_threads(report: &Value) -> Option<Vec<Value>> {
    report["sections"]
        .as_array()?
        .iter()
        .find(|s| s["title"] == "Threads")?["data"]["threads"]
        .as_array()
        .cloned()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

/// The text of `path` from byte `offset` on.
fn read_from(path: &Path, offset: u64) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(bytes.len());
    String::from_utf8_lossy(&bytes[start..]).into_owned()
}
