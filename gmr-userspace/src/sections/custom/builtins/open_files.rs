//! Open file descriptors: what each points at, sockets with their state.

use super::{super::sockets::socket_table, make_table};
use crate::{model::Table, sections::describe_io_error};

/// One row per descriptor: fd, target, detail (socket state, fd flags).
pub fn table(pid: u32) -> Result<Table, String> {
    let dir = format!("/proc/{pid}/fd");
    let mut fds: Vec<u32> = std::fs::read_dir(&dir)
        .map_err(|e| format!("cannot read {dir}: {}", describe_io_error(&e)))?
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect();
    fds.sort_unstable();
    let sockets = socket_table(pid);
    let rows = fds
        .into_iter()
        .filter_map(|fd| {
            // A descriptor closed since the listing is simply gone.
            let target = std::fs::read_link(format!("{dir}/{fd}")).ok()?;
            let target = target.to_string_lossy().into_owned();
            let detail = socket_inode(&target)
                .map(|inode| {
                    sockets
                        .get(&inode)
                        .cloned()
                        .unwrap_or_else(|| "socket (other family)".into())
                })
                .unwrap_or_else(|| fd_position(pid, fd));
            Some(vec![fd.to_string(), target, detail])
        })
        .collect();
    Ok(make_table(&["fd", "target", "detail"], rows, None))
}

/// `socket:[12345]` → 12345.
fn socket_inode(target: &str) -> Option<u64> {
    target
        .strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// `pos=… flags=…` from `/proc/PID/fdinfo/FD`.
fn fd_position(pid: u32, fd: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/fdinfo/{fd}"))
        .map(|info| {
            info.lines()
                .filter(|l| l.starts_with("pos:") || l.starts_with("flags:"))
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    #[test]
    fn lists_own_descriptors_with_socket_state() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let t = super::table(std::process::id()).unwrap();
        assert!(t.rows.iter().any(|r| r[0] == "0"), "{:?}", t.rows);
        assert!(
            t.rows
                .iter()
                .any(|r| r[1].starts_with("socket:[") && r[2].contains(&format!(":{port}"))),
            "{:?}",
            t.rows
        );
    }
}
