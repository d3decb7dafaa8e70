//! Text of the Threads section: one block per OS thread. Threads whose
//! stacks (kernel, user, Python, with their notes) are the same show them
//! once, in the first such thread's block, which names the others; theirs
//! point back to it. (The JSON and YAML views keep every thread whole.)

use std::{
    collections::{HashMap, hash_map::Entry},
    fmt::{self, Formatter, Write as _},
    hash::{Hash, Hasher},
};

use super::{WIDTH, center, clean};
use crate::model::{FrameKind, KernelFrame, Thread, Threads, UserFrame};

/// Width the thread title is centred in, between the two `------` marks.
const THREAD_TITLE_WIDTH: usize = WIDTH - 12;

/// Writes every thread, with one blank line between thread blocks.
pub(super) fn write(f: &mut Formatter<'_>, threads: &Threads) -> fmt::Result {
    if let Some(note) = &threads.note {
        writeln!(f, "note: {}", clean(note))?;
    }
    if let Some(python) = &threads.python {
        writeln!(
            f,
            "Python {} ({})",
            clean(&python.version),
            clean(&python.binary)
        )?;
    }
    if let Some(note) = &threads.python_note {
        writeln!(f, "note: {}", clean(note))?;
    }
    if threads.threads.is_empty() {
        return writeln!(f, "(no threads)");
    }
    let blocks = StackBlocks::of(&threads.threads)?;
    for (index, thread) in threads.threads.iter().enumerate() {
        if index > 0 {
            writeln!(f)?;
        }
        write_header(f, thread)?;
        let (text, sharing) = blocks.of_thread(index);
        match sharing {
            [first, ..] if *first != thread.tid => {
                writeln!(f, "Stacks: same as thread #{first}")?;
            }
            [_, others @ ..] => {
                f.write_str(text)?;
                if !others.is_empty() {
                    let names: Vec<String> = others.iter().map(|tid| format!("#{tid}")).collect();
                    writeln!(
                        f,
                        "Same stacks in {} more thread{}: {}",
                        others.len(),
                        if others.len() == 1 { "" } else { "s" },
                        names.join(", ")
                    )?;
                }
            }
            [] => unreachable!("every thread is in its block's list"),
        }
    }
    Ok(())
}

/// Each distinct stacks text of a section once, and which threads show it.
///
/// Threads of a service mostly wait in the same few places: a thread whose
/// stacks equal an earlier thread's (compared as data, [`StacksKey`]) takes
/// that text without rendering it; texts that come out the same from
/// different data (Python frames at other addresses, say) are then merged,
/// so the grouping is by what the reader sees.
struct StackBlocks {
    /// Each distinct text.
    texts: Vec<String>,
    /// The tids showing each text, in thread order.
    sharing: Vec<Vec<u32>>,
    /// Per thread, the index of its text.
    text_of: Vec<usize>,
}

impl StackBlocks {
    /// Renders the stacks of `threads`, each distinct one once.
    fn of(threads: &[Thread]) -> Result<Self, fmt::Error> {
        let mut by_data: HashMap<StacksKey<'_>, usize> = HashMap::new();
        let mut by_text: HashMap<String, usize> = HashMap::new();
        let mut blocks = Self {
            texts: Vec::new(),
            sharing: Vec::new(),
            text_of: Vec::with_capacity(threads.len()),
        };
        for thread in threads {
            let index = match by_data.entry(StacksKey::of(thread)) {
                Entry::Occupied(known) => *known.get(),
                Entry::Vacant(new) => {
                    let text = stacks_text(thread)?;
                    let next = blocks.texts.len();
                    let index = *by_text.entry(text.clone()).or_insert(next);
                    if index == next {
                        blocks.texts.push(text);
                        blocks.sharing.push(Vec::new());
                    }
                    *new.insert(index)
                }
            };
            blocks.sharing[index].push(thread.tid);
            blocks.text_of.push(index);
        }
        Ok(blocks)
    }

    /// The text thread `index` shows, and every tid that shows it.
    fn of_thread(&self, index: usize) -> (&str, &[u32]) {
        let text = self.text_of[index];
        (&self.texts[text], &self.sharing[text])
    }
}

/// What a thread's stacks text is made from, borrowed: equal keys render
/// the same text.
#[derive(PartialEq, Eq)]
struct StacksKey<'a> {
    kernel_stack: &'a [KernelFrame],
    kernel_stack_note: Option<&'a str>,
    user_stack: &'a [UserFrame],
    user_stack_note: Option<&'a str>,
    python_frames: Option<&'a [UserFrame]>,
    python_note: Option<&'a str>,
    holds_gil: Option<bool>,
}

impl<'a> StacksKey<'a> {
    /// The key of `thread`'s stacks.
    fn of(thread: &'a Thread) -> Self {
        Self {
            kernel_stack: &thread.kernel_stack,
            kernel_stack_note: thread.kernel_stack_note.as_deref(),
            user_stack: &thread.user_stack,
            user_stack_note: thread.user_stack_note.as_deref(),
            python_frames: thread.python_frames.as_deref(),
            python_note: thread.python_note.as_deref(),
            holds_gil: thread.holds_gil,
        }
    }
}

/// Hashes the frames' addresses only: cheap next to their strings, and
/// equal keys have equal addresses, so equal hashes.
impl Hash for StacksKey<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let python = self.python_frames.unwrap_or_default();
        for length in [self.kernel_stack.len(), self.user_stack.len(), python.len()] {
            state.write_usize(length);
        }
        let kernel = self.kernel_stack.iter().map(|frame| frame.address);
        let user = self
            .user_stack
            .iter()
            .chain(python)
            .map(|frame| frame.address);
        for address in kernel.chain(user) {
            state.write_u64(address);
        }
    }
}

/// Writes one thread's sub-banner and state.
fn write_header(f: &mut Formatter<'_>, thread: &Thread) -> fmt::Result {
    let title = format!("Thread #{} (\"{}\")", thread.tid, clean(&thread.name));
    writeln!(f, "------{}------", center(&title, THREAD_TITLE_WIDTH))?;
    if let Some(ns_tid) = thread.ns_tid.filter(|&ns_tid| ns_tid != thread.tid) {
        writeln!(f, "ns_tid = {ns_tid} (in the process's own pid namespace)")?;
    }
    writeln!(f, "state = {}", clean(&thread.state))?;
    if let Some(ident) = thread.python_ident {
        writeln!(f, "python_ident = {ident} (threading.get_ident())")?;
    }
    if thread.holds_gil == Some(true) {
        writeln!(f, "gil = held")?;
    }
    if thread.on_cpu {
        // The registers were sampled while the thread ran, not at a stop.
        writeln!(f, "on_cpu = yes (registers may be a tick old)")?;
    }
    Ok(())
}

/// The thread's kernel, user and Python stacks with their notes, as text.
fn stacks_text(thread: &Thread) -> Result<String, fmt::Error> {
    let mut text = String::new();
    let f = &mut text;
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
    write_python_stack(f, thread)?;
    Ok(text)
}

/// Writes the thread's Python stack as tracebacks show frames, innermost
/// first, when the thread runs Python.
fn write_python_stack(f: &mut String, thread: &Thread) -> fmt::Result {
    let Some(frames) = &thread.python_frames else {
        return Ok(());
    };
    let gil = match thread.holds_gil {
        Some(true) => "holds the GIL",
        Some(false) => "does not hold the GIL",
        None => "GIL holder unknown",
    };
    if frames.is_empty() {
        writeln!(f, "Python stack ({gil}): (none)")?;
    } else {
        writeln!(f, "Python stack ({gil}), innermost first:")?;
    }
    for frame in frames {
        let line = frame
            .line
            .map_or_else(|| "?".to_owned(), |line| line.to_string());
        writeln!(
            f,
            "  File \"{}\", line {line}, in {}",
            clean(frame.file.as_deref().unwrap_or("?")),
            clean(frame.function.as_deref().unwrap_or("?"))
        )?;
        if let Some(source) = &frame.source {
            writeln!(f, "    {}", clean(source))?;
        }
    }
    if let Some(note) = &thread.python_note {
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
    if frame.tail_call {
        text.push_str(" [tail call]");
    }
    match frame.kind {
        FrameKind::Python => text.push_str(" [python]"),
        FrameKind::Jit => text.push_str(" [jit]"),
        FrameKind::Native | FrameKind::Go => {}
    }
    text
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::write;
    use crate::model::{FrameKind, KernelFrame, PythonRuntime, Thread, Threads, UserFrame};

    struct Text<'a>(&'a Threads);

    impl fmt::Display for Text<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write(f, self.0)
        }
    }

    fn python_frame(function: &str, line: u32, source: Option<&str>) -> UserFrame {
        UserFrame {
            kind: FrameKind::Python,
            address: 0x7f00_0000_1000,
            function: Some(function.to_owned()),
            module: None,
            module_offset: None,
            file: Some("/srv/app.py".to_owned()),
            line: Some(line),
            inlined: false,
            tail_call: false,
            source: source.map(str::to_owned),
        }
    }

    #[test]
    fn python_frames_in_the_user_stack_and_on_their_own() {
        let frames = vec![
            python_frame("wait", 12, Some("event.wait()")),
            python_frame("<module>", 30, None),
        ];
        let threads = Threads {
            threads: vec![Thread {
                tid: 7,
                ns_tid: Some(7),
                name: "python3".to_owned(),
                state: "S (sleeping)".to_owned(),
                on_cpu: false,
                kernel_stack: Vec::new(),
                kernel_stack_note: None,
                user_stack: frames.clone(),
                user_stack_note: None,
                python_frames: Some(frames),
                python_note: Some("merged in order".to_owned()),
                holds_gil: Some(true),
                python_ident: Some(140_410_102_470_464),
            }],
            python: Some(PythonRuntime {
                version: "3.11.2".to_owned(),
                binary: "/usr/bin/python3.11".to_owned(),
            }),
            python_note: None,
            note: None,
        };
        let text = Text(&threads).to_string();
        let expected = "Python 3.11.2 (/usr/bin/python3.11)
------                   Thread #7 (\"python3\")                    ------
state = S (sleeping)
python_ident = 140410102470464 (threading.get_ident())
gil = held
Kernel stack: (none)
User stack:
  wait (/srv/app.py:12) [python]
  <module> (/srv/app.py:30) [python]
Python stack (holds the GIL), innermost first:
  File \"/srv/app.py\", line 12, in wait
    event.wait()
  File \"/srv/app.py\", line 30, in <module>
  note: merged in order
";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_thread_in_its_own_pid_namespace_shows_its_id_there() {
        let thread = |tid, ns_tid| Thread {
            ns_tid,
            ..Thread::new(tid, "worker", "S (sleeping)")
        };
        let threads = Threads {
            threads: vec![
                thread(7397, Some(1)),
                thread(7398, Some(7398)),
                thread(7399, None),
            ],
            python: None,
            python_note: None,
            note: None,
        };
        let text = Text(&threads).to_string();
        let ns_lines: Vec<&str> = text.lines().filter(|l| l.starts_with("ns_tid")).collect();
        assert_eq!(
            ns_lines,
            ["ns_tid = 1 (in the process's own pid namespace)"],
            "only where it differs: {text}"
        );
        assert!(
            text.contains("Thread #7397 (\"worker\")")
                && text
                    .contains("------\nns_tid = 1 (in the process's own pid namespace)\nstate ="),
            "{text}"
        );
    }

    #[test]
    fn threads_with_the_same_stacks_show_them_once() {
        let thread = |tid, kernel: &[&str], on_cpu| Thread {
            on_cpu,
            kernel_stack: kernel
                .iter()
                .map(|function| KernelFrame {
                    address: 0xffff_ffff_8100_0000,
                    function: Some((*function).to_owned()),
                })
                .collect(),
            ..Thread::new(tid, "worker", "S (sleeping)")
        };
        let waiting = ["futex_wait+0x10", "do_futex+0x20"];
        let threads = Threads {
            threads: vec![
                thread(10, &waiting, false),
                thread(11, &["do_nanosleep+0x5"], false),
                thread(12, &waiting, true),
                thread(13, &waiting, false),
            ],
            python: None,
            python_note: None,
            note: None,
        };
        let banner = |tid| {
            format!(
                "------{}------",
                super::center(
                    &format!("Thread #{tid} (\"worker\")"),
                    super::THREAD_TITLE_WIDTH
                )
            )
        };
        let expected = format!(
            "{}
state = S (sleeping)
Kernel stack:
  futex_wait+0x10
  do_futex+0x20
User stack: (none)
Same stacks in 2 more threads: #12, #13

{}
state = S (sleeping)
Kernel stack:
  do_nanosleep+0x5
User stack: (none)

{}
state = S (sleeping)
on_cpu = yes (registers may be a tick old)
Stacks: same as thread #10

{}
state = S (sleeping)
Stacks: same as thread #10
",
            banner(10),
            banner(11),
            banner(12),
            banner(13)
        );
        assert_eq!(Text(&threads).to_string(), expected);
    }

    #[test]
    fn python_frames_at_other_addresses_that_read_the_same_are_shown_once() {
        let thread = |tid, address| {
            let mut frame = python_frame("wait", 12, None);
            frame.address = address;
            Thread {
                python_frames: Some(vec![frame]),
                ..Thread::new(tid, "worker", "S (sleeping)")
            }
        };
        let threads = Threads {
            threads: vec![
                thread(20, 0x7f00_0000_1000),
                thread(21, 0x7f00_0000_2000),
                thread(22, 0x7f00_0000_1000),
            ],
            python: None,
            python_note: None,
            note: None,
        };
        let text = Text(&threads).to_string();
        assert_eq!(text.matches("in wait").count(), 1, "{text}");
        assert!(
            text.contains("Same stacks in 2 more threads: #21, #22"),
            "{text}"
        );
        assert_eq!(
            text.matches("Stacks: same as thread #20").count(),
            2,
            "{text}"
        );
    }
}
