//! The OpenStack corpus: Debian's OpenStack services (Zed, oslo.reports
//! built in), unmodified, started on 127.0.0.1 like the real-world corpus
//! ([`crate::realworld`]) and compared with the report each service's own
//! oslo.reports handler writes for the same process.
//!
//! [`heat`] starts heat-api; [`oslo`] parses oslo's text report; this
//! module asks both for a report of one process and compares them section
//! by section into a [`Row`] of the printed table.

pub mod heat;
pub mod heat_engine;
pub mod oslo;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::realworld::secrets::{Secret, found_in};

/// SIGUSR2, the signal oslo.reports' `setup_autorun` handles.
const SIGUSR2: i32 = 12;

/// Whether `pid` catches SIGUSR2 (its `SigCgt` mask in /proc): only then
/// may the test send it, since an uncaught SIGUSR2 kills the process.
pub fn catches_sigusr2(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|l| {
                l.strip_prefix("SigCgt:")
                    .and_then(|m| u64::from_str_radix(m.trim(), 16).ok())
            })
        })
        .is_some_and(|mask| mask & (1 << (SIGUSR2 - 1)) != 0)
}

/// Sends SIGUSR2 to `pid` (which [`catches_sigusr2`]) and returns what
/// oslo appended to `stderr` (its report goes there when no `log_dir` is
/// configured) once the file stopped growing, with the time it took.
pub fn oslo_report(pid: u32, stderr: &Path) -> Result<(String, Duration), String> {
    let offset = std::fs::metadata(stderr).map_or(0, |m| m.len());
    let began = Instant::now();
    // The caller checked that the pid's SigCgt mask catches SIGUSR2.
    if let Err(error) = crate::syscalls::send_signal(pid, crate::syscalls::Signal::USR2) {
        return Err(format!("kill -USR2 {pid}: {error}"));
    }
    let mut last = (offset, began.elapsed());
    while began.elapsed() < Duration::from_secs(30) {
        std::thread::sleep(Duration::from_millis(50));
        let len = std::fs::metadata(stderr).map_or(0, |m| m.len());
        if len != last.0 {
            last = (len, began.elapsed());
        } else if len > offset && began.elapsed() - last.1 > Duration::from_millis(700) {
            let bytes = std::fs::read(stderr).map_err(|e| e.to_string())?;
            let text = String::from_utf8_lossy(&bytes[offset as usize..]).into_owned();
            return Ok((text, last.1));
        }
    }
    Err(format!(
        "oslo wrote no report for {pid} to {}",
        stderr.display()
    ))
}

/// Waits until `file` has not grown for a second (at most 20 s): the
/// agent's copies of its reports to the targets' shared stderr must all
/// have landed before oslo's report is cut from what follows.
pub fn wait_until_quiet(file: &Path) {
    let began = Instant::now();
    let mut last = (
        std::fs::metadata(file).map_or(0, |m| m.len()),
        Instant::now(),
    );
    while began.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(100));
        let len = std::fs::metadata(file).map_or(0, |m| m.len());
        if len != last.0 {
            last = (len, Instant::now());
        } else if last.1.elapsed() >= Duration::from_secs(1) {
            return;
        }
    }
}

/// One process's comparison: a row of the printed table.
#[derive(Debug, Default)]
pub struct Row {
    /// The process.
    pub pid: u32,
    /// Threads whose Python ident gmr showed as oslo printed it: matched,
    /// oslo's.
    pub idents: (usize, usize),
    /// Greenlets oslo listed, and gmr's.
    pub greenlets: (usize, usize),
    /// oslo's greenlet frames found in a gmr greenlet, over oslo's total.
    pub greenlet_frames: (usize, usize),
    /// gmr's greenlets that name the process's main thread, over gmr's.
    pub on_main_thread: (usize, usize),
    /// gmr's greenlets marked as the hub.
    pub hubs: usize,
    /// Threads with Python frames: oslo's, gmr's.
    pub threads: (usize, usize),
    /// Configuration options: oslo's, gmr's.
    pub options: (usize, usize),
    /// gmr's unmasked values oslo also shows unmasked: equal, compared.
    pub values: (usize, usize),
    /// Secrets planted, leaked by oslo, leaked by gmr.
    pub secrets: (usize, usize, usize),
    /// gmr's report time and oslo's.
    pub times: (Duration, Duration),
    /// What gmr must deliver and did not.
    pub failures: Vec<String>,
}

/// `(function, file, line)` of each frame of a gmr JSON frame list.
fn gmr_frames(frames: &Value) -> Vec<oslo::Frame> {
    frames
        .as_array()
        .into_iter()
        .flatten()
        .filter(|f| f["kind"] == "python")
        .map(|f| oslo::Frame {
            file: f["file"].as_str().unwrap_or("?").to_owned(),
            line: f["line"].as_u64().unwrap_or(0),
            function: f["function"].as_str().unwrap_or("?").to_owned(),
        })
        .collect()
}

/// The data of `report`'s section `title` (`Null` when it failed).
fn data<'a>(report: &'a Value, title: &str) -> &'a Value {
    report["sections"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["title"] == title))
        .map_or(&Value::Null, |s| &s["data"])
}

/// A failed section's error, or its note: why a count is short.
fn section_summary(report: &Value, title: &str) -> String {
    report["sections"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["title"] == title))
        .map_or_else(
            || "missing".to_owned(),
            |s| {
                format!(
                    "status {}, error {}, note {}, greenlet {}, {} objects walked",
                    s["status"],
                    s["error"],
                    s["data"]["note"],
                    s["data"]["greenlet"],
                    s["data"]["objects_walked"]
                )
            },
        )
}

/// Whether a value is masked (oslo's and gmr's mask both contain `***`).
fn masked(value: &str) -> bool {
    value.contains("***")
}

/// A value as sorted lines of items: a Python list repr's items unquoted,
/// a dict repr's as `key = value`, as oslo prints them one per line;
/// anything else as is.
fn python_items(value: &str) -> Vec<String> {
    let (inner, dict) =
        if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            (inner, false)
        } else if let Some(inner) = value.strip_prefix('{').and_then(|v| v.strip_suffix('}')) {
            (inner, true)
        } else if value.is_empty() {
            // oslo prints an empty list as nothing after `name = `.
            return Vec::new();
        } else if value.contains('\n') {
            let mut lines: Vec<String> = value.lines().map(str::to_owned).collect();
            lines.sort();
            return lines;
        } else {
            return vec![value.to_owned()];
        };
    let unquote = |s: &str| s.trim().trim_matches('\'').to_owned();
    let mut items: Vec<String> = split_top_level(inner)
        .into_iter()
        .map(|item| match item.split_once(": ") {
            Some((key, value)) if dict => format!("{} = {}", unquote(key), unquote(value)),
            _ => unquote(&item),
        })
        .collect();
    items.sort();
    items
}

/// The comma-separated items of a Python repr's inside, commas in quotes
/// or brackets left alone.
fn split_top_level(inner: &str) -> Vec<String> {
    let (mut items, mut current, mut quote, mut depth) = (Vec::new(), String::new(), None, 0);
    for c in inner.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (None, '\'' | '"') => quote = Some(c),
            (None, '[' | '{' | '(') => depth += 1,
            (None, ']' | '}' | ')') => depth -= 1,
            (None, ',') if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() {
        items.push(current);
    }
    items
}

/// Compares gmr's JSON report of `pid` (`gmr_text`: all its files' text,
/// searched for secrets) with oslo's text report of it.
pub fn compare(
    pid: u32,
    gmr: &Value,
    gmr_text: &str,
    oslo_text: &str,
    secrets: &[Secret],
    times: (Duration, Duration),
) -> Row {
    let oslo = oslo::parse(oslo_text);
    let mut row = Row {
        pid,
        times,
        ..Row::default()
    };
    let green: Vec<Vec<oslo::Frame>> = data(gmr, "Green Threads")["greenlets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| gmr_frames(&g["frames"]))
        .collect();
    row.greenlets = (oslo.greenlets.len(), green.len());
    for stack in &oslo.greenlets {
        let best = green
            .iter()
            .map(|g| stack.iter().filter(|f| g.contains(f)).count())
            .max()
            .unwrap_or(0);
        row.greenlet_frames.0 += best;
        row.greenlet_frames.1 += stack.len();
        if best < stack.len() {
            row.failures.push(format!(
                "{pid}: oslo's greenlet {:?} has no gmr greenlet with all its frames",
                stack.last()
            ));
        }
    }
    if green.len() < oslo.greenlets.len() {
        row.failures.push(format!(
            "{pid}: gmr shows {} greenlets, oslo {}; gmr's section: {}",
            green.len(),
            oslo.greenlets.len(),
            section_summary(gmr, "Green Threads")
        ));
    }
    (row.on_main_thread, row.hubs) = greenlet_threads(pid, gmr, &mut row.failures);
    let gmr_threads = data(gmr, "Threads")["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| !gmr_frames(&t["python_frames"]).is_empty())
        .count();
    row.threads = (
        oslo.threads.iter().filter(|(_, t)| !t.is_empty()).count(),
        gmr_threads,
    );
    let idents: Vec<u64> = data(gmr, "Threads")["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["python_ident"].as_u64())
        .collect();
    row.idents.1 = oslo.threads.len();
    for (ident, _) in &oslo.threads {
        if idents.contains(ident) {
            row.idents.0 += 1;
        } else {
            row.failures.push(format!(
                "{pid}: oslo's Thread #{ident} has no gmr thread with that python_ident (gmr's: {idents:?})"
            ));
        }
    }
    if row.threads.1 < row.threads.0 {
        row.failures.push(format!(
            "{pid}: threads with Python frames: gmr {gmr_threads}, oslo {}",
            row.threads.0
        ));
    }
    let configuration = data(gmr, "Configuration");
    for file in configuration["files"].as_array().into_iter().flatten() {
        if file["modified_after_start"] == true {
            row.failures.push(format!(
                "{pid}: {} is said to have changed after the start; the corpus writes it before",
                file["path"]
            ));
        }
    }
    let live = &configuration["live"];
    if live.is_null() {
        row.failures.push(format!(
            "{pid}: no live oslo.config options: {}",
            configuration["live_error"]
        ));
    }
    let gmr_options: Vec<(String, String, String)> = live["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| {
            let group = g["name"].as_str().unwrap_or("").to_lowercase();
            g["options"].as_array().into_iter().flatten().map(move |o| {
                (
                    group.clone(),
                    o["name"].as_str().unwrap_or("").to_owned(),
                    o["value"].as_str().unwrap_or("").to_owned(),
                )
            })
        })
        .collect();
    row.options = (oslo.options.len(), gmr_options.len());
    let used = live["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|g| g["options"].as_array().into_iter().flatten())
        .filter(|o| o["used"] == true)
        .count();
    println!(
        "{pid}: live options: {used} of {} cached by oslo (used), the rest worked out; {} set in files but unregistered; notes {}",
        gmr_options.len(),
        live["unregistered"].as_array().map_or(0, Vec::len),
        live["notes"]
    );
    if oslo.options.is_empty() {
        row.failures.push(format!(
            "{pid}: oslo's report has no Configuration options to compare with"
        ));
    }
    for (group, name, shown) in &oslo.options {
        let Some((_, _, value)) = gmr_options.iter().find(|(g, n, _)| g == group && n == name)
        else {
            row.failures.push(format!(
                "{pid}: oslo's [{group}] {name} is not among gmr's live options"
            ));
            continue;
        };
        if masked(value) || masked(shown) {
            continue;
        }
        row.values.1 += 1;
        if python_items(value) == python_items(shown) {
            row.values.0 += 1;
        } else {
            row.failures.push(format!(
                "{pid}: [{group}] {name}: gmr {value:?}, oslo {shown:?}"
            ));
        }
    }
    let oslo_leaks = found_in(oslo_text, secrets).len();
    let gmr_leaks = found_in(gmr_text, secrets);
    row.secrets = (secrets.len(), oslo_leaks, gmr_leaks.len());
    for leak in gmr_leaks {
        row.failures.push(format!(
            "{pid}: gmr leaked the secret planted in {}",
            leak.label
        ));
    }
    row
}

/// Checks the threads gmr gives the greenlets of `pid`: an eventlet
/// service runs them all on its main thread, so each must name it (its tid
/// and the Python ident Threads shows for it), at least one must be marked
/// as eventlet's hub, and at most one as running. Greenlets can be placed
/// only once one of them has switched (greenlet 2.x/3.x keep no other link
/// to the OS thread): while none is suspended (a parent process whose hub
/// never ran), each must say why it names no thread instead. Returns
/// (greenlets naming the main thread, greenlets) and the number of hubs.
fn greenlet_threads(pid: u32, gmr: &Value, failures: &mut Vec<String>) -> ((usize, usize), usize) {
    let greenlets = data(gmr, "Green Threads")["greenlets"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let main_ident = data(gmr, "Threads")["threads"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["tid"] == pid)
        .map(|t| t["python_ident"].clone())
        .filter(Value::is_u64);
    let on_main =
        |g: &&Value| g["thread"] == pid && Some(&g["python_ident"]) == main_ident.as_ref();
    let placed = greenlets.iter().filter(on_main).count();
    let hubs = greenlets.iter().filter(|g| g["hub"] == true).count();
    let switched = greenlets.iter().any(|g| g["state"] == "suspended");
    let wrong: Vec<String> = greenlets
        .iter()
        .filter(|g| {
            if switched {
                !on_main(g)
            } else {
                !g["python_ident"].is_null()
                    || !g["note"]
                        .as_str()
                        .is_some_and(|n| n.contains("thread not shown"))
            }
        })
        .map(|g| {
            format!(
                "{} on thread {} ident {} ({})",
                g["address"], g["thread"], g["python_ident"], g["note"]
            )
        })
        .collect();
    if !wrong.is_empty() {
        failures.push(format!(
            "{pid}: {} of {} greenlets do not name the main thread (ident {main_ident:?}){}: {wrong:?}",
            wrong.len(),
            greenlets.len(),
            if switched { "" } else { " nor say why not" }
        ));
    }
    if switched && hubs == 0 {
        failures.push(format!("{pid}: no greenlet is marked as eventlet's hub"));
    }
    let running = greenlets.iter().filter(|g| g["running"] == true).count();
    if running > 1 {
        failures.push(format!(
            "{pid}: {running} greenlets marked as running on the one main thread"
        ));
    }
    ((placed, greenlets.len()), hubs)
}

/// The rows as a Markdown table for `service`.
pub fn table(service: &str, rows: &[Row]) -> String {
    let mut out = format!(
        "{service}:\n| pid | greenlets oslo/gmr | greenlet frames matched | greenlets on the main thread | hubs | threads with Python frames oslo/gmr | thread idents matched | options oslo/gmr | values equal | secrets planted | leaked oslo/gmr | report ms gmr/oslo |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n"
    );
    for r in rows {
        out.push_str(&format!(
            "| {} | {}/{} | {}/{} | {}/{} | {} | {}/{} | {}/{} | {}/{} | {}/{} | {} | {}/{} | {}/{} |\n",
            r.pid,
            r.greenlets.0,
            r.greenlets.1,
            r.greenlet_frames.0,
            r.greenlet_frames.1,
            r.on_main_thread.0,
            r.on_main_thread.1,
            r.hubs,
            r.threads.0,
            r.threads.1,
            r.idents.0,
            r.idents.1,
            r.options.0,
            r.options.1,
            r.values.0,
            r.values.1,
            r.secrets.0,
            r.secrets.1,
            r.secrets.2,
            r.times.0.as_millis(),
            r.times.1.as_millis(),
        ));
    }
    out
}
