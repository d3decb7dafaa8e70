//! Text of the Processes section: the process tree, one line per process,
//! indented by depth, with the columns aligned across lines.

use std::fmt::{self, Formatter};

use super::{clean, or_unknown};
use crate::model::{ProcessEntry, Processes};

/// Writes one line per process, indented two spaces per level:
///
/// ```text
/// 1234 (ppid 1)      user=nova(1000)/nova  state=S threads=8  rss=52.1 MiB  started=2026-11-26T17:48:46Z  /usr/bin/python3 /usr/bin/nova-api
///   1240 (ppid 1234) user=nova(1000)/nova  state=S threads=1  rss=30.0 MiB  started=2026-11-26T17:48:47Z  /usr/bin/python3 /usr/bin/nova-api
/// ```
///
/// The command line goes last, as the only column of unbounded width; a
/// title the process wrote over it reads `title: nginx: worker process`.
pub(super) fn write(f: &mut Formatter<'_>, processes: &Processes) -> fmt::Result {
    let rows: Vec<[String; 5]> = processes.processes.iter().map(columns).collect();
    let mut widths = [0; 5];
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for (row, process) in rows.iter().zip(&processes.processes) {
        let [tree, user, threads, rss, started] = row;
        let state = process.state.chars().next().unwrap_or('?');
        let title = if process.command_line_rewritten {
            "title: "
        } else {
            ""
        };
        writeln!(
            f,
            "{tree:<w0$} {user:<w1$}  state={state} {threads:<w2$}  {rss:<w3$}  {started:<w4$}  {title}{}",
            clean(&process.command_line),
            w0 = widths[0],
            w1 = widths[1],
            w2 = widths[2],
            w3 = widths[3],
            w4 = widths[4],
        )?;
    }
    Ok(())
}

/// The aligned columns of one process: tree position, users, threads, RSS
/// and start time.
fn columns(process: &ProcessEntry) -> [String; 5] {
    let indent = "  ".repeat(process.depth as usize);
    [
        format!("{indent}{} (ppid {})", process.pid, process.ppid),
        format!("user={}", users(process)),
        format!("threads={}", process.threads),
        format!("rss={}", human_bytes(process.rss_bytes)),
        format!("started={}", or_unknown(process.started_at.as_deref())),
    ]
}

/// `nova(1000)/nova`: the real user with its uid, then the effective one
/// (with its uid only when it differs); a uid without a name stays numeric.
fn users(process: &ProcessEntry) -> String {
    let real = match &process.user {
        Some(name) => format!("{}({})", clean(name), process.uid),
        None => process.uid.to_string(),
    };
    let effective = match (&process.effective_user, process.euid == process.uid) {
        (Some(name), true) => clean(name).into_owned(),
        (Some(name), false) => format!("{}({})", clean(name), process.euid),
        (None, _) => process.euid.to_string(),
    };
    format!("{real}/{effective}")
}

/// Bytes in binary units with one decimal: `512 B`, `52.1 MiB`.
fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Display;

    struct Text<'a>(&'a Processes);

    impl Display for Text<'_> {
        fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
            write(f, self.0)
        }
    }

    fn process(depth: u32, pid: u32, ppid: u32, command_line: &str) -> ProcessEntry {
        ProcessEntry {
            depth,
            pid,
            ppid,
            uid: 1000,
            user: Some("nova".to_owned()),
            euid: 1000,
            effective_user: Some("nova".to_owned()),
            state: "S (sleeping)".to_owned(),
            comm: "nova-api".to_owned(),
            command_line: command_line.to_owned(),
            command_line_rewritten: false,
            threads: 8,
            rss_bytes: 54_630_000,
            started_at: Some("2026-11-26T17:48:46Z".to_owned()),
        }
    }

    #[test]
    fn tree_lines_are_indented_and_aligned() {
        let mut child = process(1, 1240, 1234, "/usr/bin/python3 /usr/bin/nova-api");
        child.threads = 1;
        child.rss_bytes = 512;
        child.uid = 0;
        child.user = None;
        child.state = "R (running)".to_owned();
        child.command_line_rewritten = true;
        let mut grandchild = process(2, 1300, 1240, "sleep 1\n== forged");
        grandchild.euid = 0;
        grandchild.effective_user = Some("root".to_owned());
        grandchild.started_at = None;
        let tree = Processes {
            processes: vec![
                process(
                    0,
                    1234,
                    1,
                    "/usr/bin/python3 /usr/bin/nova-api --config-file /etc/nova/nova.conf",
                ),
                child,
                grandchild,
            ],
        };
        assert_eq!(
            Text(&tree).to_string(),
            "\
1234 (ppid 1)        user=nova(1000)/nova     state=S threads=8  rss=52.1 MiB  started=2026-11-26T17:48:46Z  /usr/bin/python3 /usr/bin/nova-api --config-file /etc/nova/nova.conf
  1240 (ppid 1234)   user=0/nova(1000)        state=R threads=1  rss=512 B     started=2026-11-26T17:48:46Z  title: /usr/bin/python3 /usr/bin/nova-api
    1300 (ppid 1240) user=nova(1000)/root(0)  state=S threads=8  rss=52.1 MiB  started=<unknown>             sleep 1\\n== forged
"
        );
    }

    #[test]
    fn byte_units() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
    }
}
