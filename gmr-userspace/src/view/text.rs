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

use crate::model::{
    KernelFrame, Package, Report, Requester, SectionData, Thread, Threads, Trigger, TriggerKind,
    UserFrame,
};

/// Width of every banner line, as in oslo.reports.
const WIDTH: usize = 72;

/// Width the section title is centred in, between the two `====` marks.
const TITLE_WIDTH: usize = WIDTH - 8;

/// Width the thread title is centred in, between the two `------` marks.
const THREAD_TITLE_WIDTH: usize = WIDTH - 12;

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
                Ok(SectionData::Package(package)) => write_package(f, package)?,
                Ok(SectionData::Threads(threads)) => write_threads(f, threads)?,
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
fn center(text: &str, width: usize) -> String {
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
    writeln!(f, "pid = {}", target.pid)?;
    writeln!(f, "comm = {}", clean(&target.comm))?;
    writeln!(f, "exe = {}", or_unknown(target.exe.as_deref()))?;
    writeln!(f, "trigger = {}", trigger_text(&report.trigger))?;
    writeln!(
        f,
        "requester = {}",
        requester_text(report.trigger.requester.as_ref())
    )?;
    writeln!(f, "generated_at = {}", clean(&report.generated_at))
}

/// `signal SIGUSR2`, `signal <unknown>` or `request`.
fn trigger_text(trigger: &Trigger) -> String {
    match trigger.kind {
        TriggerKind::Signal => format!("signal {}", or_unknown(trigger.signal.as_deref())),
        TriggerKind::Request => "request".to_owned(),
    }
}

/// `pid 4242, uid 1000, comm kill`, or `<unknown>`.
fn requester_text(requester: Option<&Requester>) -> String {
    match requester {
        Some(r) => format!("pid {}, uid {}, comm {}", r.pid, r.uid, clean(&r.comm)),
        None => UNKNOWN.to_owned(),
    }
}

/// Writes the Package section as `key = value` lines sorted by key, as
/// oslo's key-value view does.
fn write_package(f: &mut Formatter<'_>, package: &Package) -> fmt::Result {
    writeln!(f, "build_id = {}", or_unknown(package.build_id.as_deref()))?;
    writeln!(
        f,
        "executable = {}",
        or_unknown(package.executable.as_deref())
    )?;
    writeln!(f, "executable_deleted = {}", package.executable_deleted)?;
    writeln!(f, "gmr_version = {}", clean(&package.gmr_version))?;
    writeln!(f, "kernel = {}", clean(&package.kernel))
}

/// Writes every thread, with one blank line between thread blocks.
fn write_threads(f: &mut Formatter<'_>, threads: &Threads) -> fmt::Result {
    if threads.threads.is_empty() {
        return writeln!(f, "(no threads)");
    }
    for (index, thread) in threads.threads.iter().enumerate() {
        if index > 0 {
            writeln!(f)?;
        }
        write_thread(f, thread)?;
    }
    Ok(())
}

/// Writes one thread: its sub-banner, state, and both stacks.
fn write_thread(f: &mut Formatter<'_>, thread: &Thread) -> fmt::Result {
    let title = format!("Thread #{} (\"{}\")", thread.tid, clean(&thread.name));
    writeln!(f, "------{}------", center(&title, THREAD_TITLE_WIDTH))?;
    writeln!(f, "state = {}", clean(&thread.state))?;
    if thread.on_cpu {
        // The registers were sampled while the thread ran, not at a stop.
        writeln!(f, "on_cpu = yes (registers may be a tick old)")?;
    }
    if thread.kernel_stack.is_empty() {
        writeln!(f, "Kernel stack: (none)")?;
    } else {
        writeln!(f, "Kernel stack:")?;
        for frame in &thread.kernel_stack {
            writeln!(f, "  {}", kernel_frame_text(frame))?;
        }
    }
    if let Some(note) = &thread.kernel_stack_note {
        writeln!(f, "  note: {}", clean(note))?;
    }
    if thread.user_stack.is_empty() {
        writeln!(f, "User stack: (none)")?;
    } else {
        writeln!(f, "User stack:")?;
        for frame in &thread.user_stack {
            writeln!(f, "  {}", user_frame_text(frame))?;
        }
    }
    if let Some(note) = &thread.user_stack_note {
        writeln!(f, "  note: {}", clean(note))?;
    }
    Ok(())
}

/// `symbol+0xoff` when kallsyms named it, else the bare address.
fn kernel_frame_text(frame: &KernelFrame) -> String {
    match &frame.function {
        Some(function) => clean(function).into_owned(),
        None => format!("{:#x}", frame.address),
    }
}

/// The most useful one-line description of a user frame.
///
/// `function (file:line)` when debug info is there, `function (module+0xoff)`
/// when only the symbol table is, `module+0xoff` when only the mapping is
/// known, and the bare address when nothing is.
fn user_frame_text(frame: &UserFrame) -> String {
    let source = frame.file.as_deref().map(|file| match frame.line {
        Some(line) => format!("{}:{line}", clean(file)),
        None => clean(file).into_owned(),
    });
    let module = frame
        .module
        .as_deref()
        .map(|module| match frame.module_offset {
            Some(offset) => format!("{}+{offset:#x}", clean(module)),
            None => clean(module).into_owned(),
        });
    let mut text = match (&frame.function, source, module) {
        (Some(function), Some(place), _) | (Some(function), None, Some(place)) => {
            format!("{} ({place})", clean(function))
        }
        (Some(function), None, None) => clean(function).into_owned(),
        (None, None, Some(module)) if frame.module_offset.is_some() => module,
        (None, Some(place), _) | (None, None, Some(place)) => {
            format!("{:#x} ({place})", frame.address)
        }
        (None, None, None) => format!("{:#x}", frame.address),
    };
    if frame.inlined {
        text.push_str(" [inlined]");
    }
    text
}

/// The value, cleaned, or `<unknown>`.
fn or_unknown(value: Option<&str>) -> Cow<'_, str> {
    value.map_or(Cow::Borrowed(UNKNOWN), clean)
}

/// Escapes control characters so untrusted text stays on its own line.
fn clean(text: &str) -> Cow<'_, str> {
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
    use crate::model::Section;
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
executable = /usr/bin/python3.12
executable_deleted = false
gmr_version = 0.1.0
kernel = 6.18.0
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
        report.trigger = Trigger {
            kind: TriggerKind::Request,
            signal: None,
            requester: None,
        };
        report.sections = vec![Section {
            title: "Package".to_owned(),
            body: Ok(SectionData::Package(Package {
                executable: None,
                executable_deleted: false,
                build_id: None,
                gmr_version: "0.1.0".to_owned(),
                kernel: "6.18.0".to_owned(),
            })),
        }];
        let text = render_text(&report);
        assert!(text.contains("\nexe = <unknown>\n"));
        assert!(text.contains("\ntrigger = request\nrequester = <unknown>\n"));
        assert!(text.contains("\nbuild_id = <unknown>\nexecutable = <unknown>\n"));
    }

    #[test]
    fn control_characters_cannot_forge_lines() {
        let mut report = sample_report();
        report.target.comm = "evil\n====".to_owned();
        let text = render_text(&report);
        assert!(text.contains("\ncomm = evil\\n====\n"));
    }
}
