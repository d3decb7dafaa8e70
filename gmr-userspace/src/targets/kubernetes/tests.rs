//! The kubelet's naming, on a scratch tree standing in for the cgroup2
//! mount and the kubelet's log directories (the integration test
//! `tests/tests/kubernetes.rs` does the same on real cgroups).

use std::path::PathBuf;

use super::*;

const UID_A: &str = "0d6d1b3a-4f7e-4c5a-9a63-2d1e8f0b7c11";
const UID_B: &str = "7a1f0e52-93c4-4d6b-8e2a-5b9c0d1e2f33";
const UID_C: &str = "c2b4e6f8-1a3c-4e5f-8a9b-0c1d2e3f4a55";
const ID_1: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const ID_2: &str = "2222222222222222222222222222222222222222222222222222222222222222";

/// A scratch directory with `cgroup/`, `pods/` and `containers/`.
struct Node(PathBuf);

impl Node {
    fn new() -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let root = std::env::temp_dir().join(format!("gmr-kube-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        for dir in ["cgroup", "pods", "containers"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        Self(root)
    }

    fn mount(&self) -> PathBuf {
        self.0.join("cgroup")
    }

    fn kubelet(&self) -> KubeletPaths {
        KubeletPaths {
            pod_logs: self.0.join("pods"),
            container_logs: self.0.join("containers"),
        }
    }

    fn cgroup(&self, relative: &str) -> PathBuf {
        let path = self.mount().join(relative);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// A pod's log directory with a subdirectory per container, and a
    /// container log link per `(container, id)`.
    fn pod(&self, namespace: &str, name: &str, uid: &str, containers: &[(&str, &str)]) {
        let dir = self
            .0
            .join("pods")
            .join(format!("{namespace}_{name}_{uid}"));
        std::fs::create_dir_all(&dir).unwrap();
        for (container, id) in containers {
            std::fs::create_dir_all(dir.join(container)).unwrap();
            let link = format!("{name}_{namespace}_{container}-{id}.log");
            std::fs::write(self.0.join("containers").join(link), "").unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn underscored(uid: &str) -> String {
    uid.replace('-', "_")
}

#[test]
fn names_are_validated() {
    let pod: PodName = "openstack/nova-api-0".parse().unwrap();
    assert_eq!(pod.to_string(), "openstack/nova-api-0");
    for bad in [
        "openstack",
        "Openstack/a",
        "a/b_c",
        "a/-b",
        "/b",
        "a/",
        "a/b/c",
    ] {
        assert!(bad.parse::<PodName>().is_err(), "{bad}");
    }
    assert!("kube-system".parse::<DnsName>().is_ok());
    assert!("a".repeat(254).parse::<DnsName>().is_err());
}

#[test]
fn pod_uids_in_both_drivers_names() {
    for (name, uid) in [
        (
            format!("kubepods-burstable-pod{}.slice", underscored(UID_A)),
            Some(UID_A),
        ),
        (
            format!("kubepods-besteffort-pod{}.slice", underscored(UID_B)),
            Some(UID_B),
        ),
        (
            format!("kubepods-pod{}.slice", underscored(UID_C)),
            Some(UID_C),
        ),
        (format!("pod{UID_A}"), Some(UID_A)),
        ("kubepods.slice".to_owned(), None),
        ("kubepods-burstable.slice".to_owned(), None),
        ("podman".to_owned(), None),
        (format!("cri-containerd-{ID_1}.scope"), None),
    ] {
        assert_eq!(pod_uid_of(&name).as_deref(), uid, "{name}");
    }
    assert_eq!(
        pod_uid_in_path(&format!("/system.slice/pod{UID_A}")),
        None,
        "outside kubepods"
    );
    assert_eq!(
        pod_uid_in_path(&format!(
            "/../../kubepods-pod{}.slice/cri-containerd-{ID_1}.scope",
            underscored(UID_C)
        ))
        .as_deref(),
        Some(UID_C),
        "seen from another pod's cgroup namespace"
    );
}

#[test]
fn tags_resolve_pods_namespaces_and_containers_with_either_driver() {
    let node = Node::new();
    let mount = node.mount();
    // systemd driver: Burstable nova-api, Guaranteed nova-conductor;
    // cgroupfs driver: BestEffort keystone in another namespace.
    let api = node.cgroup(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice",
        underscored(UID_A)
    ));
    let api_web = node.cgroup(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID_1}.scope",
        underscored(UID_A)
    ));
    node.cgroup(&format!(
        "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID_2}.scope",
        underscored(UID_A)
    ));
    let conductor = node.cgroup(&format!(
        "kubepods.slice/kubepods-pod{}.slice",
        underscored(UID_B)
    ));
    let keystone = node.cgroup(&format!("kubepods/besteffort/pod{UID_C}"));
    node.pod(
        "openstack",
        "nova-api-0",
        UID_A,
        &[("web", ID_1), ("sidecar", ID_2)],
    );
    node.pod("openstack", "nova-conductor-0", UID_B, &[]);
    node.pod("identity", "keystone-0", UID_C, &[]);
    let kubelet = node.kubelet();

    let pod = |text: &str| text.parse::<PodName>().unwrap();
    let name = |text: &str| text.parse::<DnsName>().unwrap();
    assert_eq!(
        pod_cgroups_of(&pod("openstack/nova-api-0"), None, &mount, &kubelet).unwrap(),
        std::slice::from_ref(&api)
    );
    assert_eq!(
        pod_cgroups_of(&pod("identity/keystone-0"), None, &mount, &kubelet).unwrap(),
        [keystone]
    );
    assert_eq!(
        pod_cgroups_of(
            &pod("openstack/nova-api-0"),
            Some(&name("web")),
            &mount,
            &kubelet
        )
        .unwrap(),
        [api_web]
    );
    let mut openstack = namespace_cgroups(&name("openstack"), &mount, &kubelet).unwrap();
    openstack.sort();
    let mut expected = vec![api, conductor];
    expected.sort();
    assert_eq!(openstack, expected);

    let err = pod_cgroups_of(
        &pod("openstack/nova-api-0"),
        Some(&name("db")),
        &mount,
        &kubelet,
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("no container db") && err.contains("sidecar, web"),
        "{err}"
    );
    assert_eq!(
        pod_cgroups_of(&pod("openstack/glance-0"), None, &mount, &kubelet).unwrap(),
        Vec::<PathBuf>::new(),
        "a pod on another node"
    );
    assert_eq!(
        namespace_cgroups(&name("default"), &mount, &kubelet).unwrap(),
        Vec::<PathBuf>::new()
    );
    let elsewhere = KubeletPaths {
        pod_logs: node.0.join("nowhere"),
        ..node.kubelet()
    };
    let err = namespace_cgroups(&name("default"), &mount, &elsewhere)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("nowhere") && err.contains("kubernetes.pod_logs"),
        "{err}"
    );
}

#[test]
fn pod_identity_of_a_cgroup_path() {
    let node = Node::new();
    node.pod(
        "openstack",
        "nova-api-0",
        UID_A,
        &[("web", ID_1), ("sidecar", ID_2)],
    );
    node.pod("identity", "keystone-0", UID_C, &[("keystone", ID_2)]);
    let kubelet = node.kubelet();
    let systemd = format!(
        "/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{}.slice/cri-containerd-{ID_1}.scope",
        underscored(UID_A)
    );
    assert_eq!(
        pod_of_cgroup(&systemd, &kubelet),
        Some(PodIdentity {
            namespace: "openstack".into(),
            name: "nova-api-0".into(),
            uid: UID_A.into(),
            container: Some("web".into()),
        })
    );
    let cgroupfs = format!("/kubepods/besteffort/pod{UID_C}/{ID_2}");
    let found = pod_of_cgroup(&cgroupfs, &kubelet).unwrap();
    assert_eq!(
        (found.namespace.as_str(), found.name.as_str()),
        ("identity", "keystone-0")
    );
    assert_eq!(found.container.as_deref(), Some("keystone"));
    assert_eq!(
        pod_of_cgroup("/system.slice/nova-api.service", &kubelet),
        None
    );
    let unknown = format!("/kubepods/pod{UID_B}/{ID_1}");
    assert_eq!(
        pod_of_cgroup(&unknown, &kubelet),
        None,
        "a pod the kubelet has no directory for"
    );
}
