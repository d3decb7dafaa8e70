//! The OpenStack corpus: Debian's heat-api (OpenStack Zed, eventlet, two
//! forked workers, sqlite) and heat-engine (two workers on a real
//! rabbitmq-server, sqlite), started unmodified on 127.0.0.1, reported on
//! by one real agent through each tag's trigger file, then by their own
//! oslo.reports handler (SIGUSR2, sent only to a process whose SigCgt
//! shows it catches it; oslo writes to stderr, no `log_dir` being set).
//! Each process's two reports are compared section by section and the
//! outcome printed as a table per service: gmr must show at least oslo's
//! greenlets with all their frames, at least its threads with Python
//! frames, every option oslo shows among the options gmr read from the
//! live process, with oslo's value wherever neither masks it (lists and
//! dicts item by item), each oslo thread's Python ident on a thread,
//! every greenlet on the main thread (its tid and Python ident) with
//! eventlet's hub marked (or, where no greenlet has switched yet, saying
//! why no thread is shown),
//! Package naming the service's own package and `python3-heat`, and leak
//! no secret; oslo's own leaks are recorded. oslo's report is cut from
//! the shared stderr once gmr's copies there have landed, and gmr's copy
//! of the report its SIGUSR2 trigger makes is skipped.

use gmr_tests::{
    agent::section,
    openstack::{self, Row},
    realworld::run::{Corpus, Running, trigger},
    require_root,
};

/// The distro package of the Python distribution both services run.
const DISTRIBUTION_PACKAGE: &str = "python3-heat";

#[test]
fn heat_matches_its_own_oslo_reports() {
    if !require_root() {
        return;
    }
    let corpus = Corpus::start(vec![
        openstack::heat::SERVICE,
        openstack::heat_engine::SERVICE,
    ]);
    for skip in &corpus.skipped {
        println!("{skip}");
    }
    assert!(corpus.failures.is_empty(), "{}", corpus.failures.join("\n"));
    if corpus.running.is_empty() {
        return;
    }
    let agent = corpus.start_agent();
    let mut failures = Vec::new();
    for running in &corpus.running {
        let rows = compare_service(&corpus, running);
        println!("{}", openstack::table(running.service.name, &rows));
        failures.extend(rows.into_iter().flat_map(|r| r.failures));
    }
    drop(agent);
    assert!(
        failures.is_empty(),
        "{} failure(s) against oslo:\n- {}",
        failures.len(),
        failures.join("\n- ")
    );
}

/// Triggers gmr for every process of `running`, then oslo for each in
/// turn, and compares the two reports of each process.
#[track_caller]
fn compare_service(corpus: &Corpus, running: &Running) -> Vec<Row> {
    let name = running.service.name;
    let pids = running.cgroup.processes();
    let reports = trigger(running, &pids, &corpus.report_dir());
    // Let the agent's copies to the targets' stderr land before oslo's.
    openstack::wait_until_quiet(&running.started.stderr);
    let secrets = &running.started.secrets;
    let mut rows = Vec::new();
    for report in &reports {
        let pid = report.pid;
        let elapsed = report.elapsed.unwrap_or_else(|| {
            panic!(
                "{name}: no gmr report of {pid} in every format: {:?}",
                report.files
            )
        });
        let json_file = report
            .files
            .iter()
            .find(|f| f.extension().is_some_and(|e| e == "json"))
            .expect("a JSON report");
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(json_file).expect("read the JSON report"),
        )
        .expect("the JSON report parses");
        let gmr_text: String = report
            .files
            .iter()
            .map(|f| std::fs::read_to_string(f).expect("read a report file"))
            .collect();
        let package = section(&json, "Package");
        assert_eq!(
            (
                package["distro_package"].as_str(),
                package["python_distribution_package"].as_str()
            ),
            (Some(name), Some(DISTRIBUTION_PACKAGE)),
            "Package of {name} {pid} names the application: {package}"
        );
        assert!(
            openstack::catches_sigusr2(pid),
            "{name} {pid} does not catch SIGUSR2 (oslo.reports' handler missing)"
        );
        let (oslo_text, oslo_time) = openstack::oslo_report(pid, &running.started.stderr)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        rows.push(openstack::compare(
            pid,
            &json,
            &gmr_text,
            &oslo_text,
            secrets,
            (elapsed, oslo_time),
        ));
    }
    rows
}
