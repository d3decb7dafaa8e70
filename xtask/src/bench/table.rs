//! Prints the results as Markdown tables, ready for docs/performance.md.

use super::{
    Row,
    gmr::{AgentTimes, CACHE_IDLE_SECONDS, STAGES},
    go::GoStall,
    hooks::{HookCost, Idle},
    peers::Peer,
    scale::{PROCESSES, SERVICES, Scale},
    timing::{Series, format_duration},
};

/// Prints every table.
pub fn print(rows: &[Row], hooks: &[HookCost], idle: &Idle) {
    print_times(rows);
    print_empty_cache(rows);
    print_stalls(rows);
    print_stages(rows);
    print_memory(rows, idle);
    print_hooks(hooks);
}

/// The hook overhead table.
pub fn print_hooks(hooks: &[HookCost]) {
    println!(
        "\n### Hook overhead (per call; overhead = median of the rounds' own; \
         floor = an empty eBPF program on the same tracepoints; own run = \
         the programs' run_time_ns / run_cnt as the kernel counts them)\n"
    );
    let lines: Vec<Vec<String>> = hooks
        .iter()
        .map(|cost| {
            let range = match (cost.round_overheads.first(), cost.round_overheads.last()) {
                (Some(low), Some(high)) => format!("{low:+.1} to {high:+.1} %"),
                _ => "-".to_owned(),
            };
            let (floor_added, agent_added) = cost.added_ns;
            let per_run = |runs: super::floor::ProgramRuns| match runs.ns_per_run() {
                Some(ns) => format!("{ns:.1} ns ({} runs)", runs.runs),
                None => "no run".to_owned(),
            };
            vec![
                cost.path.label().to_owned(),
                format!("{} ns", cost.without.as_nanos()),
                format!("{} ns", cost.floor.as_nanos()),
                format!("{} ns", cost.with.as_nanos()),
                format!("{:+.1} %", cost.overhead_percent()),
                range,
                format!("{floor_added:+.1} ns"),
                format!("{agent_added:+.1} ns"),
                format!("{:.2}x", cost.floor_ratio()),
                per_run(cost.program_runs.0),
                per_run(cost.program_runs.1),
                cost.program_ratio()
                    .map_or("-".to_owned(), |ratio| format!("{ratio:.2}x")),
            ]
        })
        .collect();
    markdown(
        &[
            "hot path",
            "without hooks",
            "empty program",
            "with agent",
            "overhead",
            "rounds' range",
            "floor adds",
            "agent adds",
            "agent / floor",
            "empty program's own run",
            "gmr's programs' own run",
            "own run: gmr / empty",
        ],
        &lines,
    );
}

/// Each tool's first run after the page cache was emptied.
fn print_empty_cache(rows: &[Row]) {
    println!("\n### Cold start from an empty page cache (median; ratio = peer time / gmr time)\n");
    let Some(first) = rows.first() else {
        return;
    };
    let mut headers = vec!["threads".to_owned()];
    headers.extend(first.empty_cache.iter().map(|(tool, _)| (*tool).to_owned()));
    headers.extend(
        first
            .empty_cache
            .iter()
            .skip(1)
            .map(|(tool, _)| format!("{tool} / gmr")),
    );
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.threads.to_string()];
            cells.extend(row.empty_cache.iter().map(|(_, runs)| runs.cell()));
            if let Some(((_, gmr), peers)) = row.empty_cache.split_first() {
                cells.extend(peers.iter().map(|(_, peer)| ratio(peer, gmr)));
            }
            cells
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    markdown(&headers, &lines);
}

/// Report times and the peers' time as a multiple of gmr's.
fn print_times(rows: &[Row]) {
    println!("\n### Report time (median; ratio = peer time / gmr time)\n");
    let mut headers = vec![
        "threads",
        "gmr cold",
        "gmr first warm",
        "gmr warm",
        "agent CPU per warm report",
    ];
    headers.extend(Peer::ALL.map(Peer::name));
    let ratio_headers: Vec<String> = Peer::ALL
        .iter()
        .flat_map(|p| {
            [
                format!("{} / cold", p.name()),
                format!("{} / warm", p.name()),
            ]
        })
        .collect();
    headers.extend(ratio_headers.iter().map(String::as_str));
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![
                row.threads.to_string(),
                row.cold.cell(),
                format_duration(row.first_warm),
                row.warm.cell(),
                format_duration(row.warm_cpu),
            ];
            cells.extend(row.peers.iter().map(|(_, s)| s.cell()));
            for (_, peer) in &row.peers {
                cells.push(ratio(peer, &row.cold));
                cells.push(ratio(peer, &row.warm));
            }
            cells
        })
        .collect();
    markdown(&headers, &lines);
}

/// `peer / gmr` as `23.4×`, a lower bound when the peer timed out.
fn ratio(peer: &Series, gmr: &Series) -> String {
    let Some(gmr) = gmr.median() else {
        return "-".to_owned();
    };
    match (peer.timed_out, peer.median()) {
        (Some(limit), _) => format!(">{:.0}×", limit.as_secs_f64() / gmr.as_secs_f64()),
        (None, Some(peer)) => format!("{:.1}×", peer.as_secs_f64() / gmr.as_secs_f64()),
        (None, None) => "-".to_owned(),
    }
}

/// The largest gap of the target's 1 ms probe while each tool ran.
fn print_stalls(rows: &[Row]) {
    println!(
        "\n### Target stall (largest gap between 1 ms probe ticks while reports were taken)\n"
    );
    let mut headers = vec![
        "threads",
        "idle (noise)",
        "gmr cold",
        "gmr warm",
        "CPU hog as long as warm",
    ];
    headers.extend(Peer::ALL.map(Peer::name));
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.threads.to_string()];
            cells.extend(
                [
                    row.stalls.idle,
                    row.stalls.cold,
                    row.stalls.warm,
                    row.stalls.hog,
                ]
                .into_iter()
                .chain(row.stalls.peers.iter().copied())
                .map(format_duration),
            );
            cells
        })
        .collect();
    markdown(&headers, &lines);
}

/// The agent's own account of warm reports, stage by stage (medians).
fn print_stages(rows: &[Row]) {
    println!("\n### Where a warm report's time goes (agent's log, median ms)\n");
    let mut headers = vec!["threads"];
    headers.extend(STAGES);
    headers.extend(["other", "made", "render + write"]);
    let lines: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            let mut cells = vec![row.threads.to_string()];
            for stage in 0..STAGES.len() {
                cells.push(median_ms(&row.agent, |t| t.stages[stage]));
            }
            cells.push(median_ms(&row.agent, |t| {
                t.made - t.stages.iter().sum::<f64>()
            }));
            cells.push(median_ms(&row.agent, |t| t.made));
            cells.push(median_ms(&row.agent, |t| t.written));
            cells
        })
        .collect();
    markdown(&headers, &lines);
}

/// The median of one field over the warm reports.
fn median_ms(times: &[AgentTimes], field: impl Fn(&AgentTimes) -> f64) -> String {
    let mut values: Vec<f64> = times.iter().map(field).collect();
    values.sort_by(f64::total_cmp);
    values
        .get(values.len().saturating_sub(1) / 2)
        .map_or("-".to_owned(), |v| format!("{v:.1}"))
}

/// The agent's memory after each fixture's reports, and idle.
fn print_memory(rows: &[Row], idle: &Idle) {
    println!("\n### Agent CPU and memory\n");
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    let mut lines = vec![vec![
        "idle, no report yet".to_owned(),
        format!("{:.2} %", idle.cpu_percent),
        mib(idle.rss_kib),
        "-".to_owned(),
    ]];
    lines.extend(rows.iter().flat_map(|row| {
        [
            vec![
                format!("after reports on {} threads", row.threads),
                "-".to_owned(),
                mib(row.agent_rss_kib),
                mib(row.agent_peak_kib),
            ],
            vec![
                format!("then idle {CACHE_IDLE_SECONDS} s (caches dropped)"),
                "-".to_owned(),
                mib(row.agent_idle_rss_kib),
                "-".to_owned(),
            ],
        ]
    }));
    markdown(&["agent", "CPU", "RSS", "peak RSS"], &lines);
}

/// A Markdown table with aligned columns.
/// The agent at scale: memory, throughput and the reports counted.
pub fn print_scale(scale: &Scale) {
    println!(
        "\n### At scale ({SERVICES} tagged services of {PROCESSES} sleeping processes, \
         every trigger file touched at once)\n"
    );
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    markdown(
        &["measure", "value"],
        &[
            vec![
                "agent RSS, one tagged process, after a report".into(),
                mib(scale.one_rss_kib),
            ],
            vec![
                "agent RSS, every service tagged, before the burst".into(),
                mib(scale.before_rss_kib),
            ],
            vec![
                "agent RSS, largest seen during the burst".into(),
                mib(scale.during_rss_kib),
            ],
            vec!["agent peak RSS (VmHWM)".into(), mib(scale.peak_kib)],
            vec!["agent RSS after the burst".into(), mib(scale.after_rss_kib)],
            vec![
                "after the burst / one process".into(),
                format!("{:.2}×", scale.after_ratio()),
            ],
            vec![
                "reports written / asked for".into(),
                format!("{} / {}", scale.written, scale.expected),
            ],
            vec![
                "burst (touches to the last report file)".into(),
                format!("{:.2} s", scale.burst.as_secs_f64()),
            ],
            vec![
                "reports per second".into(),
                format!("{:.1}", scale.per_second()),
            ],
        ],
    );
}

fn markdown(headers: &[&str], rows: &[Vec<String>]) {
    let widths: Vec<usize> = (0..headers.len())
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| s.chars().count())
                .chain([headers[c].chars().count()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: Vec<&str>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, &w)| format!("{cell:<w$}"))
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(headers.to_vec());
    let rules: Vec<String> = widths.iter().map(|&w| "-".repeat(w.max(3))).collect();
    line(rules.iter().map(String::as_str).collect());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}

/// The Go process' stall while gmr read its goroutines.
pub fn print_go(go: &GoStall) {
    println!(
        "\n### Go target stall while gmr reads its goroutines (10,000+ goroutines, \
         largest gap between 1 ms probe ticks, {})\n",
        go.toolchain
    );
    markdown(
        &[
            "gmr cold (median)",
            "gmr warm (median)",
            "idle (noise)",
            "gmr cold",
            "gmr warm",
            "CPU hog as long as warm",
        ],
        &[vec![
            go.cold.cell(),
            go.warm.cell(),
            format_duration(go.idle),
            format_duration(go.cold_stall),
            format_duration(go.warm_stall),
            format_duration(go.hog),
        ]],
    );
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn ratio_is_a_lower_bound_after_a_timeout() {
        let gmr = Series {
            samples: vec![Duration::from_millis(100)],
            timed_out: None,
        };
        let slow = Series {
            samples: vec![],
            timed_out: Some(Duration::from_secs(60)),
        };
        let peer = Series {
            samples: vec![Duration::from_secs(2)],
            timed_out: None,
        };
        assert_eq!(ratio(&slow, &gmr), ">600×");
        assert_eq!(ratio(&peer, &gmr), "20.0×");
    }
}
