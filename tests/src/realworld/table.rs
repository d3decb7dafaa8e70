//! The corpus' outcome as Markdown tables, ready to paste into a note:
//! one row per process, one row per planted secret, then gdb's per-thread
//! detail for every process below a full match.

use std::fmt::Write as _;

use super::checks::Outcome;

/// The whole outcome as text: the process table, the secret table and the
/// per-thread detail.
pub fn render(outcome: &Outcome) -> String {
    let mut out = String::new();
    out.push_str(
        "| service | pid | role | threads | gdb named | matched | ratio | missing threads | deepest stack | stacks cut | to thread entry | secrets planted | leaks (secret × report file) | stderr copy | report ms | alive |\n\
         | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |\n",
    );
    for p in &outcome.processes {
        let (named, matched, ratio) = match &p.gdb {
            Ok(scored) => (
                scored.total().to_string(),
                scored.matched().to_string(),
                format!("{:.0}%", 100.0 * scored.ratio()),
            ),
            Err(_) => ("-".into(), "-".into(), "gdb failed".into()),
        };
        let to_entry = format!("{}/{}", p.to_entry, p.threads.unwrap_or(0));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {named} | {matched} | {ratio} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.service,
            p.pid,
            p.role,
            p.threads.map_or("-".into(), |t| t.to_string()),
            p.missing_threads,
            p.deepest,
            p.cut,
            to_entry,
            p.planted,
            p.leaks.len(),
            p.stderr_copy,
            p.elapsed
                .map_or("none".into(), |d| d.as_millis().to_string()),
            if p.alive { "yes" } else { "NO" },
        );
    }
    out.push_str(
        "\nratio: gdb's named frames found in order in the report, over the threads both \
         have. report ms: from the touch of the tag's trigger file to the process's last \
         report file; a tag's processes are reported one after another, so each time \
         includes those before it.\n",
    );
    out.push_str(
        "\n| service | secret planted in | shown | leaked in |\n| --- | --- | --- | --- |\n",
    );
    for s in &outcome.secrets {
        let leaked = if s.leaked_in.is_empty() {
            "nowhere".to_owned()
        } else {
            s.leaked_in.join(", ")
        };
        let shown = if s.shown { "yes" } else { "no" };
        let _ = writeln!(
            out,
            "| {} | {} | {shown} | {leaked} |",
            s.secret.service, s.secret.label
        );
    }
    for p in &outcome.processes {
        match &p.gdb {
            Ok(scored) if scored.matched() < scored.total() => {
                let _ = writeln!(
                    out,
                    "\n{} {} ({}) against gdb:\n{scored}",
                    p.service, p.pid, p.role
                );
            }
            Err(e) => {
                let _ = writeln!(out, "\n{} {} ({}): {e}", p.service, p.pid, p.role);
            }
            Ok(_) => {}
        }
    }
    out
}
