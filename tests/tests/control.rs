//! `gmr-agent trigger` and `gmr-agent list` against a running agent.

use gmr_tests::{
    CVariant, Fixture, TestCgroup,
    agent::{RunningAgent, run_agent},
    build_c_fixture, require_root,
    scratch::Scratch,
};

fn ctl(agent: &RunningAgent, args: &[&str]) -> (bool, String, String) {
    let mut full = args.to_vec();
    full.extend(["--socket", agent.socket().to_str().unwrap()]);
    let out = run_agent(&full);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn trigger_by_pid_tag_and_cgroup_prints_report_files_and_list_shows_them() {
    if !require_root() {
        return;
    }
    let reports = Scratch::new("ctl");
    let cgroup = TestCgroup::create();
    let child = cgroup.path().join("worker.scope");
    std::fs::create_dir(&child).unwrap();
    let program = build_c_fixture(CVariant::NoFramePointer);
    let first = Fixture::spawn(&program, &[], Some(&cgroup));
    let second = Fixture::spawn(&program, &[], None);
    std::fs::write(child.join("cgroup.procs"), second.pid().to_string()).unwrap();
    let tag = cgroup
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    let agent = RunningAgent::start(&[
        "--tag",
        cgroup.path().to_str().unwrap(),
        "--report-dir",
        reports.path().to_str().unwrap(),
        "--no-target-stderr",
    ]);

    let (ok, out, err) = ctl(&agent, &["trigger", &first.pid().to_string()]);
    assert!(ok, "{err}\nagent log:\n{}", agent.log());
    let written = out
        .trim()
        .split_once(": ")
        .map(|(_, path)| path.to_owned())
        .unwrap();
    assert!(out.starts_with(&format!("{}: ", first.pid())), "{out}");
    let text = std::fs::read_to_string(&written).unwrap();
    assert!(
        text.contains("trigger = request") && text.contains("comm gmr-agent"),
        "{text}"
    );
    assert_eq!(first.usr2_count(), 0, "no signal is sent");

    let (ok, out, err) = ctl(&agent, &["trigger", child.to_str().unwrap()]);
    assert!(ok, "{err}");
    assert!(
        out.starts_with(&format!("{}: ", second.pid())) && out.lines().count() == 1,
        "only the child cgroup: {out}"
    );

    let (ok, out, _) = ctl(&agent, &["trigger", &tag]);
    assert!(ok);
    assert!(
        out.contains("dropped: the last report for"),
        "the 5 s minimum interval applies: {out}"
    );

    let (ok, out, err) = ctl(&agent, &["list"]);
    assert!(ok, "{err}");
    assert!(
        out.contains(&tag)
            && out.contains(&first.pid().to_string())
            && out.contains(&second.pid().to_string()),
        "{out}"
    );
    assert!(out.contains("last report: /"), "{out}");

    let (ok, _, err) = ctl(&agent, &["trigger", "1"]);
    assert!(
        !ok && err.contains("process 1 is not in a tagged cgroup"),
        "{err}"
    );
    let (ok, _, err) = ctl(&agent, &["trigger", "no-such-tag"]);
    assert!(!ok && err.contains("no tag, pid or cgroup path"), "{err}");
    drop(second);
    let _ = std::fs::remove_dir(&child);
}

#[test]
fn trigger_without_an_agent_says_so() {
    let out = run_agent(&["trigger", "1", "--socket", "/nonexistent/agent.sock"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot reach the agent at /nonexistent/agent.sock"),
        "{err}"
    );
}

#[test]
fn the_control_group_may_use_the_socket_and_others_may_not() {
    if !require_root() {
        return;
    }
    let reports = Scratch::new("ctl-group");
    let cgroup = TestCgroup::create();
    let as_nobody = |agent: &RunningAgent| {
        std::process::Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(gmr_tests::agent::agent_binary())
            .args(["list", "--socket", agent.socket().to_str().unwrap()])
            .output()
            .expect("setpriv")
    };
    let args = [
        "--tag",
        cgroup.path().to_str().unwrap(),
        "--report-dir",
        reports.path().to_str().unwrap(),
    ];
    let root_only = RunningAgent::start(&args);
    let out = as_nobody(&root_only);
    assert!(!out.status.success(), "the socket is root only by default");
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the agent"));
    drop(root_only);

    let mut with_group = args.to_vec();
    with_group.extend(["--control-group", "65534"]);
    let shared = RunningAgent::start(&with_group);
    let out = as_nobody(&shared);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains(cgroup.path().to_str().unwrap()));
}
