//! The text view: a report laid out like an oslo.reports Guru Meditation
//! Report, for people reading a log or a terminal.
//!
//! Every section opens with oslo's 72-column banner (a line of `=`, the
//! title centred between `====` marks, a line of `=`), and the report opens
//! with a "Guru Meditation" banner and a row of `|`, so tools and eyes used
//! to oslo.reports output find their way around. Strings that come from the
//! target (its name, thread names, paths, symbols) have control characters
//! escaped: a process chooses its own names, and a newline in one must not be
//! able to forge report lines.

use std::borrow::Cow;
use std::fmt::{self, Display, Formatter};

use crate::model::{PodIdentity, Report, Requester, SectionData, Target, Trigger};

mod configuration;
mod custom;
mod freeze;
mod goroutines;
mod green_threads;
mod package;
mod processes;
mod threads;

/// Width of every banner line, as in oslo.reports.
pub(super) const WIDTH: usize = 72;

/// Width the section title is centred in, between the two `====` marks.
const TITLE_WIDTH: usize = WIDTH - 8;

/// What the text view prints for a value nobody could find out.
const UNKNOWN: &str = "<unknown>";

/// Renders `report` as oslo.reports-style text, ending with a newline.
pub fn render_text(report: &Report) -> String {
    TextReport(report).to_string()
}

/// A report borrowed for formatting; `Display` does all the layout.
struct TextReport<'a>(&'a Report);

impl Display for TextReport<'_> {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        let report = self.0;
        write_banner(f, "Guru Meditation")?;
        writeln!(f, "{}", "|".repeat(WIDTH))?;
        write_header(f, report)?;
        // One blank line keeps the header apart from the first banner.
        writeln!(f)?;
        for section in &report.sections {
            write_banner(f, &section.title)?;
            match &section.body {
                Ok(SectionData::Package(data)) => package::write(f, data)?,
                Ok(SectionData::Threads(data)) => threads::write(f, data)?,
                Ok(SectionData::GreenThreads(data)) => green_threads::write(f, data)?,
                Ok(SectionData::Goroutines(data)) => goroutines::write(f, data)?,
                Ok(SectionData::Processes(data)) => processes::write(f, data)?,
                Ok(SectionData::Configuration(data)) => configuration::write(f, data)?,
                Ok(SectionData::Table(data)) => custom::write_table(f, data)?,
                Ok(SectionData::Text(data)) => custom::write_text(f, data)?,
                Err(error) => writeln!(f, "Section failed: {}", clean(error))?,
            }
        }
        Ok(())
    }
}

/// Centres `text` in `width` columns exactly as Python's `str.center` does.
///
/// CPython puts the odd padding column on the left only when both the
/// padding and the width are odd; matching it keeps banners byte-identical
/// to oslo.reports output. Text wider than `width` is returned unchanged.
pub(super) fn center(text: &str, width: usize) -> String {
    let len = text.chars().count();
    if len >= width {
        return text.to_owned();
    }
    let margin = width - len;
    let left = margin / 2 + (margin & width & 1);
    format!("{}{text}{}", " ".repeat(left), " ".repeat(margin - left))
}

/// Writes a 72-column section banner: `=` line, centred title, `=` line.
fn write_banner(f: &mut Formatter<'_>, title: &str) -> fmt::Result {
    let rule = "=".repeat(WIDTH);
    writeln!(f, "{rule}")?;
    writeln!(f, "===={}====", center(&clean(title), TITLE_WIDTH))?;
    writeln!(f, "{rule}")
}

/// Writes who the report is about and what asked for it.
fn write_header(f: &mut Formatter<'_>, report: &Report) -> fmt::Result {
    let target = &report.target;
    writeln!(f, "pid = {}", pid_text(target))?;
    if let Some(id) = &target.container_id {
        writeln!(f, "container = {}", clean(id))?;
    }
    if let Some(pod) = &target.pod {
        writeln!(f, "{}", pod_text(pod))?;
    }
    writeln!(f, "comm = {}", clean(&target.comm))?;
    writeln!(f, "exe = {}", or_unknown(target.exe.as_deref()))?;
    writeln!(f, "trigger = {}", trigger_text(&report.trigger))?;
    writeln!(
        f,
        "requester = {}",
        requester_text(report.trigger.requester())
    )?;
    writeln!(f, "generated_at = {}", report.generated_at)?;
    match &report.freeze {
        Some(data) => freeze::write(f, data),
        None => Ok(()),
    }
}

/// `4242`, or for a process in a pid namespace of its own (a container's)
/// its pid in both, saying which is which:
/// `4242 (host); 1 in its own pid namespace pid:[4026532177]`.
/// `pod = NAMESPACE/NAME (uid UID), container NAME`.
fn pod_text(pod: &PodIdentity) -> String {
    let container = pod
        .container
        .as_deref()
        .map(|name| format!(", container {}", clean(name)))
        .unwrap_or_default();
    format!(
        "pod = {}/{} (uid {}){container}",
        clean(&pod.namespace),
        clean(&pod.name),
        clean(&pod.uid)
    )
}

fn pid_text(target: &Target) -> String {
    match target.ns_pid {
        Some(ns_pid) if ns_pid != target.pid => {
            let namespace = target
                .pid_namespace
                .map(|inode| format!(" pid:[{inode}]"))
                .unwrap_or_default();
            format!(
                "{} (host); {ns_pid} in its own pid namespace{namespace}",
                target.pid
            )
        }
        _ => target.pid.to_string(),
    }
}

/// `signal SIGUSR2`, `signal SIGUSR2 (delivered)`, `file PATH` or
/// `request`.
fn trigger_text(trigger: &Trigger) -> String {
    match trigger {
        Trigger::Signal {
            signal,
            delivery: Some(delivery),
            ..
        } => format!("signal {} ({})", clean(signal), clean(delivery)),
        Trigger::Signal { signal, .. } => format!("signal {}", clean(signal)),
        Trigger::File { file, .. } => format!("file {}", clean(file)),
        Trigger::Request { .. } => "request".to_owned(),
    }
}

/// `pid 4242, uid 1000, comm kill`, or `<unknown>`.
fn requester_text(requester: Option<&Requester>) -> String {
    match requester {
        Some(r) => format!("pid {}, uid {}, comm {}", r.pid, r.uid, clean(&r.comm)),
        None => UNKNOWN.to_owned(),
    }
}

/// The value, cleaned, or `<unknown>`.
pub(super) fn or_unknown(value: Option<&str>) -> Cow<'_, str> {
    value.map_or(Cow::Borrowed(UNKNOWN), clean)
}

/// Escapes control characters so untrusted text stays on its own line.
pub(super) fn clean(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Package, Section, Trigger};
    use crate::view::sample::sample_report;

    #[test]
    fn center_matches_python() {
        // Values printed by python3 -c "print(repr(S.center(W)))".
        assert_eq!(center("ab", 5), "  ab ");
        assert_eq!(center("abc", 6), " abc  ");
        assert_eq!(center("a", 4), " a  ");
        assert_eq!(center("ab", 7), "   ab  ");
        assert_eq!(center("toolong", 3), "toolong");
        assert_eq!(
            center("Threads", 64),
            "                            Threads                             "
        );
        assert_eq!(
            center("Guru Meditation", 64),
            "                        Guru Meditation                         "
        );
    }

    #[test]
    fn banner_lines_are_72_columns_and_match_oslo() {
        let text = render_text(&sample_report());
        let lines: Vec<&str> = text.lines().collect();
        let rule = "=".repeat(72);
        assert_eq!(lines[0], rule);
        assert_eq!(
            lines[1],
            "====                        Guru Meditation                         ===="
        );
        assert_eq!(lines[2], rule);
        assert_eq!(lines[3], "|".repeat(72));
        let threads = lines
            .iter()
            .position(|l| l.contains(" Threads "))
            .expect("Threads banner");
        assert_eq!(
            lines[threads],
            "====                            Threads                             ===="
        );
        assert_eq!(lines[threads - 1], rule);
        assert_eq!(lines[threads + 1], rule);
        for line in [lines[0], lines[1], lines[3], lines[threads]] {
            assert_eq!(line.chars().count(), 72, "{line:?}");
        }
    }

    #[test]
    fn thread_banner_is_72_columns() {
        let text = render_text(&sample_report());
        let banner = text
            .lines()
            .find(|l| l.starts_with("------"))
            .expect("thread banner");
        assert_eq!(
            banner,
            "------                 Thread #8675 (\"mogan-api\")                 ------"
        );
        assert_eq!(banner.chars().count(), 72);
    }

    #[test]
    fn full_sample_report() {
        let expected = r#"========================================================================
====                        Guru Meditation                         ====
========================================================================
||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||||
pid = 8675
comm = mogan-api
exe = /usr/bin/python3.12
trigger = signal SIGUSR2
requester = pid 4242, uid 1000, comm kill
generated_at = 2026-11-26T17:48:46.123456Z

========================================================================
====                            Package                             ====
========================================================================
build_id = 0123abcd
distro_package = <unknown>
distro_package_version = <unknown>
elf_interpreter = <unknown>
executable = /usr/bin/python3.12
executable_deleted = false
executable_host_path = <unknown>
gmr_version = 0.1.0
kernel = 6.18.0
operating_system = <unknown>
own_mount_namespace = false
package_manager = <unknown>
product = <unknown>
vendor = <unknown>
version = <unknown>
========================================================================
====                           Open Files                           ====
========================================================================
Section failed: cannot read /proc/8675/fd: permission denied
========================================================================
====                            Threads                             ====
========================================================================
------                 Thread #8675 ("mogan-api")                 ------
state = S (sleeping)
Kernel stack:
  do_epoll_wait+0x4b8
  0xffffffff81000abc
User stack:
  epoll_wait (epoll_wait.c:30)
  poll_once (/usr/bin/python3.12+0x1000) [inlined]
  /usr/lib/libfoo.so+0x1a2b
  0x7f3adeadbeef
  note: unwinding stopped: no CFI

------                 Thread #8676 ("worker\n1")                 ------
state = R (running)
on_cpu = yes (registers may be a tick old)
Kernel stack: (none)
User stack: (none)
"#;
        assert_eq!(render_text(&sample_report()), expected);
    }

    #[test]
    fn unknowns_and_requests() {
        let mut report = sample_report();
        report.target.exe = None;
        report.trigger = Trigger::Request { requester: None };
        report.sections = vec![Section {
            title: "Package".to_owned(),
            body: Ok(SectionData::Package(Box::new(Package {
                executable: None,
                executable_deleted: false,
                build_id: None,
                gmr_version: "0.1.0".to_owned(),
                kernel: "6.18.0".to_owned(),
                ..Package::default()
            }))),
        }];
        let text = render_text(&report);
        assert!(text.contains("\nexe = <unknown>\n"));
        assert!(text.contains("\ntrigger = request\nrequester = <unknown>\n"));
        assert!(text.contains("\nbuild_id = <unknown>\n"));
        assert!(text.contains("\nexecutable = <unknown>\n"));
    }

    #[test]
    fn a_refused_signal_says_so() {
        let mut report = sample_report();
        let Trigger::Signal { delivery, .. } = &mut report.trigger else {
            panic!("the sample report's trigger is a signal");
        };
        *delivery = Some("refused by the guard: the target does not handle it".to_owned());
        let text = render_text(&report);
        assert!(
            text.contains(
                "\ntrigger = signal SIGUSR2 (refused by the guard: the target does not handle it)\nrequester = pid 4242,"
            ),
            "{text}"
        );
    }

    #[test]
    fn a_containers_process_shows_both_pids_and_its_container() {
        let mut report = sample_report();
        report.target.ns_pid = Some(1);
        report.target.pid_namespace = Some(4_026_532_177);
        let id = "36fb5eb6fa4016131c4bfd284db3e1ede9753218cedbcccb370a07c2f0f66360";
        report.target.container_id = Some(id.to_owned());
        let text = render_text(&report);
        assert!(
            text.contains(&format!(
                "\npid = 8675 (host); 1 in its own pid namespace pid:[4026532177]\n\
                 container = {id}\ncomm = mogan-api\n"
            )),
            "{text}"
        );
        report.target.pid_namespace = None;
        let text = render_text(&report);
        assert!(
            text.contains("\npid = 8675 (host); 1 in its own pid namespace\n"),
            "{text}"
        );
    }

    #[test]
    fn a_pods_process_shows_its_pod_and_container() {
        let mut report = sample_report();
        report.target.pod = Some(crate::model::PodIdentity {
            namespace: "openstack".into(),
            name: "nova-api-0".into(),
            uid: "0d6d1b3a-4f7e-4c5a-9a63-2d1e8f0b7c11".into(),
            container: Some("api\nforged = 1".into()),
        });
        let text = render_text(&report);
        assert!(
            text.contains(
                "\npod = openstack/nova-api-0 (uid 0d6d1b3a-4f7e-4c5a-9a63-2d1e8f0b7c11), \
                 container api\\nforged = 1\ncomm = "
            ),
            "{text}"
        );
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let mut report = sample_report();
        report.target.comm = "evil\n====".to_owned();
        let text = render_text(&report);
        assert!(text.contains("\ncomm = evil\\n====\n"));
    }
}
