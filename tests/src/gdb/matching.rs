//! Scoring a gmr report's stacks against gdb's.

use std::fmt;

use serde_json::Value;

use super::{GdbThread, normalize_name};

/// How well one thread's stack in the report matches gdb's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ThreadMatch {
    /// The thread's tid.
    pub tid: u32,
    /// The thread's name as gdb showed it.
    pub name: Option<String>,
    /// gdb's frames for the thread, innermost first, as printed.
    pub gdb_frames: Vec<String>,
    /// Whether the report has a thread with this tid at all.
    pub in_report: bool,
    /// gdb frames (with a symbol) found, in order, in the report's stack.
    pub matched: usize,
    /// gdb frames with a symbol (`??` frames are not counted), the
    /// tail-call frames gdb rebuilds from debug info included.
    pub total: usize,
    /// Tail-call frames gdb rebuilt (counted in `total`).
    pub tail_calls: usize,
    /// The report's frames marked `tail_call` that gdb does not show
    /// there: frames gmr would have invented.
    pub invented_tail_calls: Vec<String>,
    /// The first counted gdb frame the report's stack lacks.
    pub first_mismatch: Option<String>,
}

impl ThreadMatch {
    /// `matched / total`, or 0 when gdb had no symbolized frame.
    pub fn ratio(&self) -> f64 {
        ratio(self.matched, self.total)
    }
}

/// Per-thread and overall agreement between a report and gdb.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchReport {
    /// One entry per gdb thread, in gdb's order.
    pub threads: Vec<ThreadMatch>,
}

impl MatchReport {
    /// Matched frames summed over all threads.
    pub fn matched(&self) -> usize {
        self.threads.iter().map(|t| t.matched).sum()
    }

    /// Counted gdb frames summed over all threads.
    pub fn total(&self) -> usize {
        self.threads.iter().map(|t| t.total).sum()
    }

    /// The report's tail-call frames gdb lacks, over all threads.
    pub fn invented_tail_calls(&self) -> Vec<String> {
        self.threads
            .iter()
            .flat_map(|t| t.invented_tail_calls.iter().cloned())
            .collect()
    }

    /// Tail-call frames gdb rebuilt, over all threads.
    pub fn tail_calls(&self) -> usize {
        self.threads.iter().map(|t| t.tail_calls).sum()
    }

    /// Overall `matched / total`, or 0 when there is nothing to match.
    pub fn ratio(&self) -> f64 {
        ratio(self.matched(), self.total())
    }

    /// The entry for thread `tid`, if gdb saw it.
    pub fn thread(&self, tid: u32) -> Option<&ThreadMatch> {
        self.threads.iter().find(|t| t.tid == tid)
    }
}

impl fmt::Display for MatchReport {
    /// A compact table: tid, name, gdb frame count, matched/total, first mismatch.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{:>8}  {:<16} {:>4} {:>8}  first mismatch",
            "tid", "name", "gdb", "matched"
        )?;
        for t in &self.threads {
            let mismatch = match (&t.first_mismatch, t.in_report) {
                (_, false) => "(thread missing from report)",
                (Some(frame), true) => frame.as_str(),
                (None, true) => "-",
            };
            writeln!(
                f,
                "{:>8}  {:<16} {:>4} {:>8}  {mismatch}",
                t.tid,
                t.name.as_deref().unwrap_or("?"),
                t.gdb_frames.len(),
                format!("{}/{}", t.matched, t.total),
            )?;
        }
        let tail_calls: usize = self.threads.iter().map(|t| t.tail_calls).sum();
        write!(
            f,
            "overall {}/{} = {:.1}% ({tail_calls} of gdb's frames are tail-call frames rebuilt from debug info)",
            self.matched(),
            self.total(),
            100.0 * self.ratio()
        )
    }
}

/// How a gdb frame's name and a report frame's name must agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Names {
    /// Equal once [`normalize_name`] reduced both (Rust, whose paths gdb
    /// and demanglers spell differently).
    Normalized,
    /// C++ names (gdb's name has a `::`) equal verbatim: qualified scopes,
    /// template arguments with libiberty's literals (`std::ratio<1l, 1l>`)
    /// and the parameter lists gdb keeps; other names (C, Go, Python's
    /// interpreter) equal in [`normalize_name`] form.
    CxxExact,
}

impl Names {
    /// The form of `name` this rule compares.
    fn form(self, name: &str) -> String {
        match self {
            Names::CxxExact if name.contains("::") => name.to_owned(),
            _ => normalize_name(name),
        }
    }
}

/// Scores the agent's JSON report `ours` against gdb's backtraces,
/// comparing names in [`normalize_name`] form. See [`match_ratio_by`].
#[track_caller]
pub fn match_ratio(gdb: &[GdbThread], ours: &Value) -> MatchReport {
    match_ratio_by(gdb, ours, Names::Normalized)
}

/// Scores the agent's JSON report `ours` against gdb's backtraces.
///
/// For each gdb thread, the report's thread with the same tid is looked up
/// in the `Threads` section (`sections[].data.threads[]`); the gdb frames
/// that occur in its `user_stack[].function` names as an in-order
/// subsequence (longest common subsequence of the forms `names` compares)
/// count as matched. Panics if the report has no usable `Threads` section.
#[track_caller]
pub fn match_ratio_by(gdb: &[GdbThread], ours: &Value, names: Names) -> MatchReport {
    let report_threads = threads_section(ours);
    let threads = gdb
        .iter()
        .map(|thread| {
            let ours = report_threads
                .iter()
                .find(|t| t.get("tid").and_then(Value::as_u64) == Some(u64::from(thread.tid)));
            match_thread(thread, ours.map(stack_names), names)
        })
        .collect();
    MatchReport { threads }
}

/// The `threads` array of the report's `Threads` section.
#[track_caller]
fn threads_section(report: &Value) -> &[Value] {
    let sections = report["sections"]
        .as_array()
        .unwrap_or_else(|| panic!("report has no sections array: {report}"));
    let section = sections
        .iter()
        .find(|s| s["title"] == "Threads")
        .unwrap_or_else(|| panic!("report has no Threads section: {report}"));
    assert_eq!(section["status"], "ok", "Threads section failed: {section}");
    section["data"]["threads"]
        .as_array()
        .unwrap_or_else(|| panic!("Threads section has no data.threads array: {section}"))
}

/// A named frame of a report's user stack.
struct OurFrame {
    /// As the report shows it.
    raw: String,
    /// Marked `tail_call` by the report.
    tail_call: bool,
}

/// A report thread's named user frames (unnamed frames skipped).
fn stack_names(thread: &Value) -> Vec<OurFrame> {
    thread["user_stack"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|frame| {
            let raw = frame["function"].as_str()?;
            Some(OurFrame {
                raw: raw.to_owned(),
                tail_call: frame["tail_call"] == true,
            })
        })
        .collect()
}

fn match_thread(thread: &GdbThread, ours: Option<Vec<OurFrame>>, rule: Names) -> ThreadMatch {
    let counted: Vec<(&String, String)> = thread
        .frames
        .iter()
        .filter(|raw| normalize_name(raw) != "??")
        .map(|raw| (raw, rule.form(raw)))
        .collect();
    let names: Vec<&str> = counted.iter().map(|(_, name)| name.as_str()).collect();
    // A report name is compared verbatim where gdb's would be: both sides
    // of a C++ pair carry `::`, so `rule.form` agrees on them.
    let our_names: Vec<String> = ours
        .iter()
        .flatten()
        .map(|frame| rule.form(&frame.raw))
        .collect();
    let (hits, our_hits) = if ours.is_some() {
        common_subsequence(&names, &our_names)
    } else {
        (vec![false; names.len()], Vec::new())
    };
    let invented_tail_calls = ours
        .iter()
        .flatten()
        .zip(&our_hits)
        .filter(|(frame, hit)| frame.tail_call && !**hit)
        .map(|(frame, _)| frame.raw.clone())
        .collect();
    ThreadMatch {
        tid: thread.tid,
        name: thread.name.clone(),
        gdb_frames: thread.frames.clone(),
        in_report: ours.is_some(),
        matched: hits.iter().filter(|&&hit| hit).count(),
        total: counted.len(),
        tail_calls: thread.tail_call_frames.len(),
        invented_tail_calls,
        first_mismatch: counted
            .iter()
            .zip(&hits)
            .find(|(_, hit)| !**hit)
            .map(|((raw, _), _)| (*raw).clone()),
    }
}

/// Marks which of `gdb`'s names and which of `ours` belong to a longest
/// common subsequence of the two.
fn common_subsequence(gdb: &[&str], ours: &[String]) -> (Vec<bool>, Vec<bool>) {
    let (n, m) = (gdb.len(), ours.len());
    // lcs[i][j]: LCS length of gdb[i..] and ours[j..].
    let mut lcs = vec![vec![0usize; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if gdb[i] == ours[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut hits = vec![false; n];
    let mut our_hits = vec![false; m];
    let (mut i, mut j) = (0, 0);
    while i < n && j < m {
        if gdb[i] == ours[j] {
            hits[i] = true;
            our_hits[j] = true;
            i += 1;
            j += 1;
        } else if lcs[i + 1][j] >= lcs[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    (hits, our_hits)
}

fn ratio(matched: usize, total: usize) -> f64 {
    if total == 0 {
        0.0
    } else {
        matched as f64 / total as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn gdb_thread(tid: u32, frames: &[&str]) -> GdbThread {
        GdbThread {
            tail_call_frames: Vec::new(),
            tid,
            name: Some(format!("t{tid}")),
            frames: frames.iter().map(|f| f.to_string()).collect(),
        }
    }

    fn report(threads: Value) -> Value {
        json!({"sections": [
            {"title": "Process", "status": "ok", "data": {}},
            {"title": "Threads", "status": "ok", "data": {"threads": threads}}
        ]})
    }

    fn stack(functions: &[Option<&str>]) -> Value {
        functions
            .iter()
            .map(|f| json!({"address": 1, "function": f, "module": null, "file": null, "line": null, "inlined": false}))
            .collect()
    }

    #[test]
    fn counts_in_order_matches_per_thread() {
        let gdb = [
            gdb_thread(
                1,
                &[
                    "__GI___clock_nanosleep",
                    "__GI___nanosleep",
                    "sleeper_inner",
                    "sleeper_outer",
                    "??",
                ],
            ),
            gdb_thread(2, &["read", "reader_inner", "reader_outer"]),
            gdb_thread(3, &["main"]),
        ];
        let ours = report(json!([
            {"tid": 1, "name": "sleeper", "user_stack": stack(&[
                Some("clock_nanosleep@GLIBC_2.17"), None, Some("sleeper_inner"), Some("sleeper_outer")
            ])},
            {"tid": 2, "name": "reader", "user_stack": stack(&[
                Some("reader_outer"), Some("read")
            ])},
        ]));
        let result = match_ratio(&gdb, &ours);

        let sleeper = result.thread(1).expect("thread 1");
        assert_eq!((sleeper.matched, sleeper.total), (3, 4));
        assert_eq!(sleeper.first_mismatch.as_deref(), Some("__GI___nanosleep"));

        let reader = result.thread(2).expect("thread 2");
        assert_eq!((reader.matched, reader.total), (1, 3));
        assert_eq!(reader.first_mismatch.as_deref(), Some("read"));

        let main = result.thread(3).expect("thread 3");
        assert!(!main.in_report);
        assert_eq!((main.matched, main.total), (0, 1));

        assert_eq!((result.matched(), result.total()), (4, 8));
        assert!((result.ratio() - 0.5).abs() < 1e-9);
        let table = result.to_string();
        assert!(table.contains("__GI___nanosleep"), "{table}");
        assert!(table.contains("(thread missing from report)"), "{table}");
        assert!(
            table.contains("overall 4/8 = 50.0% (0 of gdb's frames are tail-call"),
            "{table}"
        );
    }

    #[test]
    fn perfect_match_scores_one() {
        let gdb = [gdb_thread(
            7,
            &["std::thread::sleep", "rust_parked::sleeping_inner"],
        )];
        let ours = report(json!([{"tid": 7, "user_stack": stack(&[
            Some("std::thread::functions::sleep::h0011223344556677"),
            Some("rust_parked::sleeping_inner::h8899aabbccddeeff"),
        ])}]));
        let result = match_ratio(&gdb, &ours);
        assert_eq!(result.ratio(), 1.0);
        assert_eq!(result.threads[0].first_mismatch, None);
    }

    #[test]
    fn tail_call_frames_count_and_unshown_ones_are_invented() {
        let mut waiter = gdb_thread(
            4,
            &[
                "__futex_abstimed_wait_common",
                "__GI___futex_abstimed_wait_cancelable64",
                "__pthread_cond_wait_common",
            ],
        );
        waiter.tail_call_frames = vec![1];
        let frame = |name: &str, tail_call: bool| json!({"address": 1, "function": name, "inlined": false, "tail_call": tail_call});
        let ours = report(json!([{"tid": 4, "user_stack": [
            frame("__futex_abstimed_wait_common", false),
            frame("__futex_abstimed_wait_cancelable64", true),
            frame("made_up", true),
            frame("__pthread_cond_wait_common", false),
        ]}]));
        let result = match_ratio(&[waiter], &ours);
        assert_eq!((result.matched(), result.total()), (3, 3));
        assert_eq!(result.tail_calls(), 1);
        assert_eq!(result.invented_tail_calls(), ["made_up"]);
    }

    #[test]
    fn cxx_names_must_equal_gdb_verbatim() {
        let gdb = [gdb_thread(
            5,
            &[
                "__GI___clock_nanosleep",
                "std::this_thread::sleep_for<long, std::ratio<1l, 1l> >",
                "std::__invoke_impl<void, main()::<lambda()> >",
                "main",
            ],
        )];
        let ours = report(json!([{"tid": 5, "user_stack": stack(&[
            Some("clock_nanosleep"),
            Some("std::this_thread::sleep_for<long, std::ratio<(long)1, (long)1> >(std::chrono::duration<long, std::ratio<(long)1, (long)1> > const&)"),
            Some("__invoke_impl<void, main()::<lambda()> >"),
            Some("main"),
        ])}]));
        assert_eq!(match_ratio(&gdb, &ours).matched(), 4);
        let exact = match_ratio_by(&gdb, &ours, Names::CxxExact);
        assert_eq!((exact.matched(), exact.total()), (2, 4));
        assert_eq!(
            exact.threads[0].first_mismatch.as_deref(),
            Some("std::this_thread::sleep_for<long, std::ratio<1l, 1l> >")
        );
    }

    #[test]
    #[should_panic(expected = "Threads section failed")]
    fn failed_threads_section_panics() {
        let ours = json!({"sections": [{"title": "Threads", "status": "failed", "error": "boom", "data": null}]});
        match_ratio(&[], &ours);
    }
}
