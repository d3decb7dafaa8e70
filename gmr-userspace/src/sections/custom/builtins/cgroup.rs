//! The target's cgroup v2 and its resource usage.

use std::path::Path;

use super::make_table;
use crate::{model::Table, targets::cgroup::cgroup_of_process};

/// Interface files shown, when the cgroup has them.
const FILES: [&str; 9] = [
    "memory.current",
    "memory.peak",
    "memory.max",
    "memory.swap.current",
    "pids.current",
    "pids.max",
    "cpu.max",
    "cpu.stat",
    "io.stat",
];

/// One row per value: `path`, then each interface file's lines.
pub fn table(pid: u32) -> Result<Table, String> {
    let dir = cgroup_of_process(pid).map_err(|e| format!("{e:#}"))?;
    let mut rows = vec![vec!["path".to_owned(), dir.display().to_string()]];
    let mut missing = Vec::new();
    for file in FILES {
        match std::fs::read_to_string(Path::new(&dir).join(file)) {
            Ok(value) => rows.extend(
                value
                    .lines()
                    .map(|line| vec![file.to_owned(), line.to_owned()]),
            ),
            Err(_) => missing.push(file),
        }
    }
    let note = (!missing.is_empty()).then(|| {
        format!(
            "not available (controller not enabled here): {}",
            missing.join(", ")
        )
    });
    Ok(make_table(&["file", "value"], rows, note))
}

#[cfg(test)]
mod tests {
    #[test]
    fn shows_own_cgroup_path() {
        if crate::targets::cgroup::cgroup2_mount().is_err() {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        }
        let t = super::table(std::process::id()).unwrap();
        assert_eq!(t.rows[0][0], "path");
    }
}
