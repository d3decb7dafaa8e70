//! Text of the Green Threads section: one block per greenlet and per
//! asyncio task, with its Python frames innermost first, like a traceback
//! read bottom-up.

use std::fmt::{self, Formatter};

use super::{WIDTH, center, clean, or_unknown};
use crate::model::{AsyncTask, GreenFrame, GreenThreads, Greenlet};

/// Width a block title is centred in, between the two `------` marks.
const TITLE_WIDTH: usize = WIDTH - 12;

/// Writes the summary line, then every greenlet and task.
pub(super) fn write(f: &mut Formatter<'_>, green: &GreenThreads) -> fmt::Result {
    writeln!(
        f,
        "python = {}, greenlet = {}",
        clean(&green.python),
        match (&green.greenlet, green.greenlets.is_empty()) {
            (Some(version), _) => clean(version),
            (None, true) => "not loaded".into(),
            (None, false) => or_unknown(None),
        }
    )?;
    writeln!(
        f,
        "{} greenlets, {} asyncio tasks; {} objects walked in {:.1} ms",
        green.greenlets.len(),
        green.tasks.len(),
        green.objects_walked,
        green.elapsed_us as f64 / 1000.0
    )?;
    if let Some(note) = &green.note {
        writeln!(f, "note: {}", clean(note))?;
    }
    for greenlet in &green.greenlets {
        writeln!(f)?;
        write_greenlet(f, greenlet)?;
    }
    for task in &green.tasks {
        writeln!(f)?;
        write_task(f, task)?;
    }
    Ok(())
}

fn write_greenlet(f: &mut Formatter<'_>, greenlet: &Greenlet) -> fmt::Result {
    let main = if greenlet.main { "main " } else { "" };
    let title = format!(
        "Greenlet {:#x} ({})",
        greenlet.address,
        clean(&greenlet.class)
    );
    writeln!(f, "------{}------", center(&title, TITLE_WIDTH))?;
    writeln!(f, "state = {main}{}", clean(&greenlet.state))?;
    if greenlet.state == "running" {
        writeln!(f, "  (running: its frames are its thread's, under Threads)")?;
    }
    write_frames(f, &greenlet.frames, greenlet.note.as_deref())
}

fn write_task(f: &mut Formatter<'_>, task: &AsyncTask) -> fmt::Result {
    let title = format!(
        "Task {:#x} {} ({})",
        task.address,
        or_unknown(task.name.as_deref()),
        clean(&task.class)
    );
    writeln!(f, "------{}------", center(&title, TITLE_WIDTH))?;
    match &task.awaiting {
        Some(awaited) => writeln!(
            f,
            "state = {}, awaiting {}",
            clean(&task.state),
            clean(awaited)
        )?,
        None => writeln!(f, "state = {}", clean(&task.state))?,
    }
    write_frames(f, &task.frames, task.note.as_deref())
}

fn write_frames(f: &mut Formatter<'_>, frames: &[GreenFrame], note: Option<&str>) -> fmt::Result {
    for frame in frames {
        match frame.line {
            Some(line) => writeln!(
                f,
                "  {} ({}:{line})",
                clean(&frame.function),
                clean(&frame.file)
            )?,
            None => writeln!(f, "  {} ({})", clean(&frame.function), clean(&frame.file))?,
        }
    }
    if let Some(note) = note {
        writeln!(f, "  note: {}", clean(note))?;
    }
    Ok(())
}
