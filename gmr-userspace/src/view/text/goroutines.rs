//! Text of the Green Threads section for a Go process: a summary grouping
//! goroutines with the same state and stack (a service with 10,000 idle
//! goroutines stays readable), then every goroutine as the runtime's own
//! traceback prints it (`goroutine 7 [chan receive, 3 minutes]:`, each
//! function, a tab-indented `file:line`, `created by … in goroutine N`).

use std::collections::HashMap;
use std::fmt::{self, Formatter};

use super::clean;
use crate::model::{Goroutine, GoroutineFrame, Goroutines};

/// Goroutine ids listed per summary group; the rest are counted.
const IDS_SHOWN: usize = 8;

/// Writes the header, the summary and every goroutine.
pub(super) fn write(f: &mut Formatter<'_>, go: &Goroutines) -> fmt::Result {
    writeln!(
        f,
        "go = {}, {} goroutines (and {} of the runtime's own, not listed), read in {:.1} ms",
        clean(&go.go_version),
        go.goroutines.len(),
        go.system_goroutines,
        go.elapsed_us as f64 / 1000.0
    )?;
    writeln!(f, "{}", clean(&go.layout))?;
    if let Some(note) = &go.note {
        writeln!(f, "note: {}", clean(note))?;
    }
    write_summary(f, &go.goroutines)?;
    for goroutine in &go.goroutines {
        writeln!(f)?;
        write_goroutine(f, goroutine)?;
    }
    Ok(())
}

/// One line per group of goroutines in the same state with the same
/// frames, largest group first, with its innermost frames.
fn write_summary(f: &mut Formatter<'_>, goroutines: &[Goroutine]) -> fmt::Result {
    let mut groups: Vec<(&Goroutine, Vec<u64>)> = Vec::new();
    let mut index: HashMap<(&str, &[GoroutineFrame]), usize> = HashMap::new();
    for goroutine in goroutines {
        let key = (goroutine.state.as_str(), goroutine.frames.as_slice());
        match index.get(&key) {
            Some(&at) => groups[at].1.push(goroutine.id),
            None => {
                index.insert(key, groups.len());
                groups.push((goroutine, vec![goroutine.id]));
            }
        }
    }
    groups.sort_by_key(|(_, ids)| std::cmp::Reverse(ids.len()));
    writeln!(f)?;
    writeln!(f, "Summary: {} distinct states and stacks", groups.len())?;
    for (first, ids) in &groups {
        let mut shown = ids
            .iter()
            .take(IDS_SHOWN)
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        if ids.len() > IDS_SHOWN {
            shown.push_str(", …");
        }
        writeln!(
            f,
            "{:>7} × [{}] goroutines {shown}",
            ids.len(),
            clean(&first.state)
        )?;
        for frame in &first.frames {
            writeln!(f, "          {}", place(frame))?;
        }
    }
    Ok(())
}

/// One goroutine, as `runtime.Stack` prints it.
fn write_goroutine(f: &mut Formatter<'_>, goroutine: &Goroutine) -> fmt::Result {
    write!(f, "goroutine {} [{}", goroutine.id, clean(&goroutine.state))?;
    if let Some(minutes) = goroutine.wait_minutes.filter(|&m| m >= 1) {
        write!(f, ", {minutes} minutes")?;
    }
    writeln!(f, "]:")?;
    for frame in &goroutine.frames {
        writeln!(f, "{}(...)", clean(&frame.function))?;
        writeln!(f, "\t{}", file_line(frame.file.as_deref(), frame.line))?;
    }
    if let Some(created) = &goroutine.created_by {
        match created.goroutine {
            Some(parent) => writeln!(
                f,
                "created by {} in goroutine {parent}",
                clean(&created.function)
            )?,
            None => writeln!(f, "created by {}", clean(&created.function))?,
        }
        writeln!(f, "\t{}", file_line(created.file.as_deref(), created.line))?;
    }
    if let Some(thread) = goroutine.thread {
        writeln!(f, "thread = {thread}")?;
    }
    if let Some(note) = &goroutine.note {
        writeln!(f, "note: {}", clean(note))?;
    }
    Ok(())
}

/// `function (file:line)` for the summary.
fn place(frame: &GoroutineFrame) -> String {
    format!(
        "{} ({})",
        clean(&frame.function),
        file_line(frame.file.as_deref(), frame.line)
    )
}

/// `file:line`, with `?` for what the table lacks.
fn file_line(file: Option<&str>, line: Option<u32>) -> String {
    let file = file.map_or_else(|| "?".to_owned(), |f| clean(f).into_owned());
    match line {
        Some(line) => format!("{file}:{line}"),
        None => file,
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{
        CreatedBy, FrameKind, Goroutine, GoroutineFrame, Goroutines, Section, SectionData,
    };
    use crate::view::{render_json, render_text, sample::sample_report};

    fn idle(id: u64) -> Goroutine {
        Goroutine {
            id,
            state: "chan receive".to_owned(),
            wait_minutes: Some(3),
            thread: None,
            created_by: Some(CreatedBy {
                function: "main.main".to_owned(),
                file: Some("/src/main.go".to_owned()),
                line: Some(30),
                goroutine: Some(1),
            }),
            frames: vec![GoroutineFrame {
                kind: FrameKind::Go,
                function: "main.idle".to_owned(),
                file: Some("/src/main.go".to_owned()),
                line: Some(12),
                inlined: false,
            }],
            note: None,
        }
    }

    fn go_report() -> crate::model::Report {
        let mut report = sample_report();
        let running = Goroutine {
            id: 1,
            state: "running".to_owned(),
            wait_minutes: None,
            thread: Some(4242),
            created_by: None,
            frames: vec![],
            note: Some("running on thread 4242".to_owned()),
        };
        report.sections = vec![Section {
            title: "Green Threads".to_owned(),
            body: Ok(SectionData::Goroutines(Goroutines {
                runtime: "go",
                go_version: "go1.22.10".to_owned(),
                layout: "layout: DWARF of /usr/bin/x".to_owned(),
                goroutines: vec![running, idle(7), idle(8)],
                system_goroutines: 4,
                elapsed_us: 1500,
                note: None,
            })),
        }];
        report
    }

    #[test]
    fn text_prints_a_summary_then_each_goroutine_like_the_runtime() {
        let text = render_text(&go_report());
        let section = &text[text.find("go = ").expect("section body")..];
        let expected =
            "go = go1.22.10, 3 goroutines (and 4 of the runtime's own, not listed), read in 1.5 ms
layout: DWARF of /usr/bin/x

Summary: 2 distinct states and stacks
      2 × [chan receive] goroutines 7, 8
          main.idle (/src/main.go:12)
      1 × [running] goroutines 1

goroutine 1 [running]:
thread = 4242
note: running on thread 4242

goroutine 7 [chan receive, 3 minutes]:
main.idle(...)
\t/src/main.go:12
created by main.main in goroutine 1
\t/src/main.go:30

goroutine 8 [chan receive, 3 minutes]:
main.idle(...)
\t/src/main.go:12
created by main.main in goroutine 1
\t/src/main.go:30
";
        assert_eq!(section, expected);
    }

    #[test]
    fn json_has_the_go_fields() {
        let json: serde_json::Value = serde_json::from_str(&render_json(&go_report())).unwrap();
        let data = &json["sections"][0]["data"];
        assert_eq!(data["runtime"], "go");
        assert_eq!(data["go_version"], "go1.22.10");
        assert_eq!(data["layout"], "layout: DWARF of /usr/bin/x");
        assert_eq!(data["goroutines"][0]["thread"], 4242);
        assert_eq!(
            data["goroutines"][0]["wait_minutes"],
            serde_json::Value::Null
        );
        assert_eq!(
            data["goroutines"][1]["frames"][0],
            serde_json::json!({"kind": "go", "function": "main.idle", "file": "/src/main.go", "line": 12, "inlined": false})
        );
        assert_eq!(
            data["goroutines"][1]["created_by"],
            serde_json::json!({"function": "main.main", "file": "/src/main.go", "line": 30, "goroutine": 1})
        );
    }
}
