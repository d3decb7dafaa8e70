//! Namespaces of the target, and whether each is the host's (pid 1's: a
//! sandboxed agent may have namespaces of its own; the agent's own stand in
//! where pid 1 is hidden).

use super::make_table;
use crate::{model::Table, sections::describe_io_error};

/// One row per namespace: kind, id, shared with the host or not.
pub fn table(pid: u32) -> Result<Table, String> {
    let dir = format!("/proc/{pid}/ns");
    let mut kinds: Vec<String> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {dir}: {}", describe_io_error(&e)))?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    kinds.sort();
    let rows = kinds
        .into_iter()
        .map(|kind| {
            let theirs = std::fs::read_link(format!("{dir}/{kind}")).ok();
            let ours = std::fs::read_link(format!("/proc/1/ns/{kind}"))
                .or_else(|_| std::fs::read_link(format!("/proc/self/ns/{kind}")))
                .ok();
            let shared = match (&theirs, &ours) {
                (Some(a), Some(b)) if a == b => "same as host",
                (Some(_), Some(_)) => "own",
                _ => "unknown",
            };
            let id = theirs
                .map(|t| t.display().to_string())
                .unwrap_or_else(|| "<unreadable>".into());
            vec![kind, id, shared.to_owned()]
        })
        .collect();
    Ok(make_table(&["namespace", "id", "shared"], rows, None))
}

#[cfg(test)]
mod tests {
    #[test]
    fn own_namespaces_are_the_hosts() {
        let t = super::table(std::process::id()).unwrap();
        let mnt = t.rows.iter().find(|r| r[0] == "mnt").expect("mnt");
        assert!(mnt[1].starts_with("mnt:["), "{mnt:?}");
        assert_eq!(mnt[2], "same as host");
    }
}
