//! The builtin custom sections, each a table read from `/proc`.

mod cgroup;
mod limits;
mod memory_maps;
mod namespaces;
mod open_files;

use super::Builtin;
use crate::{model::Table, sections::describe_io_error};

/// Makes the table of `builtin` for process `pid`.
pub fn generate(builtin: Builtin, pid: u32) -> Result<Table, String> {
    match builtin {
        Builtin::OpenFiles => open_files::table(pid),
        Builtin::MemoryMaps => memory_maps::table(pid),
        Builtin::Limits => limits::table(pid),
        Builtin::Cgroup => cgroup::table(pid),
        Builtin::Namespaces => namespaces::table(pid),
    }
}

/// Reads `/proc/PID/<name>`, naming the file in the error.
fn read_proc(pid: u32, name: &str) -> Result<String, String> {
    let path = format!("/proc/{pid}/{name}");
    std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {path}: {}", describe_io_error(&e)))
}

/// A table with these column names.
fn make_table(columns: &[&str], rows: Vec<Vec<String>>, note: Option<String>) -> Table {
    Table {
        columns: columns.iter().map(|c| (*c).to_owned()).collect(),
        rows,
        note,
    }
}
