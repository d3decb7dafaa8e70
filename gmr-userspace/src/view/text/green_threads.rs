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
    let hub = if greenlet.hub { ", hub" } else { "" };
    writeln!(f, "state = {main}{}{hub}", clean(&greenlet.state))?;
    if let Some(ident) = greenlet.python_ident {
        let thread = format!(
            "thread {} (ident {ident})",
            greenlet
                .thread
                .map_or_else(|| "?".to_owned(), |tid| tid.to_string())
        );
        if greenlet.running {
            writeln!(
                f,
                "running on {thread}: its frames are its thread's, under Threads"
            )?;
        } else {
            writeln!(f, "{thread}")?;
        }
    } else if greenlet.state == "running" {
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

#[cfg(test)]
mod tests {
    use crate::model::{
        AsyncTask, FrameKind, GreenFrame, GreenThreads, Greenlet, Section, SectionData,
    };
    use crate::view::{render_json, render_text, sample::sample_report};

    fn frame(function: &str, line: Option<u32>) -> GreenFrame {
        GreenFrame {
            kind: FrameKind::Python,
            function: function.to_owned(),
            file: "/srv/app.py".to_owned(),
            line,
        }
    }

    fn green_report() -> crate::model::Report {
        let mut report = sample_report();
        report.sections = vec![Section {
            title: "Green Threads".to_owned(),
            body: Ok(SectionData::GreenThreads(GreenThreads {
                python: "3.11.2".to_owned(),
                greenlet: Some("3.5.6".to_owned()),
                greenlets: vec![
                    Greenlet {
                        address: 0x7f00_0000_1000,
                        class: "GreenThread".to_owned(),
                        main: false,
                        state: "suspended".to_owned(),
                        frames: vec![frame("switch", Some(310)), frame("handle", None)],
                        note: None,
                        thread: Some(4242),
                        python_ident: Some(140_000_000_000_001),
                        running: false,
                        hub: false,
                    },
                    Greenlet {
                        address: 0x7f00_0000_2000,
                        class: "greenlet.greenlet".to_owned(),
                        main: true,
                        state: "running".to_owned(),
                        frames: vec![],
                        note: None,
                        thread: Some(4242),
                        python_ident: Some(140_000_000_000_001),
                        running: true,
                        hub: true,
                    },
                    Greenlet {
                        address: 0x7f00_0000_4000,
                        class: "greenlet.greenlet".to_owned(),
                        main: true,
                        state: "suspended".to_owned(),
                        frames: vec![frame("wait", Some(12))],
                        note: Some(
                            "thread not shown: its thread has ended (its main greenlet 0x7f0000004000 has no thread state)"
                                .to_owned(),
                        ),
                        thread: None,
                        python_ident: None,
                        running: false,
                        hub: false,
                    },
                ],
                tasks: vec![AsyncTask {
                    address: 0x7f00_0000_3000,
                    class: "_asyncio.Task".to_owned(),
                    name: Some("Task-3".to_owned()),
                    state: "pending".to_owned(),
                    frames: vec![],
                    awaiting: Some("_asyncio.Future".to_owned()),
                    note: Some(
                        "coroutines not shown: it resumed while being read (4 attempts)".to_owned(),
                    ),
                }],
                objects_walked: 38503,
                walk_restarts: 0,
                elapsed_us: 12_345,
                note: None,
            })),
        }];
        report
    }

    #[test]
    fn text_lists_greenlets_then_tasks() {
        let text = render_text(&green_report());
        let section = &text[text.find("python = ").expect("section body")..];
        let expected = "python = 3.11.2, greenlet = 3.5.6
3 greenlets, 1 asyncio tasks; 38503 objects walked in 12.3 ms

------           Greenlet 0x7f0000001000 (GreenThread)            ------
state = suspended
thread 4242 (ident 140000000000001)
  switch (/srv/app.py:310)
  handle (/srv/app.py)

------        Greenlet 0x7f0000002000 (greenlet.greenlet)         ------
state = main running, hub
running on thread 4242 (ident 140000000000001): its frames are its thread's, under Threads

------        Greenlet 0x7f0000004000 (greenlet.greenlet)         ------
state = main suspended
  wait (/srv/app.py:12)
  note: thread not shown: its thread has ended (its main greenlet 0x7f0000004000 has no thread state)

------         Task 0x7f0000003000 Task-3 (_asyncio.Task)         ------
state = pending, awaiting _asyncio.Future
  note: coroutines not shown: it resumed while being read (4 attempts)
";
        assert_eq!(section, expected);
        for banner in section.lines().filter(|l| l.starts_with("------")) {
            assert_eq!(banner.chars().count(), 72, "{banner:?}");
        }
    }

    #[test]
    fn json_frames_are_python_frames() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&green_report())).unwrap();
        let data = &json["sections"][0]["data"];
        assert_eq!(
            data["greenlets"][0]["frames"][0],
            serde_json::json!({"kind": "python", "function": "switch", "file": "/srv/app.py", "line": 310})
        );
        assert_eq!(data["greenlets"][1]["main"], true);
        assert_eq!(
            (
                &data["greenlets"][0]["thread"],
                &data["greenlets"][0]["python_ident"],
                &data["greenlets"][0]["running"],
                &data["greenlets"][0]["hub"]
            ),
            (
                &serde_json::json!(4242),
                &serde_json::json!(140_000_000_000_001_u64),
                &serde_json::json!(false),
                &serde_json::json!(false)
            )
        );
        assert_eq!(data["greenlets"][1]["running"], true);
        assert_eq!(data["greenlets"][1]["hub"], true);
        assert_eq!(data["greenlets"][2]["thread"], serde_json::Value::Null);
        assert_eq!(data["tasks"][0]["awaiting"], "_asyncio.Future");
        assert_eq!(data["objects_walked"], 38503);
    }
}
