//! Text of the Processes section: the process tree, indented by depth.

use std::fmt::{self, Formatter};

use crate::model::Processes;

/// Writes one line per process, indented two spaces per level.
pub(super) fn write(f: &mut Formatter<'_>, processes: &Processes) -> fmt::Result {
    for p in &processes.processes {
        let indent = "  ".repeat(p.depth as usize);
        writeln!(f, "{indent}pid = {}, ppid = {}", p.pid, p.ppid)?;
    }
    Ok(())
}
