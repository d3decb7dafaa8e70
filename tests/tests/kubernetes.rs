//! Pod and namespace tags on a kubelet-like node built by the test: the
//! kubelet's `/var/log/pods` and `/var/log/containers` in a scratch
//! directory (the agent's `kubernetes:` setting points there), and real
//! cgroups in the kubepods layout of both cgroup drivers and every QoS
//! class under the cgroup2 mount, with real processes in them:
//!
//! | pod | driver | QoS | containers |
//! | --- | --- | --- | --- |
//! | openstack/nova-api-0 | systemd | Burstable | api, sidecar |
//! | openstack/nova-conductor-0 | systemd | Guaranteed | conductor |
//! | identity/keystone-0 | cgroupfs | BestEffort | keystone |
//! | identity/keystone-1 | cgroupfs | Burstable | keystone |
//!
//! One agent tags container `api` of nova-api-0 (not its sidecar), pod
//! nova-conductor-0, and namespace identity (both keystone pods). Touching
//! each tag's trigger file writes a report (mode 0600) for exactly the
//! processes it covers, each naming its pod and container; `list` shows the
//! namespace tag's two cgroups. A pod tag whose pod is not on the node yet
//! (openstack/glance-0) covers nothing until the pod starts, then reports.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Command},
    time::{Duration, Instant},
};

use gmr_tests::{
    agent::{RunningAgent, run_agent},
    cgroup::cgroup2_mount,
    require_root,
    scratch::{REPORT_TIMEOUT, Scratch, report_files, wait_for_report_files},
};
use serde_json::Value;

/// How long a pod started after the agent may take to be tagged: the
/// agent rescans pod tags every 10 s.
const RESCAN_TIMEOUT: Duration = Duration::from_secs(25);

/// One container of a pod on the fake node.
struct PodContainer {
    namespace: &'static str,
    pod: &'static str,
    uid: &'static str,
    container: &'static str,
    /// The pod's cgroup, relative to the node's kubepods root.
    pod_cgroup: String,
    /// The container's runtime id.
    id: String,
}

/// The node: the kubelet's directories, the cgroups (below one test
/// directory of the cgroup2 mount), and a `sleep` in each container's
/// cgroup. Dropping it kills the processes and removes the cgroups.
struct Node {
    scratch: Scratch,
    cgroup_root: PathBuf,
    containers: Vec<(PodContainer, PathBuf, Child)>,
}

impl Node {
    #[track_caller]
    fn build(containers: Vec<PodContainer>) -> Self {
        let scratch = Scratch::new("kubelet");
        let cgroup_root = cgroup2_mount().join(format!("gmr-kube-{}", std::process::id()));
        let mut node = Node {
            scratch,
            cgroup_root,
            containers: Vec::new(),
        };
        for dir in ["pods", "containers"] {
            std::fs::create_dir_all(node.scratch.path().join(dir)).unwrap();
        }
        for c in containers {
            node.start(c);
        }
        node
    }

    /// Starts container `c`: its kubelet directories, its cgroup, its process.
    #[track_caller]
    fn start(&mut self, c: PodContainer) {
        let node = self;
        {
            let pod_dir = node
                .scratch
                .path()
                .join("pods")
                .join(format!("{}_{}_{}", c.namespace, c.pod, c.uid));
            std::fs::create_dir_all(pod_dir.join(c.container)).unwrap();
            std::fs::write(pod_dir.join(c.container).join("0.log"), "").unwrap();
            let link = format!("{}_{}_{}-{}.log", c.pod, c.namespace, c.container, c.id);
            std::os::unix::fs::symlink(
                pod_dir.join(c.container).join("0.log"),
                node.scratch.path().join("containers").join(link),
            )
            .unwrap();
            let leaf = if c.pod_cgroup.starts_with("kubepods.slice") {
                format!("{}/cri-containerd-{}.scope", c.pod_cgroup, c.id)
            } else {
                format!("{}/{}", c.pod_cgroup, c.id)
            };
            let cgroup = node.cgroup_root.join(leaf);
            std::fs::create_dir_all(&cgroup)
                .unwrap_or_else(|e| panic!("create cgroup {}: {e}", cgroup.display()));
            let child = Command::new("sleep")
                .arg("600")
                .spawn()
                .expect("spawn sleep");
            std::fs::write(cgroup.join("cgroup.procs"), child.id().to_string())
                .unwrap_or_else(|e| panic!("move {} into {}: {e}", child.id(), cgroup.display()));
            node.containers.push((c, cgroup, child));
        }
    }

    /// The pid running in `pod`'s container `container`.
    #[track_caller]
    fn pid(&self, pod: &str, container: &str) -> u32 {
        self.containers
            .iter()
            .find(|(c, _, _)| c.pod == pod && c.container == container)
            .map(|(_, _, child)| child.id())
            .unwrap_or_else(|| panic!("no container {container} in pod {pod}"))
    }

    fn kubelet_config(&self) -> String {
        format!(
            "kubernetes:\n  pod_logs: {}\n  container_logs: {}\n",
            self.scratch.path().join("pods").display(),
            self.scratch.path().join("containers").display()
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        for (_, _, child) in &mut self.containers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut pending = vec![self.cgroup_root.clone()];
        while let Some(dir) = pending.pop() {
            if let Ok(entries) = std::fs::read_dir(&dir) {
                pending.extend(
                    entries
                        .filter_map(Result::ok)
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            dirs.push(dir);
        }
        for dir in dirs.iter().rev() {
            let _ = std::fs::remove_dir(dir);
        }
    }
}

/// A 64-digit container id made of `digit`.
fn id(digit: char) -> String {
    digit.to_string().repeat(64)
}

/// The node of the module docs.
fn openstack_node() -> Node {
    const API: &str = "0d6d1b3a-4f7e-4c5a-9a63-2d1e8f0b7c11";
    const CONDUCTOR: &str = "7a1f0e52-93c4-4d6b-8e2a-5b9c0d1e2f33";
    const KEYSTONE_0: &str = "c2b4e6f8-1a3c-4e5f-8a9b-0c1d2e3f4a55";
    const KEYSTONE_1: &str = "e4d6f8a0-2b3c-4d5e-9f0a-1b2c3d4e5f66";
    let systemd = |qos: Option<&str>, uid: &str| {
        let uid = uid.replace('-', "_");
        match qos {
            Some(qos) => {
                format!("kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{uid}.slice")
            }
            None => format!("kubepods.slice/kubepods-pod{uid}.slice"),
        }
    };
    let container = |namespace, pod, uid, container, pod_cgroup: String, digit| PodContainer {
        namespace,
        pod,
        uid,
        container,
        pod_cgroup,
        id: id(digit),
    };
    Node::build(vec![
        container(
            "openstack",
            "nova-api-0",
            API,
            "api",
            systemd(Some("burstable"), API),
            '1',
        ),
        container(
            "openstack",
            "nova-api-0",
            API,
            "sidecar",
            systemd(Some("burstable"), API),
            '2',
        ),
        container(
            "openstack",
            "nova-conductor-0",
            CONDUCTOR,
            "conductor",
            systemd(None, CONDUCTOR),
            '3',
        ),
        container(
            "identity",
            "keystone-0",
            KEYSTONE_0,
            "keystone",
            format!("kubepods/besteffort/pod{KEYSTONE_0}"),
            '4',
        ),
        container(
            "identity",
            "keystone-1",
            KEYSTONE_1,
            "keystone",
            format!("kubepods/burstable/pod{KEYSTONE_1}"),
            '5',
        ),
    ])
}

/// `gmr-agent list --json` of `agent`, parsed.
#[track_caller]
fn listing(agent: &RunningAgent) -> Value {
    let out = run_agent(&[
        "list",
        "--json",
        "--socket",
        agent.socket().to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("list --json")
}

/// Tag `name` in a listing.
#[track_caller]
fn tag_in(listing: &Value, name: &str) -> Value {
    listing["listing"]["tags"]
        .as_array()
        .and_then(|tags| tags.iter().find(|t| t["name"] == name))
        .unwrap_or_else(|| panic!("no tag {name} in {listing}"))
        .clone()
}

/// The one JSON report on `pid` in `reports`, parsed, once it is there.
#[track_caller]
fn the_report(reports: &Path, pid: u32, agent: &RunningAgent) -> Value {
    let files = wait_for_report_files(reports, pid, "json", 1, REPORT_TIMEOUT);
    let [file] = files.as_slice() else {
        panic!(
            "one JSON report on {pid} expected, got {files:?}; agent log:\n{}",
            agent.log()
        );
    };
    let mode = std::fs::metadata(file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} has mode {mode:o}", file.display());
    serde_json::from_str(&std::fs::read_to_string(file).unwrap()).unwrap()
}

#[test]
fn pod_and_namespace_tags_resolve_on_a_kubelet_layout_and_report_through_trigger_files() {
    if !require_root() {
        return;
    }
    let node = openstack_node();
    let scratch = Scratch::new("kube-agent");
    let reports = scratch.path().join("reports");
    let trigger = |name: &str| scratch.path().join(format!("{name}.trigger"));
    let config = scratch.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "{}formats: [text, json]\nmin_interval_seconds: 0\ntags:\n\
             - pod: openstack/nova-api-0\n  container: api\n  trigger_file: {}\n\
             - pod: openstack/nova-conductor-0\n  trigger_file: {}\n\
             - namespace: identity\n  trigger_file: {}\n\
             - pod: openstack/glance-0\n  trigger_file: {}\n",
            node.kubelet_config(),
            trigger("api").display(),
            trigger("conductor").display(),
            trigger("identity").display(),
            trigger("glance").display()
        ),
    )
    .unwrap();
    let agent = RunningAgent::start(&[
        "--config",
        config.to_str().unwrap(),
        "--report-dir",
        reports.to_str().unwrap(),
        "--no-target-stderr",
    ]);

    let at_start = listing(&agent);
    let tag = |name: &str| tag_in(&at_start, name);
    assert_eq!(
        tag("nova-api-0-api")["cgroups"].as_array().map(Vec::len),
        Some(1)
    );
    assert_eq!(
        tag("identity")["cgroups"].as_array().map(Vec::len),
        Some(2),
        "both keystone pods"
    );
    let pids_of = |name: &str| -> Vec<u64> {
        tag(name)["processes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["pid"].as_u64().unwrap())
            .collect()
    };
    assert_eq!(
        pids_of("nova-api-0-api"),
        [u64::from(node.pid("nova-api-0", "api"))],
        "not the sidecar"
    );
    let mut keystones = vec![
        u64::from(node.pid("keystone-0", "keystone")),
        u64::from(node.pid("keystone-1", "keystone")),
    ];
    keystones.sort_unstable();
    assert_eq!(pids_of("identity"), keystones);

    for (file, covered) in [
        ("api", vec![("openstack", "nova-api-0", "api")]),
        (
            "conductor",
            vec![("openstack", "nova-conductor-0", "conductor")],
        ),
        (
            "identity",
            vec![
                ("identity", "keystone-0", "keystone"),
                ("identity", "keystone-1", "keystone"),
            ],
        ),
    ] {
        let touched = Instant::now();
        assert!(
            Command::new("touch")
                .arg(trigger(file))
                .status()
                .unwrap()
                .success()
        );
        for (namespace, pod, container) in covered {
            let pid = node.pid(pod, container);
            let report = the_report(&reports, pid, &agent);
            println!(
                "{namespace}/{pod} {container}: report in {:.1?}",
                touched.elapsed()
            );
            let shown = &report["target"]["pod"];
            assert_eq!(shown["namespace"], namespace, "{shown}");
            assert_eq!(shown["name"], pod, "{shown}");
            assert_eq!(shown["container"], container, "{shown}");
            let uid = &node
                .containers
                .iter()
                .find(|(c, _, _)| c.pod == pod)
                .unwrap()
                .0
                .uid;
            assert_eq!(shown["uid"], *uid, "{shown}");
            let id = &node
                .containers
                .iter()
                .find(|(c, _, _)| c.pod == pod && c.container == container)
                .unwrap()
                .0
                .id;
            assert_eq!(report["target"]["container_id"], id.as_str());
            let text = report_files(&reports, pid, "txt");
            let text = std::fs::read_to_string(&text[0]).unwrap();
            assert!(
                text.contains(&format!(
                    "\npod = {namespace}/{pod} (uid {uid}), container {container}\n"
                )),
                "{text}"
            );
        }
    }
    let sidecar = node.pid("nova-api-0", "sidecar");
    assert!(
        report_files(&reports, sidecar, "json").is_empty(),
        "the sidecar is not tagged"
    );

    // A pod scheduled after the agent started is tagged at the next rescan.
    assert_eq!(
        tag("glance-0")["cgroups"],
        serde_json::json!([]),
        "not on the node yet"
    );
    let mut node = node;
    const GLANCE: &str = "9b8a7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c66";
    node.start(PodContainer {
        namespace: "openstack",
        pod: "glance-0",
        uid: GLANCE,
        container: "glance",
        pod_cgroup: format!("kubepods/pod{GLANCE}"),
        id: id('6'),
    });
    let scheduled = Instant::now();
    while tag_in(&listing(&agent), "glance-0")["cgroups"]
        .as_array()
        .is_none_or(Vec::is_empty)
    {
        assert!(
            scheduled.elapsed() < RESCAN_TIMEOUT,
            "glance-0 not tagged; log:\n{}",
            agent.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    println!(
        "a new pod tagged {:.1?} after it started",
        scheduled.elapsed()
    );
    assert!(
        Command::new("touch")
            .arg(trigger("glance"))
            .status()
            .unwrap()
            .success()
    );
    let report = the_report(&reports, node.pid("glance-0", "glance"), &agent);
    assert_eq!(report["target"]["pod"]["name"], "glance-0");

    // A container the pod does not have fails the start, naming those it has.
    let missing = scratch.path().join("missing.yaml");
    std::fs::write(
        &missing,
        format!(
            "{}tags:\n- pod: openstack/nova-api-0\n  container: db\n",
            node.kubelet_config()
        ),
    )
    .unwrap();
    let out = run_agent(&[
        "run",
        "--config",
        missing.to_str().unwrap(),
        "--socket",
        scratch.path().join("x.sock").to_str().unwrap(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success()
            && stderr.contains("tags[0]")
            && stderr.contains("no container db")
            && stderr.contains("sidecar"),
        "{stderr}"
    );
}
