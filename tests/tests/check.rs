//! `gmr-agent check`: real probes, JSON output, and a non-zero exit where
//! reports cannot work.

use gmr_tests::{
    agent::{agent_binary, run_agent},
    require_root,
};
use serde_json::Value;

#[test]
fn check_probes_for_real_and_fails_without_privileges() {
    if !require_root() {
        return;
    }
    let out = run_agent(&["check", "--format", "json"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probes: Value = serde_json::from_slice(&out.stdout).unwrap();
    let probe = |name: &str| {
        probes
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["feature"] == name)
            .cloned()
            .unwrap()
    };
    assert_eq!(probe("capture iterator")["ok"], true, "{probes}");
    assert_eq!(probe("capture iterator")["essential"], true);
    let guard = probe("lsm signal guard");
    let lsms = std::fs::read_to_string("/sys/kernel/security/lsm").unwrap_or_default();
    if guard["ok"] == true {
        assert!(lsms.split(',').any(|l| l.trim() == "bpf"), "{guard}");
    } else {
        assert!(
            guard["detail"]
                .as_str()
                .unwrap()
                .starts_with("unavailable: ")
                && guard["cost"].as_str().unwrap().contains("SIGURG"),
            "{guard}"
        );
    }

    let unprivileged = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(agent_binary())
        .arg("check")
        .output()
        .expect("setpriv");
    assert!(
        !unprivileged.status.success(),
        "reports cannot work without privileges"
    );
    let text = String::from_utf8_lossy(&unprivileged.stdout);
    assert!(
        text.contains("missing  privileges") && text.contains("running as uid 65534"),
        "{text}"
    );
}
