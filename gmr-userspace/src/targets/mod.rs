//! What a tag names — a cgroup path, a systemd unit, a container, a
//! Kubernetes pod or namespace — and how each resolves to cgroup v2
//! directories: one, or a pod set for a namespace ([`kubernetes`]).
//!
//! Units and containers are found by name in the cgroup2 tree, so neither
//! systemd nor a container runtime has to be running or reachable from the
//! agent: systemd names a unit's cgroup after the unit
//! (`system.slice/nova-api.service`), and the common runtimes name a
//! container's cgroup after its id (`docker-<id>.scope`, `/docker/<id>`,
//! `libpod-<id>.scope`, `cri-containerd-<id>.scope`, `crio-<id>.scope`,
//! `/kubepods/…/<id>`). When systemd is running it is asked for the unit's
//! cgroup first, since it knows even units whose cgroup has an unusual place.
//! The search functions take the mount as a parameter so they can be tested
//! on a plain directory tree. The same naming tells which container a
//! process runs in, for its report's header ([`container_of_process`]).

pub mod cgroup;
pub mod kubernetes;

use std::{
    fmt,
    io::Read as _,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    str::FromStr,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use serde::Deserialize;

use self::{
    cgroup::Cgroup,
    kubernetes::{DnsName, KubeletPaths, PodName},
};

/// What one tag covers, before it is resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A cgroup v2 directory, absolute or relative to the cgroup2 mount.
    Cgroup(PathBuf),
    /// A systemd unit's cgroup.
    Unit(UnitName),
    /// A container's cgroup.
    Container(ContainerId),
    /// A Kubernetes pod's cgroup, or one of its containers'.
    Pod {
        /// `NAMESPACE/NAME`.
        pod: PodName,
        /// A container of the pod, by name.
        container: Option<DnsName>,
    },
    /// The cgroups of every pod of a Kubernetes namespace on this node.
    Namespace(DnsName),
}

impl Target {
    /// The cgroups this target names below `mount` now (pods come and go,
    /// so a pod or namespace is resolved again at each reload); the error
    /// says what was looked for and where.
    pub fn resolve(&self, mount: &Path, kubelet: &KubeletPaths) -> Result<Vec<Cgroup>> {
        let paths = match self {
            Self::Cgroup(path) => vec![path.clone()],
            Self::Unit(unit) => vec![unit_cgroup(unit, mount)?],
            Self::Container(id) => vec![find_container(mount, id)?],
            Self::Pod { pod, container } => {
                kubernetes::pod_cgroups_of(pod, container.as_ref(), mount, kubelet)?
            }
            Self::Namespace(namespace) => kubernetes::namespace_cgroups(namespace, mount, kubelet)?,
        };
        paths
            .iter()
            .map(|path| cgroup::resolve(path, mount))
            .collect()
    }

    /// True for the targets whose cgroups come and go with pods, resolved
    /// again every [`kubernetes::RESCAN_INTERVAL`].
    pub fn follows_pods(&self) -> bool {
        matches!(self, Self::Pod { .. } | Self::Namespace(_))
    }

    /// The tag name used when the configuration gives none: the cgroup's
    /// last path element (`root` for the mount itself), the unit name, or
    /// `container-` and the id's first 12 digits, the pod's name (with
    /// `-CONTAINER`), the namespace.
    pub fn default_name(&self, cgroup: Option<&Cgroup>, mount: &Path) -> String {
        match self {
            Self::Cgroup(_) if cgroup.is_none_or(|c| c.path == mount) => "root".into(),
            Self::Cgroup(_) => cgroup
                .and_then(|c| c.path.file_name())
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "root".into()),
            Self::Unit(unit) => unit.0.clone(),
            Self::Container(id) => format!("container-{}", &id.0[..ContainerId::MIN_LEN]),
            Self::Pod {
                pod,
                container: None,
            } => pod.name.to_string(),
            Self::Pod {
                pod,
                container: Some(container),
            } => format!("{}-{container}", pod.name),
            Self::Namespace(namespace) => namespace.to_string(),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cgroup(path) => write!(f, "cgroup {}", path.display()),
            Self::Unit(unit) => write!(f, "unit {unit}"),
            Self::Container(id) => write!(f, "container {id}"),
            Self::Pod {
                pod,
                container: None,
            } => write!(f, "pod {pod}"),
            Self::Pod {
                pod,
                container: Some(container),
            } => write!(f, "container {container} of pod {pod}"),
            Self::Namespace(namespace) => write!(f, "namespace {namespace}"),
        }
    }
}

/// Unit types that have a cgroup of their own.
const CGROUP_UNIT_TYPES: [&str; 6] = ["service", "scope", "slice", "socket", "mount", "swap"];
/// Unit types that never hold processes.
const CGROUPLESS_UNIT_TYPES: [&str; 5] = ["target", "timer", "path", "device", "automount"];
/// systemd's limit on a unit name's length.
const UNIT_NAME_MAX: usize = 255;

/// A validated systemd unit name that can own a cgroup, e.g.
/// `nova-api.service`, `getty@tty1.service`, `machine.slice`,
/// `session-3.scope`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct UnitName(String);

impl UnitName {
    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for UnitName {
    type Err = String;

    /// Checks the name as systemd would (its character set, one `@` at most,
    /// a known type suffix) and refuses units without a cgroup: targets,
    /// timers, paths, devices, automounts and templates.
    fn from_str(text: &str) -> Result<Self, String> {
        match unit_name_problem(text) {
            Some(problem) => Err(format!("unit {text:?}: {problem}")),
            None => Ok(Self(text.to_owned())),
        }
    }
}

/// What is wrong with `text` as the name of a unit that has a cgroup.
fn unit_name_problem(text: &str) -> Option<String> {
    if text.contains('/') {
        return Some("a path, not a unit name; tag paths with --tag or cgroup:".into());
    }
    if text.len() > UNIT_NAME_MAX {
        return Some(format!("longer than {UNIT_NAME_MAX} bytes"));
    }
    let Some((stem, suffix)) = text.rsplit_once('.') else {
        return Some("no type suffix (e.g. .service, .scope, .slice)".into());
    };
    if CGROUPLESS_UNIT_TYPES.contains(&suffix) {
        return Some(format!(
            ".{suffix} units have no cgroup; tag the service they start"
        ));
    }
    if !CGROUP_UNIT_TYPES.contains(&suffix) {
        return Some(format!("must end in .{}", CGROUP_UNIT_TYPES.join(", .")));
    }
    let valid_char = |c: char| c.is_ascii_alphanumeric() || ":-_.\\@".contains(c);
    if stem.is_empty() || !stem.chars().all(valid_char) {
        return Some("only letters, digits and \":-_.\\@\" may precede the suffix".into());
    }
    match stem.split_once('@') {
        Some(("", _)) => Some("nothing before '@'".into()),
        Some((_, instance)) if instance.contains('@') => Some("more than one '@'".into()),
        Some((prefix, "")) => Some(format!(
            "a template; name an instance, e.g. {prefix}@tty1.{suffix}"
        )),
        _ => None,
    }
}

impl TryFrom<String> for UnitName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for UnitName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A container id or a prefix of one: 12 to 64 lowercase hex digits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct ContainerId(String);

impl ContainerId {
    /// Shortest prefix accepted (the length `docker ps` shows).
    pub const MIN_LEN: usize = 12;
    /// Length of a full id.
    pub const FULL_LEN: usize = 64;

    /// The id or prefix, lowercase.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ContainerId {
    type Err = String;

    /// Accepts an id as `docker ps`/`podman ps`/`crictl ps` print it, in
    /// any case, or as Kubernetes prints it (`containerd://<id>`).
    fn from_str(text: &str) -> Result<Self, String> {
        let id = text.rsplit_once("://").map_or(text, |(_, id)| id);
        let id = id.to_ascii_lowercase();
        let hex = id.bytes().all(|b| b.is_ascii_hexdigit());
        if !hex || !(Self::MIN_LEN..=Self::FULL_LEN).contains(&id.len()) {
            return Err(format!(
                "container id {text:?} must be {}–{} hex digits (a full id, or a prefix of at least {})",
                Self::MIN_LEN,
                Self::FULL_LEN,
                Self::MIN_LEN
            ));
        }
        Ok(Self(id))
    }
}

impl TryFrom<String> for ContainerId {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How long `systemctl show` may take before the tree is searched instead.
const SYSTEMCTL_TIMEOUT: Duration = Duration::from_secs(3);

/// The cgroup directory of `unit`: systemd's answer when it runs and knows
/// the unit, else the one directory of that name below `mount`.
fn unit_cgroup(unit: &UnitName, mount: &Path) -> Result<PathBuf> {
    let asked = if Path::new("/run/systemd/system").is_dir() {
        match systemd_control_group(unit) {
            Some(relative) => {
                let path = mount.join(relative.trim_start_matches('/'));
                if path.is_dir() {
                    return Ok(path);
                }
                format!("systemd says {relative}, which does not exist below the cgroup2 mount")
            }
            None => "systemctl show named no cgroup for it".into(),
        }
    } else {
        "systemd is not running".into()
    };
    find_unit(mount, unit, &asked)
}

/// `systemctl show -p ControlGroup --value UNIT`, or `None` when systemctl
/// fails, is slow, or the unit has no cgroup (it is not running).
fn systemd_control_group(unit: &UnitName) -> Option<String> {
    let mut child = Command::new("systemctl")
        .args(["show", "-p", "ControlGroup", "--value", "--", unit.as_str()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < SYSTEMCTL_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20));
            }
            _ => {
                log::warn!(
                    "systemctl show {unit} did not answer in time; searching the cgroup tree"
                );
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let mut output = String::new();
    child.stdout.take()?.read_to_string(&mut output).ok()?;
    let group = output.trim();
    (status.success() && group.starts_with('/')).then(|| group.to_owned())
}

/// The one directory named exactly `unit` below `mount` (the root slice
/// `-.slice` is the mount itself); `systemd` says, for the error, what
/// asking systemd gave.
fn find_unit(mount: &Path, unit: &UnitName, systemd: &str) -> Result<PathBuf> {
    if unit.as_str() == "-.slice" {
        return Ok(mount.to_path_buf());
    }
    let (found, searched) = directories_below(mount, |name| name == unit.as_str());
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no cgroup named {unit} below {} ({searched} cgroups searched; {systemd}); \
             is the unit running?",
            mount.display()
        ),
        many => bail!(
            "{} cgroups are named {unit}; tag one by path instead: {}",
            many.len(),
            list(many)
        ),
    }
}

/// The one container cgroup below `mount` whose id starts with `id`. A
/// container's cgroup nested in another of the same id (a runtime's own
/// sub-cgroup) counts once, as the outer one.
fn find_container(mount: &Path, id: &ContainerId) -> Result<PathBuf> {
    let (mut found, searched) = directories_below(mount, |name| {
        container_id_of(name).is_some_and(|full| full.starts_with(id.as_str()))
    });
    let all = found.clone();
    found.retain(|path| {
        !all.iter().any(|outer| {
            outer != path
                && path.starts_with(outer)
                && container_id_at(outer) == container_id_at(path)
        })
    });
    match found.as_slice() {
        [one] => Ok(one.clone()),
        [] => bail!(
            "no container cgroup for id {id} below {} ({searched} cgroups searched; looked for \
             docker-<id>.scope, docker/<id>, libpod-<id>.scope, cri-containerd-<id>.scope, \
             crio-<id>.scope and kubepods/…/<id>); is the container running?",
            mount.display()
        ),
        many => bail!(
            "container id {id} is ambiguous, {} cgroups match; give more digits: {}",
            many.len(),
            list(many)
        ),
    }
}

/// The full id of the container process `pid` runs in, named by the
/// innermost container cgroup of any of its hierarchies (`/proc/PID/cgroup`);
/// `None` when no cgroup of it follows a runtime's naming.
///
/// The cgroup v2 line is read first. Every line counts because on a hybrid
/// host a runtime that manages v1 cgroups (podman with cgroupfs) may leave
/// the v2 membership unnamed.
pub fn container_of_process(pid: u32) -> Option<String> {
    let process = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
    let mut memberships = process.cgroups().ok()?.0;
    memberships.sort_by_key(|membership| membership.hierarchy != 0);
    memberships
        .iter()
        .find_map(|membership| container_id_in_path(&membership.pathname))
        .map(str::to_owned)
}

/// The full container id the innermost element of cgroup path `path` that
/// carries one names (a runtime's sub-cgroups, such as
/// `libpod-<id>.scope/container`, lie inside the container's).
fn container_id_in_path(path: &str) -> Option<&str> {
    path.rsplit('/').find_map(container_id_of)
}

/// The full container id a cgroup directory's name carries, by the
/// docker, podman, containerd and CRI-O conventions; `None` for other
/// directories, including conmon's (`libpod-conmon-<id>.scope`,
/// `crio-conmon-<id>.scope`), which hold the monitor, not the container.
fn container_id_of(name: &str) -> Option<&str> {
    const PREFIXES: [&str; 4] = ["docker-", "libpod-", "cri-containerd-", "crio-"];
    let unprefixed = PREFIXES
        .iter()
        .find_map(|prefix| name.strip_prefix(prefix))
        .unwrap_or(name);
    let id = unprefixed.strip_suffix(".scope").unwrap_or(unprefixed);
    let is_id = id.len() == ContainerId::FULL_LEN
        && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    is_id.then_some(id)
}

/// The full container id the last element of `path` carries, if any.
fn container_id_at(path: &Path) -> Option<&str> {
    container_id_of(path.file_name()?.to_str()?)
}

/// Every directory below `root` whose name satisfies `wanted`, sorted,
/// and how many directories were looked at. Directories that vanish or
/// cannot be read while walked are skipped: cgroups come and go.
fn directories_below(root: &Path, wanted: impl Fn(&str) -> bool) -> (Vec<PathBuf>, usize) {
    let mut found = Vec::new();
    let mut searched = 0;
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.filter_map(Result::ok) {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            searched += 1;
            let path = entry.path();
            if entry.file_name().to_str().is_some_and(&wanted) {
                found.push(path.clone());
            }
            pending.push(path);
        }
    }
    found.sort();
    (found, searched)
}

/// Paths as one comma-separated line.
fn list(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory tree standing in for the cgroup2 mount.
    struct Tree(PathBuf);

    impl Tree {
        fn new(dirs: &[&str]) -> Self {
            static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let root = std::env::temp_dir().join(format!("gmr-targets-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&root);
            for dir in dirs {
                std::fs::create_dir_all(root.join(dir)).unwrap();
            }
            Self(root)
        }

        fn at(&self, relative: &str) -> PathBuf {
            self.0.join(relative)
        }
    }

    impl Drop for Tree {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn unit(text: &str) -> UnitName {
        text.parse().unwrap()
    }

    fn container(text: &str) -> ContainerId {
        text.parse().unwrap()
    }

    const ID_A: &str = "3f2a7c9e1b4d5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8";
    const ID_B: &str = "3f2a7c9e1b4d0000000000000000000000000000000000000000000000000000";

    #[test]
    fn unit_names_are_validated() {
        for good in [
            "nova-api.service",
            "getty@tty1.service",
            "user@1000.service",
            "machine.slice",
            "session-3.scope",
            "systemd-journald.socket",
            "var-lib-nova.mount",
            "dev-disk-by\\x2duuid-1.swap",
            "-.slice",
        ] {
            assert!(good.parse::<UnitName>().is_ok(), "{good}");
        }
        for (bad, says) in [
            ("nova-api", "no type suffix"),
            ("system.slice/nova-api.service", "path"),
            ("multi-user.target", "no cgroup"),
            ("logrotate.timer", "no cgroup"),
            ("nova-api.daemon", "must end in .service"),
            ("getty@.service", "template"),
            ("@tty1.service", "before '@'"),
            ("a@b@c.service", "more than one"),
            ("nova api.service", "only letters"),
            (".service", "only letters"),
        ] {
            let err = bad.parse::<UnitName>().unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        let long = format!("{}.service", "a".repeat(UNIT_NAME_MAX));
        assert!(long.parse::<UnitName>().unwrap_err().contains("longer"));
    }

    #[test]
    fn container_ids_are_validated_and_normalized() {
        assert_eq!(container(&ID_A.to_uppercase()).as_str(), ID_A);
        assert_eq!(
            container(&format!("containerd://{ID_A}")).as_str(),
            ID_A,
            "as kubectl prints it"
        );
        assert_eq!(container(&ID_A[..12]).as_str(), &ID_A[..12]);
        for bad in [&ID_A[..11], "not-hex-at-all-xyz", &format!("{ID_A}0")] {
            let err = bad.parse::<ContainerId>().unwrap_err();
            assert!(err.contains("hex digits"), "{bad}: {err}");
        }
    }

    #[test]
    fn finds_units_anywhere_in_the_tree() {
        let tree = Tree::new(&[
            "system.slice/nova-api.service",
            "system.slice/system-getty.slice/getty@tty1.service",
            "user.slice/user-1000.slice/user@1000.service/app.slice/x.service",
            "user.slice/user-1000.slice/session-3.scope",
            "system.slice/nova-api.service.d",
        ]);
        for (name, expected) in [
            ("nova-api.service", "system.slice/nova-api.service"),
            (
                "getty@tty1.service",
                "system.slice/system-getty.slice/getty@tty1.service",
            ),
            (
                "x.service",
                "user.slice/user-1000.slice/user@1000.service/app.slice/x.service",
            ),
            ("user-1000.slice", "user.slice/user-1000.slice"),
            (
                "session-3.scope",
                "user.slice/user-1000.slice/session-3.scope",
            ),
        ] {
            assert_eq!(
                find_unit(&tree.0, &unit(name), "").unwrap(),
                tree.at(expected),
                "{name}"
            );
        }
        assert_eq!(find_unit(&tree.0, &unit("-.slice"), "").unwrap(), tree.0);
    }

    #[test]
    fn missing_or_repeated_units_are_errors_that_say_where() {
        let tree = Tree::new(&[
            "system.slice/nova-api.service",
            "machine.slice/machine-c1.scope/system.slice/nova-api.service",
            "system.slice/nova-conductor.service",
        ]);
        let err = find_unit(&tree.0, &unit("nova-compute.service"), "not asked")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nova-compute.service")
                && err.contains(&tree.0.display().to_string())
                && err.contains("cgroups searched; not asked"),
            "{err}"
        );
        let err = find_unit(&tree.0, &unit("nova-api.service"), "")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("2 cgroups")
                && err.contains(
                    &tree
                        .at("system.slice/nova-api.service")
                        .display()
                        .to_string()
                )
                && err.contains("machine-c1.scope/system.slice/nova-api.service"),
            "{err}"
        );
    }

    #[test]
    fn finds_containers_by_each_runtime_convention() {
        let ids: Vec<String> = (0..7).map(|n| format!("{n:x}{}", &ID_A[1..])).collect();
        let layouts = [
            format!("system.slice/docker-{}.scope", ids[0]),
            format!("docker/{}", ids[1]),
            format!("machine.slice/libpod-{}.scope", ids[2]),
            format!(
                "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice/cri-containerd-{}.scope",
                ids[3]
            ),
            format!("kubepods.slice/kubepods-pod2.slice/crio-{}.scope", ids[4]),
            format!("kubepods/besteffort/pod0a1b/{}", ids[5]),
            format!("libpod_parent/libpod-{}", ids[6]),
        ];
        let mut dirs: Vec<&str> = layouts.iter().map(String::as_str).collect();
        let conmon = format!("machine.slice/libpod-conmon-{}.scope", ids[2]);
        let inner = format!("machine.slice/libpod-{}.scope/container", ids[2]);
        dirs.extend([conmon.as_str(), inner.as_str()]);
        let tree = Tree::new(&dirs);
        for (id, layout) in ids.iter().zip(&layouts) {
            assert_eq!(
                find_container(&tree.0, &container(id)).unwrap(),
                tree.at(layout)
            );
            assert_eq!(
                find_container(&tree.0, &container(&id[..12])).unwrap(),
                tree.at(layout),
                "a 12-digit prefix"
            );
        }
    }

    #[test]
    fn container_ids_in_process_cgroup_paths() {
        for (path, expected) in [
            (format!("/libpod_parent/libpod-{ID_A}"), Some(ID_A)),
            (
                format!("/machine.slice/libpod-{ID_A}.scope/container"),
                Some(ID_A),
            ),
            (format!("/system.slice/docker-{ID_A}.scope"), Some(ID_A)),
            (format!("/docker/{ID_B}/{ID_A}"), Some(ID_A)),
            (format!("/kubepods/besteffort/pod0a1b/{ID_A}"), Some(ID_A)),
            (format!("/machine.slice/libpod-conmon-{ID_A}.scope"), None),
            ("/system.slice/nova-api.service".to_owned(), None),
            ("/".to_owned(), None),
        ] {
            assert_eq!(container_id_in_path(&path), expected, "{path}");
        }
    }

    #[test]
    fn container_nested_in_its_own_cgroup_counts_once_and_ambiguity_is_an_error() {
        // A different container started inside ID_A's (docker in docker).
        let inner = format!("{}{}", &ID_A[..12], "1".repeat(52));
        let tree = Tree::new(&[
            &format!("docker/{ID_A}/{ID_A}"),
            &format!("docker/{ID_A}/{inner}"),
            &format!("system.slice/docker-{ID_B}.scope"),
            &format!("system.slice/libpod-conmon-{ID_B}.scope"),
        ]);
        assert_eq!(
            find_container(&tree.0, &container(ID_A)).unwrap(),
            tree.at(&format!("docker/{ID_A}"))
        );
        assert_eq!(
            find_container(&tree.0, &container(&ID_B[..14])).unwrap(),
            tree.at(&format!("system.slice/docker-{ID_B}.scope")),
            "conmon's scope is not the container"
        );
        let err = find_container(&tree.0, &container(&ID_A[..12]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ambiguous, 3 cgroups")
                && err.contains(ID_A)
                && err.contains(&inner)
                && err.contains(ID_B),
            "{err}"
        );
        let err = find_container(&tree.0, &container(&"f".repeat(12)))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("ffffffffffff") && err.contains("docker-<id>.scope"),
            "{err}"
        );
    }

    #[test]
    fn default_names() {
        let mount = Path::new("/sys/fs/cgroup");
        let at = |path: &str| Cgroup {
            path: mount.join(path),
            id: 1,
        };
        let of = |target: Target, path| target.default_name(Some(&at(path)), mount);
        assert_eq!(
            of(
                Target::Cgroup("system.slice/a.service".into()),
                "system.slice/a.service"
            ),
            "a.service"
        );
        assert_eq!(of(Target::Cgroup("/sys/fs/cgroup".into()), ""), "root");
        assert_eq!(
            of(
                Target::Unit(unit("nova-api.service")),
                "system.slice/nova-api.service"
            ),
            "nova-api.service"
        );
        assert_eq!(
            of(Target::Container(container(ID_A)), "docker/x"),
            format!("container-{}", &ID_A[..12])
        );
    }

    #[test]
    fn resolves_a_real_unit_cgroup() {
        let Ok(mount) = cgroup::cgroup2_mount() else {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        };
        let name = format!("gmr-unit-test-{}.service", std::process::id());
        let path = mount.join(&name);
        if std::fs::create_dir(&path).is_err() {
            eprintln!("SKIP: cannot create a cgroup under {}", mount.display());
            return;
        }
        let kubelet = KubeletPaths::default();
        let resolved = Target::Unit(unit(&name)).resolve(&mount, &kubelet);
        let _ = std::fs::remove_dir(&path);
        let paths: Vec<PathBuf> = resolved.unwrap().into_iter().map(|c| c.path).collect();
        assert_eq!(paths, [path]);
        let err = Target::Unit(unit("gmr-no-such-unit.service"))
            .resolve(&mount, &kubelet)
            .unwrap_err()
            .to_string();
        assert!(err.contains("gmr-no-such-unit.service"), "{err}");
    }
}
