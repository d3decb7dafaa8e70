//! Text of the Threads section: one block per OS thread.

use std::fmt::{self, Formatter};

use super::{WIDTH, center, clean};
use crate::model::{KernelFrame, Thread, Threads, UserFrame};

/// Width the thread title is centred in, between the two `------` marks.
const THREAD_TITLE_WIDTH: usize = WIDTH - 12;

/// Writes every thread, with one blank line between thread blocks.
pub(super) fn write(f: &mut Formatter<'_>, threads: &Threads) -> fmt::Result {
    if let Some(note) = &threads.note {
        writeln!(f, "note: {}", clean(note))?;
    }
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
