//! Reports into a site's pipeline: `stdout: json` (one JSON line per report
//! on the agent's stdout) and the OTLP/HTTP logs exporter, checked against
//! a receiver that decodes with the official `opentelemetry-proto` package
//! (`gmr_tests::otlp`), and against one that is down or slow.

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, files_for, json_report, run_agent},
    build_c_fixture,
    otlp::{OtlpReceiver, down_endpoint, otlp_python},
    process::rss_kib,
    require_root,
    scratch::Scratch,
};
use serde_json::Value;

/// The API key the agent sends as a header; it must never reach its log.
const API_KEY: &str = "gmr-test-key-5f2c9a7e";

/// Writes the agent's configuration: `formats: [json]`, one tag `name` on
/// `cgroup` with no trigger file, then the `extra` keys.
fn write_config(
    dir: &Path,
    reports: &Path,
    cgroup: &TestCgroup,
    name: &str,
    extra: &str,
) -> String {
    let path = dir.join("agent.yaml");
    let text = format!(
        "report_dir: {}\nformats: [json]\ntarget_stderr: false\nmin_interval_seconds: 0\n{extra}tags:\n  - cgroup: {}\n    name: {name}\n    file_trigger: false\n",
        reports.display(),
        cgroup.path().display()
    );
    std::fs::write(&path, text).expect("write the agent configuration");
    path.display().to_string()
}

/// The `otlp:` block for `endpoint`, with the API key header.
fn otlp_block(endpoint: &str, extra: &str) -> String {
    format!(
        "otlp:\n  endpoint: {endpoint}\n  headers: {{x-api-key: {API_KEY}}}\n  timeout_seconds: 5\n{extra}"
    )
}

/// Asks the agent for a report on `pid`; the JSON report file's document
/// and how long the request took.
#[track_caller]
fn report(agent: &RunningAgent, pid: u32) -> (Value, Duration) {
    let started = Instant::now();
    let answer = agent.trigger(&pid.to_string());
    let took = started.elapsed();
    (json_report(&files_for(&answer, pid)), took)
}

fn unix_seconds(at: SystemTime) -> f64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_secs_f64()
}

#[test]
fn otlp_and_stdout_carry_the_report_files_document() {
    if !require_root() {
        return;
    }
    let Some(python) = otlp_python() else { return };
    let receiver = OtlpReceiver::start(&python, &[]);
    let scratch = Scratch::new("pipeline");
    let reports = scratch.path().join("reports");
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(
        &build_c_fixture(CVariant::NoFramePointer),
        &[],
        Some(&cgroup),
    );
    let config = write_config(
        scratch.path(),
        &reports,
        &cgroup,
        "pipeline-whole",
        &format!("stdout: json\n{}", otlp_block(&receiver.endpoint(), "")),
    );
    let agent = RunningAgent::start(&["--config", &config]);

    let asked_at = SystemTime::now();
    let (file, _) = report(&agent, fixture.pid());
    let records = receiver.wait_for_records(1, Duration::from_secs(30));
    assert_eq!(
        records.len(),
        1,
        "one log record per report; agent log:\n{}",
        agent.log()
    );
    let record = &records[0];
    let latency = record["received_at"].as_f64().unwrap() - unix_seconds(asked_at);
    println!("trigger to OTLP receipt: {:.1} ms", latency * 1e3);

    let body: Value = serde_json::from_str(record["body"].as_str().expect("a string body"))
        .expect("the body is a JSON document");
    assert_eq!(
        body, file,
        "the OTLP body is the JSON report file's document"
    );
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let resource = &record["resource"];
    assert_eq!(resource["host.name"], host.trim());
    assert_eq!(resource["service.name"], "pipeline-whole");
    assert_eq!(resource["process.pid"], fixture.pid());
    assert_eq!(resource["process.executable.name"], file["target"]["comm"]);
    assert!(
        resource.get("container.id").is_none() && file["target"]["container_id"].is_null(),
        "a host process has no container.id: {resource}"
    );
    assert_eq!(record["path"], "/v1/logs");
    assert_eq!(record["event_name"], "gmr.report");
    assert_eq!(record["headers"]["content-type"], "application/x-protobuf");
    assert_eq!(record["headers"]["x-api-key"], API_KEY);
    // The record's time is the report's: generated_at ends `SS.ffffffZ`.
    let generated_at = file["generated_at"].as_str().unwrap();
    let nanos = record["time_unix_nano"].as_u64().unwrap();
    assert_eq!(
        format!(
            "{:02}.{:06}Z",
            nanos / 1_000_000_000 % 60,
            nanos / 1000 % 1_000_000
        ),
        generated_at[17..],
        "time_unix_nano {nanos} vs generated_at {generated_at}"
    );

    let (second, _) = report(&agent, fixture.pid());
    let deadline = Instant::now() + Duration::from_secs(10);
    while agent.stdout().lines().count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    let stdout = agent.stdout();
    let lines: Vec<Value> = stdout
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect();
    assert_eq!(
        lines,
        [file, second],
        "one JSON line per report, nothing else"
    );
    assert!(
        !agent.log().contains(API_KEY),
        "the API key is in the agent's log:\n{}",
        agent.log()
    );
}

/// How many reports the agent's log says the OTLP queue dropped so far.
fn dropped_so_far(log: &str) -> u64 {
    log.lines()
        .filter_map(|line| {
            let (before, _) = line.split_once(" report(s) dropped so far")?;
            before.rsplit(' ').next()?.parse().ok()
        })
        .max()
        .unwrap_or(0)
}

/// The agent's RSS in KiB once a report burst's memory is handed back (a
/// second without a report, `agent/idle.rs`).
fn settled_rss(agent: &RunningAgent) -> u64 {
    std::thread::sleep(Duration::from_millis(1500));
    rss_kib(agent.pid()).expect("the agent's RSS")
}

#[test]
fn a_collector_down_or_slow_delays_no_report_file_and_memory_stays_bounded() {
    if !require_root() {
        return;
    }
    let Some(python) = otlp_python() else { return };
    const REPORTS: u64 = 100;
    const QUEUE: u64 = 4;
    /// Reports made before the first RSS reading: caches warm, queue full.
    const WARM: u64 = QUEUE + 2;
    let slow = OtlpReceiver::start(&python, &["--delay", "30"]);
    // Without an exporter first: what the agent's RSS does anyway.
    let mut baseline_growth = None;
    for (label, endpoint) in [
        ("none", None),
        ("down", Some(down_endpoint())),
        ("slow", Some(slow.endpoint())),
    ] {
        let scratch = Scratch::new("pipeline-down");
        let reports = scratch.path().join("reports");
        let cgroup = TestCgroup::create();
        let fixture = Fixture::spawn(
            &build_c_fixture(CVariant::NoFramePointer),
            &[],
            Some(&cgroup),
        );
        let otlp = endpoint
            .as_deref()
            .map(|e| otlp_block(e, &format!("  max_queue_reports: {QUEUE}\n")))
            .unwrap_or_default();
        let config = write_config(
            scratch.path(),
            &reports,
            &cgroup,
            &format!("pipeline-{label}"),
            &otlp,
        );
        let agent = RunningAgent::start(&["--config", &config]);
        let mut slowest = Duration::ZERO;
        let mut warm_rss = 0;
        for n in 1..=REPORTS {
            let (file, took) = report(&agent, fixture.pid());
            assert_eq!(file["target"]["pid"], fixture.pid());
            slowest = slowest.max(took);
            if n == WARM {
                warm_rss = settled_rss(&agent);
            }
        }
        let rss = settled_rss(&agent);
        let growth = rss.saturating_sub(warm_rss);
        let log = agent.log();
        println!(
            "collector {label}: {REPORTS} reports, slowest report file {:.0} ms, agent RSS {warm_rss} KiB after {WARM} reports, {rss} KiB after {REPORTS} (+{growth}); {} dropped",
            slowest.as_secs_f64() * 1e3,
            dropped_so_far(&log)
        );
        assert!(
            slowest < Duration::from_secs(4),
            "collector {label}: a report file took {slowest:?}; the exporter's 5 s timeout and its backoff must not be on the report path"
        );
        let Some(baseline) = baseline_growth else {
            baseline_growth = Some(growth);
            continue;
        };
        // One report in flight, QUEUE waiting: every other one is dropped.
        let dropped = dropped_so_far(&log);
        assert!(
            (REPORTS - QUEUE - 1..=REPORTS - QUEUE).contains(&dropped),
            "collector {label}: {dropped} dropped of {REPORTS} with a queue of {QUEUE}:\n{log}"
        );
        assert!(
            growth < baseline + 8 * 1024,
            "collector {label}: RSS grew {growth} KiB over {} reports, {baseline} KiB without an exporter",
            REPORTS - WARM
        );
        assert!(
            agent.wait_for_log("retrying in", Duration::from_secs(10)),
            "collector {label}: no retry:\n{}",
            agent.log()
        );
        assert!(
            !agent.log().contains(API_KEY),
            "the API key is in the agent's log:\n{}",
            agent.log()
        );
    }
}

#[test]
fn a_bad_otlp_header_is_refused_naming_the_field_not_the_value() {
    let scratch = Scratch::new("pipeline-bad");
    let config = scratch.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "otlp:\n  endpoint: http://127.0.0.1:4318\n  headers: {{x-api-key: \"{API_KEY}\\n\"}}\n"
        ),
    )
    .unwrap();
    let out = run_agent(&["run", "--config", config.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains(config.to_str().unwrap()) && stderr.contains("otlp.headers.x-api-key"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(API_KEY),
        "the API key is in the error: {stderr}"
    );
}
