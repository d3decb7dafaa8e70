//! Text of custom sections: tables with aligned columns, and text blocks.

use std::fmt::{self, Formatter};

use super::clean;
use crate::model::{Table, TextBlock};

/// Widest a column is padded to; longer cells just run on.
const MAX_COLUMN_WIDTH: usize = 48;

/// Writes a header row and one row per entry, columns aligned.
pub(super) fn write_table(f: &mut Formatter<'_>, table: &Table) -> fmt::Result {
    let cells: Vec<Vec<String>> = std::iter::once(&table.columns)
        .chain(&table.rows)
        .map(|row| row.iter().map(|cell| clean(cell).into_owned()).collect())
        .collect();
    let mut widths = vec![0; table.columns.len()];
    for row in &cells {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count().min(MAX_COLUMN_WIDTH));
        }
    }
    for row in &cells {
        let last = row.len().saturating_sub(1);
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            if i == last {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<width$}  ", width = widths[i]));
            }
        }
        writeln!(f, "{}", line.trim_end())?;
    }
    if table.rows.is_empty() {
        writeln!(f, "(none)")?;
    }
    write_note(f, table.note.as_deref())
}

/// Writes where the text came from, then its lines indented.
pub(super) fn write_text(f: &mut Formatter<'_>, block: &TextBlock) -> fmt::Result {
    writeln!(f, "source = {}", clean(&block.source))?;
    for line in &block.lines {
        writeln!(f, "  {}", clean(line))?;
    }
    write_note(f, block.note.as_deref())
}

fn write_note(f: &mut Formatter<'_>, note: Option<&str>) -> fmt::Result {
    match note {
        Some(note) => writeln!(f, "note: {}", clean(note)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use crate::{
        model::{Report, Section, SectionData, Table, TextBlock},
        view::{sample::sample_report, text::render_text},
    };

    fn with_section(data: SectionData) -> Report {
        let mut report = sample_report();
        report.sections = vec![Section {
            title: "Custom".into(),
            body: Ok(data),
        }];
        report
    }

    #[test]
    fn tables_align_and_text_blocks_indent() {
        let table = Table {
            columns: vec!["fd".into(), "target".into(), "detail".into()],
            rows: vec![
                vec!["0".into(), "/dev/null".into(), "".into()],
                vec![
                    "12".into(),
                    "socket:[9]".into(),
                    "tcp 127.0.0.1:80 -> 0.0.0.0:0 LISTEN".into(),
                ],
            ],
            note: None,
        };
        let text = render_text(&with_section(SectionData::Table(table)));
        assert!(text.ends_with(
            "fd  target      detail\n0   /dev/null\n12  socket:[9]  tcp 127.0.0.1:80 -> 0.0.0.0:0 LISTEN\n"
        ), "{text}");
        let block = TextBlock {
            source: "ps -p 1".into(),
            lines: vec!["PID TTY".into(), "1 ?\x1b[2J".into()],
            note: Some("exited with exit status: 1".into()),
        };
        let text = render_text(&with_section(SectionData::Text(block)));
        assert!(
            text.ends_with(
                "source = ps -p 1\n  PID TTY\n  1 ?\\u{1b}[2J\nnote: exited with exit status: 1\n"
            ),
            "{text}"
        );
    }
}
