//! Reads a guest's console: the sentinel lines `init.sh` prints, into one
//! kernel's results, and the table `cargo xtask vm-test` prints.

use std::time::Duration;

use super::qemu::Console;

/// The tests `init.sh` runs; each must report, or the kernel fails.
pub const TESTS: [&str; 3] = [
    "tagged-sleep-survives",
    "untagged-sleep-dies",
    "handler-and-report",
];

/// One `gmr-agent check` probe as the guest printed it.
#[derive(Debug, PartialEq)]
pub struct Probe {
    /// The feature (`capture iterator`, `lsm signal guard`…).
    pub feature: String,
    /// True when it works.
    pub ok: bool,
}

/// One guard test's outcome.
#[derive(Debug, PartialEq)]
pub struct TestResult {
    /// The test's name.
    pub name: String,
    /// True when it passed.
    pub passed: bool,
    /// What the guest saw.
    pub detail: String,
}

/// Everything one boot told.
#[derive(Debug, Default)]
pub struct KernelRun {
    /// `uname -r` in the guest.
    pub release: Option<String>,
    /// The active LSMs (`/sys/kernel/security/lsm`).
    pub lsm: Option<String>,
    /// `gmr-agent check` probes.
    pub probes: Vec<Probe>,
    /// Guard test outcomes, in order.
    pub tests: Vec<TestResult>,
    /// From QEMU's start to the guest's first line.
    pub boot: Option<Duration>,
    /// From the guest's first line to its last.
    pub test: Option<Duration>,
    /// True when the guest printed `GMR-VM-DONE`.
    pub done: bool,
    /// True when the host had to stop QEMU.
    pub timed_out: bool,
}

impl KernelRun {
    /// Reads the sentinel lines of `console`.
    pub fn parse(console: &Console) -> Self {
        let mut run = Self {
            timed_out: console.timed_out,
            ..Self::default()
        };
        let mut booted_at = None;
        for line in &console.lines {
            let Some((tag, rest)) = sentinel(&line.text) else {
                continue;
            };
            match tag {
                "GMR-VM-BOOTED" => {
                    booted_at = Some(line.at);
                    run.boot = Some(line.at);
                    run.release = Some(rest.to_owned());
                }
                "GMR-VM-LSM" => run.lsm = Some(rest.to_owned()),
                "GMR-VM-CHECK" => run.probes = probes(rest),
                "GMR-VM-RESULT" => run.tests.extend(test_result(rest)),
                "GMR-VM-DONE" => {
                    run.done = true;
                    run.test = booted_at.map(|b| line.at.saturating_sub(b));
                }
                _ => {}
            }
        }
        run
    }

    /// True when the bpf LSM is active.
    pub fn bpf_lsm_active(&self) -> bool {
        self.lsm
            .as_deref()
            .is_some_and(|l| l.split(',').any(|m| m.trim() == "bpf"))
    }

    /// True when the guest finished and every test passed.
    pub fn passed(&self) -> bool {
        self.done
            && TESTS
                .iter()
                .all(|name| self.tests.iter().any(|t| t.name == *name && t.passed))
    }

    /// The tests that passed, of [`TESTS`].
    pub fn passed_count(&self) -> usize {
        TESTS
            .iter()
            .filter(|name| self.tests.iter().any(|t| t.name == **name && t.passed))
            .count()
    }
}

/// `("GMR-VM-RESULT", "name PASS detail")` from a console line; kernel
/// messages may precede the sentinel on the same line.
fn sentinel(text: &str) -> Option<(&str, &str)> {
    let start = text.find("GMR-VM-")?;
    let text = &text[start..];
    Some(text.split_once(' ').unwrap_or((text, "")))
}

fn test_result(rest: &str) -> Option<TestResult> {
    let mut words = rest.splitn(3, ' ');
    let name = words.next()?.to_owned();
    let passed = words.next()? == "PASS";
    let detail = words.next().unwrap_or("").to_owned();
    Some(TestResult {
        name,
        passed,
        detail,
    })
}

/// The probes of `gmr-agent check --format json` (empty when it did not print JSON).
fn probes(json: &str) -> Vec<Probe> {
    let Ok(serde_json::Value::Array(items)) = serde_json::from_str(json) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            Some(Probe {
                feature: item.get("feature")?.as_str()?.to_owned(),
                ok: item.get("ok")?.as_bool()?,
            })
        })
        .collect()
}

/// The per-kernel table: one block per kernel.
pub fn table(runs: &[(String, KernelRun)]) -> String {
    let mut out = String::new();
    for (package, run) in runs {
        let secs =
            |d: Option<Duration>| d.map_or("-".into(), |d| format!("{:.1} s", d.as_secs_f64()));
        let (ok, missing): (Vec<&Probe>, Vec<&Probe>) = run.probes.iter().partition(|p| p.ok);
        let names = |ps: &[&Probe]| {
            ps.iter()
                .map(|p| p.feature.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        };
        out.push_str(&format!(
            "{package}: {}\n  kernel   {}\n  lsm      {}{}\n  check ok {}\n  missing  {}\n  time     boot {}, tests {}{}\n",
            if run.passed() { "PASS" } else { "FAIL" },
            run.release.as_deref().unwrap_or("- (the guest never booted)"),
            run.lsm.as_deref().unwrap_or("-"),
            if run.bpf_lsm_active() { "" } else { "  (bpf LSM NOT active)" },
            names(&ok),
            names(&missing),
            secs(run.boot),
            secs(run.test),
            if run.timed_out { " (timed out)" } else { "" },
        ));
        for name in TESTS {
            match run.tests.iter().find(|t| t.name == name) {
                Some(t) => out.push_str(&format!(
                    "  {}  {name} ({})\n",
                    if t.passed { "PASS" } else { "FAIL" },
                    t.detail
                )),
                None => out.push_str(&format!("  FAIL  {name} (did not run)\n")),
            }
        }
        for t in run
            .tests
            .iter()
            .filter(|t| !TESTS.contains(&t.name.as_str()))
        {
            out.push_str(&format!(
                "  {}  {} ({})\n",
                if t.passed { "PASS" } else { "FAIL" },
                t.name,
                t.detail
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{KernelRun, Probe, TestResult};
    use crate::vm::qemu::{Console, Line};

    fn console(lines: &[(u64, &str)], timed_out: bool) -> Console {
        Console {
            lines: lines
                .iter()
                .map(|&(ms, text)| Line {
                    at: Duration::from_millis(ms),
                    text: text.into(),
                })
                .collect(),
            timed_out,
        }
    }

    #[test]
    fn reads_sentinels_and_times() {
        let run = KernelRun::parse(&console(
            &[
                (100, "[    0.000000] Linux version 6.1.0"),
                (3000, "GMR-VM-BOOTED 6.1.0-41-cloud-amd64"),
                (
                    3100,
                    "GMR-VM-LSM lockdown,capability,landlock,yama,apparmor,bpf",
                ),
                (
                    5000,
                    r#"GMR-VM-CHECK [  {"feature": "btf",  "ok": true}, {"feature": "lsm signal guard", "ok": false}]"#,
                ),
                (
                    6000,
                    "GMR-VM-RESULT tagged-sleep-survives PASS survived=yes,report=yes",
                ),
                (
                    6500,
                    "[    7.1] random: crng init GMR-VM-RESULT untagged-sleep-dies PASS exit-status=140",
                ),
                (
                    7000,
                    "GMR-VM-RESULT handler-and-report FAIL handler=yes,report=no",
                ),
                (13000, "GMR-VM-DONE"),
            ],
            false,
        ));
        assert_eq!(run.release.as_deref(), Some("6.1.0-41-cloud-amd64"));
        assert!(run.bpf_lsm_active());
        assert_eq!(
            run.probes,
            [
                Probe {
                    feature: "btf".into(),
                    ok: true
                },
                Probe {
                    feature: "lsm signal guard".into(),
                    ok: false
                }
            ]
        );
        assert_eq!(
            run.tests[1],
            TestResult {
                name: "untagged-sleep-dies".into(),
                passed: true,
                detail: "exit-status=140".into()
            }
        );
        assert_eq!(run.boot, Some(Duration::from_secs(3)));
        assert_eq!(run.test, Some(Duration::from_secs(10)));
        assert_eq!(run.passed_count(), 2);
        assert!(!run.passed());
        let table = super::table(&[("linux-image-6.1".into(), run)]);
        assert!(table.contains("linux-image-6.1: FAIL"), "{table}");
        assert!(
            table.contains("  check ok btf\n  missing  lsm signal guard\n"),
            "{table}"
        );
        assert!(
            table.contains("  FAIL  handler-and-report (handler=yes,report=no)"),
            "{table}"
        );
    }

    #[test]
    fn a_guest_that_never_finishes_fails_even_with_passing_lines() {
        let lines = [
            (1000, "GMR-VM-BOOTED 6.12"),
            (2000, "GMR-VM-LSM capability,bpf"),
            (3000, "GMR-VM-RESULT tagged-sleep-survives PASS x"),
            (3000, "GMR-VM-RESULT untagged-sleep-dies PASS x"),
            (3000, "GMR-VM-RESULT handler-and-report PASS x"),
        ];
        let run = KernelRun::parse(&console(&lines, true));
        assert!(!run.passed());
        assert!(super::table(&[("k".into(), run)]).contains("(timed out)"));
        let mut done = lines.to_vec();
        done.push((4000, "GMR-VM-DONE"));
        assert!(KernelRun::parse(&console(&done, false)).passed());
    }

    #[test]
    fn a_missing_test_fails_and_is_named() {
        let run = KernelRun::parse(&console(
            &[(1, "GMR-VM-BOOTED x"), (2, "GMR-VM-DONE")],
            false,
        ));
        assert!(!run.passed());
        assert!(!run.bpf_lsm_active());
        let table = super::table(&[("k".into(), run)]);
        assert!(
            table.contains("FAIL  untagged-sleep-dies (did not run)"),
            "{table}"
        );
        assert!(table.contains("(bpf LSM NOT active)"), "{table}");
    }
}
