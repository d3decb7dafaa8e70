//! `dist/kubernetes/`: valid against the Kubernetes schemas (PyPI's
//! kubernetes-validate, offline, strict: unknown fields fail), a DaemonSet
//! that mirrors the documented `podman run` (host pid namespace, the same
//! capabilities and paths), and a ConfigMap whose agent.yaml the agent
//! runs with.

use std::{path::PathBuf, process::Command};

use gmr_tests::{
    agent::RunningAgent,
    podman::{AGENT_CAPABILITIES, AGENT_PATHS},
    require_root,
    scratch::Scratch,
    workspace_root,
};
use serde_json::Value;

/// Where `cargo xtask test` installs kubernetes-validate (a venv).
fn validator() -> PathBuf {
    workspace_root().join("target/kubernetes-validate/bin/kubernetes-validate")
}

fn manifests() -> PathBuf {
    workspace_root().join("dist/kubernetes")
}

/// A manifest, as JSON values.
#[track_caller]
fn read(name: &str) -> Value {
    let path = manifests().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_manifests_are_valid_kubernetes() {
    let validator = validator();
    if !validator.exists() {
        println!(
            "SKIP: no {}: `cargo xtask test` installs kubernetes-validate from PyPI (it said why if it could not)",
            validator.display()
        );
        return;
    }
    let files: Vec<PathBuf> = ["namespace.yaml", "configmap.yaml", "daemonset.yaml"]
        .iter()
        .map(|name| manifests().join(name))
        .collect();
    let out = Command::new(&validator)
        .arg("--strict")
        .args(&files)
        .output()
        .expect("run kubernetes-validate");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "kubernetes-validate --strict:\n{said}"
    );
    for file in &files {
        assert!(
            said.contains(&format!("{} passed", file.display())),
            "{said}"
        );
    }
}

#[test]
fn the_daemonset_mirrors_the_podman_flags() {
    let daemonset = read("daemonset.yaml");
    let pod = &daemonset["spec"]["template"]["spec"];
    assert_eq!(pod["hostPID"], true, "--pid host");
    let containers = pod["containers"].as_array().expect("containers");
    let [agent] = containers.as_slice() else {
        panic!("one container: {containers:?}");
    };
    assert_eq!(agent["args"], serde_json::json!(["run"]));
    let security = &agent["securityContext"];
    assert_eq!(security["privileged"], false);
    assert_eq!(
        security["capabilities"]["drop"],
        serde_json::json!(["ALL"]),
        "--cap-drop all"
    );
    assert_eq!(
        security["capabilities"]["add"],
        serde_json::json!(AGENT_CAPABILITIES),
        "--cap-add"
    );
    let mounts = agent["volumeMounts"].as_array().expect("volumeMounts");
    let volumes = pod["volumes"].as_array().expect("volumes");
    for (path, read_only) in AGENT_PATHS {
        let mount = mounts
            .iter()
            .find(|m| m["mountPath"] == path)
            .unwrap_or_else(|| panic!("{path} is not mounted: {mounts:?}"));
        assert_eq!(
            mount["readOnly"].as_bool().unwrap_or(false),
            read_only,
            "{path}"
        );
        let volume = volumes
            .iter()
            .find(|v| v["name"] == mount["name"])
            .expect("its volume");
        if path == "/etc/gmr" {
            assert_eq!(
                volume["configMap"]["name"], "gmr-agent",
                "the ConfigMap: {volume}"
            );
        } else {
            assert_eq!(
                volume["hostPath"]["path"], path,
                "the host's own {path}: {volume}"
            );
        }
    }
    let probe = &agent["livenessProbe"]["exec"]["command"];
    assert_eq!(probe[0], "/usr/bin/gmr-agent", "{probe}");
    assert!(agent["resources"]["limits"]["memory"].is_string());
}

#[test]
fn the_agent_runs_with_the_configmaps_configuration() {
    if !require_root() {
        return;
    }
    let configmap = read("configmap.yaml");
    let text = configmap["data"]["agent.yaml"]
        .as_str()
        .expect("data: agent.yaml");
    // A node of the test's own, with no pod yet: every tag covers nothing.
    let scratch = Scratch::new("configmap");
    let node = |dir: &str| -> PathBuf {
        let path = scratch.path().join(dir);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    let (pods, containers) = (node("pods"), node("containers"));
    assert!(
        text.contains("/var/log/pods") && text.contains("/var/log/containers"),
        "{text}"
    );
    let text = text
        .replace("/var/log/pods", pods.to_str().unwrap())
        .replace("/var/log/containers", containers.to_str().unwrap())
        .replace(
            "/var/lib/gmr/reports",
            scratch.path().join("reports").to_str().unwrap(),
        );
    let config = scratch.path().join("agent.yaml");
    std::fs::write(&config, text).unwrap();
    // Trigger files go to the default /run/gmr/<tag>.trigger; the agent
    // removes those it created when it stops.
    let agent = RunningAgent::start(&["--config", config.to_str().unwrap()]);
    let log = agent.log();
    assert!(
        log.contains("namespace openstack has no running pod on this node"),
        "{log}"
    );
}
