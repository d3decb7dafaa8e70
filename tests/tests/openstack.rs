//! The OpenStack corpus: Debian's heat-api (OpenStack Zed, eventlet, two
//! forked workers, sqlite) started unmodified on 127.0.0.1, reported on
//! by the real agent through its tag's trigger file, then by its own
//! oslo.reports handler (SIGUSR2, sent only to a process whose SigCgt
//! shows it catches it; oslo writes to stderr, no `log_dir` being set).
//! Each process's two reports are compared section by section and the
//! outcome printed as a table: gmr must show at least oslo's greenlets
//! with all their frames, at least its threads with Python frames, the
//! values oslo shows for the options in the files, each oslo thread's
//! Python ident on a thread, Package naming `heat-api` and `python3-heat`,
//! and leak no secret;
//! oslo's own leaks and its larger option count are recorded.

use std::time::Duration;

use gmr_tests::{
    openstack::{self, Row},
    realworld::run::{Corpus, trigger},
    require_root,
};

#[test]
fn heat_api_matches_its_own_oslo_report() {
    if !require_root() {
        return;
    }
    let corpus = Corpus::start(vec![openstack::heat::SERVICE]);
    for skip in &corpus.skipped {
        println!("{skip}");
    }
    assert!(corpus.failures.is_empty(), "{}", corpus.failures.join("\n"));
    let Some(running) = corpus.running.first() else {
        return;
    };
    let agent = corpus.start_agent();
    let pids = running.cgroup.processes();
    let reports = trigger(running, &pids, &corpus.report_dir());
    // Let the agent's copies to the target's stderr land before oslo's.
    std::thread::sleep(Duration::from_millis(500));
    let secrets = corpus.secrets();
    let mut rows: Vec<Row> = Vec::new();
    for report in &reports {
        let pid = report.pid;
        let elapsed = report.elapsed.unwrap_or_else(|| {
            panic!("no gmr report of {pid} in every format: {:?}", report.files)
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
        let package = &gmr_tests::agent::section(&json, "Package");
        assert_eq!(
            (
                package["distro_package"].as_str(),
                package["python_distribution_package"].as_str()
            ),
            (Some("heat-api"), Some("python3-heat")),
            "Package of heat-api {pid} names the application: {package}"
        );
        assert!(
            openstack::catches_sigusr2(pid),
            "heat-api {pid} does not catch SIGUSR2 (oslo.reports' handler missing)"
        );
        let (oslo_text, oslo_time) =
            openstack::oslo_report(pid, &running.started.stderr).unwrap_or_else(|e| panic!("{e}"));
        rows.push(openstack::compare(
            pid,
            &json,
            &gmr_text,
            &oslo_text,
            &secrets,
            (elapsed, oslo_time),
        ));
    }
    drop(agent);
    println!("{}", openstack::table("heat-api", &rows));
    let failures: Vec<&String> = rows.iter().flat_map(|r| &r.failures).collect();
    assert!(
        failures.is_empty(),
        "{} failure(s) against oslo:\n- {}",
        failures.len(),
        failures
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n- ")
    );
}
