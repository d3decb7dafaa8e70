//! The stdout sink (`stdout: json`): each report as one JSON line on the
//! agent's stdout, the shape a cluster's log collector ships line by line.
//!
//! The line is the JSON view's document, unindented. The agent logs to
//! stderr, so stdout holds nothing but these lines.

use std::io::{self, Write as _};

use crate::{model::Report, view::render_json_line};

/// Writes `report` as one line on stdout, whole, and flushes it.
pub fn write_json_line(report: &Report) -> io::Result<()> {
    let mut line = render_json_line(report);
    line.push('\n');
    let mut stdout = io::stdout().lock();
    stdout.write_all(line.as_bytes())?;
    stdout.flush()
}
