//! Kubernetes identity on the node, without the API server: which cgroups
//! a `pod:` or `namespace:` tag covers, and which pod and container a
//! process runs in.
//!
//! What the kubelet leaves on every node is enough. Its pod log
//! directories, `/var/log/pods/<namespace>_<name>_<uid>/<container>/`, map
//! a pod's namespace and name to its uid (namespaces and pod names are DNS
//! names, so they hold no `_`) and name its containers; its links
//! `/var/log/containers/<name>_<namespace>_<container>-<id>.log` give each
//! container's runtime id. The kubepods cgroup tree carries the uid, with
//! either cgroup driver: systemd's
//! `kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with
//! '-' as '_'>.slice/cri-containerd-<id>.scope` and cgroupfs's
//! `kubepods/burstable/pod<uid>/<id>`, the QoS level (`burstable`,
//! `besteffort`) absent for Guaranteed pods, which sit directly under
//! kubepods. Both directories are settings (`kubernetes:` in the
//! configuration), so a kubelet with another root, or a test, can move them.
//!
//! One configuration serves every node of a DaemonSet, so a pod or
//! namespace that has no running pod on this node resolves to no cgroup,
//! not to an error; the agent resolves such tags again every
//! [`RESCAN_INTERVAL`], as pods come and go.

use std::{
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
    str::FromStr,
};

use anyhow::{Result, bail};
use serde::Deserialize;

use super::{container_id_in_path, container_id_of, directories_below, list};
use crate::model::PodIdentity;

/// How often the agent resolves pod and namespace tags again.
pub const RESCAN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Where the kubelet writes what identifies pods on this node.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubeletPaths {
    /// The pod log root, `/var/log/pods`.
    pub pod_logs: PathBuf,
    /// The container log links, `/var/log/containers`.
    pub container_logs: PathBuf,
}

impl Default for KubeletPaths {
    fn default() -> Self {
        Self {
            pod_logs: "/var/log/pods".into(),
            container_logs: "/var/log/containers".into(),
        }
    }
}

/// A `pod:` tag's value, `NAMESPACE/NAME`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PodName {
    /// The namespace.
    pub namespace: DnsName,
    /// The pod's name.
    pub name: DnsName,
}

impl FromStr for PodName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let Some((namespace, name)) = text.split_once('/') else {
            return Err(format!("pod {text:?} must be NAMESPACE/NAME"));
        };
        Ok(Self {
            namespace: namespace.parse()?,
            name: name.parse()?,
        })
    }
}

impl TryFrom<String> for PodName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for PodName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

/// A namespace, pod or container name as Kubernetes allows them: lowercase
/// letters, digits, `-` and `.`, 1 to 253 characters, starting and ending
/// with a letter or digit. Refusing `_` and `/` is what keeps the kubelet's
/// directory names unambiguous.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DnsName(String);

impl DnsName {
    /// Kubernetes' limit (a DNS subdomain).
    const MAX_LEN: usize = 253;

    /// The name as written.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for DnsName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let allowed =
            |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.';
        let ends_ok = |b: Option<&u8>| b.is_some_and(|b| b.is_ascii_alphanumeric());
        let bytes = text.as_bytes();
        if bytes.is_empty()
            || bytes.len() > Self::MAX_LEN
            || !bytes.iter().copied().all(allowed)
            || !ends_ok(bytes.first())
            || !ends_ok(bytes.last())
        {
            return Err(format!(
                "{text:?} is not a Kubernetes name (lowercase letters, digits, '-' and '.', \
                 at most {} characters, beginning and ending with a letter or digit)",
                Self::MAX_LEN
            ));
        }
        Ok(Self(text.to_owned()))
    }
}

impl TryFrom<String> for DnsName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for DnsName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A pod as its log directory names it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct PodDir {
    namespace: String,
    name: String,
    uid: String,
    /// `/var/log/pods/<namespace>_<name>_<uid>`.
    path: PathBuf,
}

/// The pods the kubelet keeps log directories for.
fn pod_dirs(kubelet: &KubeletPaths) -> Result<Vec<PodDir>> {
    let entries = std::fs::read_dir(&kubelet.pod_logs).map_err(|e| {
        anyhow::anyhow!(
            "cannot read the kubelet's pod log directory {}: {e} (is this a Kubernetes node? \
             see kubernetes.pod_logs)",
            kubelet.pod_logs.display()
        )
    })?;
    let mut pods: Vec<PodDir> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name();
            let mut parts = file_name.to_str()?.split('_');
            let (namespace, name, uid) = (parts.next()?, parts.next()?, parts.next()?);
            (parts.next().is_none() && is_pod_uid(uid)).then(|| PodDir {
                namespace: namespace.to_owned(),
                name: name.to_owned(),
                uid: uid.to_owned(),
                path: entry.path(),
            })
        })
        .collect();
    pods.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(pods)
}

/// True for a pod uid: a UUID, or the 32 hex digits of a static pod's hash.
fn is_pod_uid(text: &str) -> bool {
    (32..=36).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The pod uid a kubepods cgroup directory's name carries:
/// `kubepods-<qos>-pod<uid>.slice` or `kubepods-pod<uid>.slice` (systemd,
/// with `_` for the uid's `-`), `pod<uid>` (cgroupfs).
fn pod_uid_of(name: &str) -> Option<String> {
    let stem = name.strip_suffix(".slice").unwrap_or(name);
    let (before, uid) = stem.rsplit_once("pod")?;
    let uid = uid.replace('_', "-");
    let placed = before.is_empty() || (before.starts_with("kubepods") && before.ends_with('-'));
    (placed && is_pod_uid(&uid)).then_some(uid)
}

/// The pod uid cgroup path `path` (relative or absolute, or relative to a
/// cgroup namespace: `/../../kubepods-pod<uid>.slice/…`) lies in: the
/// first element from a `kubepods` one on that names a pod.
fn pod_uid_in_path(path: &str) -> Option<String> {
    let elements: Vec<&str> = path.split('/').collect();
    let from = elements.iter().position(|e| e.starts_with("kubepods"))?;
    elements[from..].iter().find_map(|e| pod_uid_of(e))
}

/// Every pod cgroup below `mount` (those inside kubepods), with its uid.
fn pod_cgroups(mount: &Path) -> Vec<(String, PathBuf)> {
    let (found, _) = directories_below(mount, |name| pod_uid_of(name).is_some());
    found
        .into_iter()
        .filter_map(|path| {
            let relative = path.strip_prefix(mount).ok()?.to_str()?.to_owned();
            let uid = pod_uid_in_path(&relative)?;
            let own = path.file_name()?.to_str().and_then(pod_uid_of)?;
            (uid == own).then_some((uid, path))
        })
        .collect()
}

/// The cgroups of the running pods the kubelet knows in `namespace`; none
/// when it has no running pod on this node.
pub fn namespace_cgroups(
    namespace: &DnsName,
    mount: &Path,
    kubelet: &KubeletPaths,
) -> Result<Vec<PathBuf>> {
    let pods: Vec<PodDir> = pod_dirs(kubelet)?
        .into_iter()
        .filter(|pod| pod.namespace == namespace.as_str())
        .collect();
    Ok(cgroups_of(&pods, mount))
}

/// The cgroups of pod `pod`, or of its container `container`; none when
/// the pod does not run on this node. A container the pod does not have
/// is an error.
pub fn pod_cgroups_of(
    pod: &PodName,
    container: Option<&DnsName>,
    mount: &Path,
    kubelet: &KubeletPaths,
) -> Result<Vec<PathBuf>> {
    let pods: Vec<PodDir> = pod_dirs(kubelet)?
        .into_iter()
        .filter(|dir| dir.namespace == pod.namespace.as_str() && dir.name == pod.name.as_str())
        .collect();
    let cgroups = cgroups_of(&pods, mount);
    let Some(container) = container.filter(|_| !cgroups.is_empty()) else {
        return Ok(cgroups);
    };
    let names: BTreeSet<String> = pods.iter().flat_map(|p| container_names(&p.path)).collect();
    if !names.contains(container.as_str()) {
        bail!(
            "pod {pod} has no container {container} (its containers: {})",
            names.into_iter().collect::<Vec<_>>().join(", ")
        );
    }
    let ids = container_ids(kubelet, &pod.namespace, &pod.name, container.as_str());
    let found: Vec<PathBuf> = cgroups
        .iter()
        .flat_map(|pod_cgroup| {
            directories_below(pod_cgroup, |name| {
                container_id_of(name).is_some_and(|id| ids.iter().any(|want| want == id))
            })
            .0
        })
        .collect();
    if found.is_empty() {
        log::debug!(
            "container {container} of pod {pod} has no cgroup below {} ({} in {} name it)",
            list(&cgroups),
            count(ids.len(), "container id", "container ids"),
            kubelet.container_logs.display()
        );
    }
    Ok(found)
}

/// The existing cgroups of `pods`.
fn cgroups_of(pods: &[PodDir], mount: &Path) -> Vec<PathBuf> {
    let by_uid = pod_cgroups(mount);
    by_uid
        .into_iter()
        .filter(|(uid, _)| pods.iter().any(|pod| &pod.uid == uid))
        .map(|(_, path)| path)
        .collect()
}

/// The container names in a pod log directory (one subdirectory each).
fn container_names(pod_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(pod_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| entry.file_name().into_string().ok())
        .collect()
}

/// A container log link's name taken apart:
/// `<pod>_<namespace>_<container>-<64 hex id>.log`.
struct ContainerLog<'a> {
    pod: &'a str,
    namespace: &'a str,
    container: &'a str,
    id: &'a str,
}

impl<'a> ContainerLog<'a> {
    fn parse(file_name: &'a str) -> Option<Self> {
        let stem = file_name.strip_suffix(".log")?;
        let (rest, id) = stem.rsplit_once('-')?;
        container_id_of(id)?;
        let mut parts = rest.split('_');
        let log = Self {
            pod: parts.next()?,
            namespace: parts.next()?,
            container: parts.next()?,
            id,
        };
        parts.next().is_none().then_some(log)
    }
}

/// The runtime ids the kubelet's links give container `container` of pod
/// `namespace/pod` (one per run; restarts add more).
fn container_ids(
    kubelet: &KubeletPaths,
    namespace: &DnsName,
    pod: &DnsName,
    container: &str,
) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(&kubelet.container_logs) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file_name = entry.file_name().into_string().ok()?;
            let log = ContainerLog::parse(&file_name)?;
            (log.pod == pod.as_str()
                && log.namespace == namespace.as_str()
                && log.container == container)
                .then(|| log.id.to_owned())
        })
        .collect()
}

/// The pod and container of cgroup path `path` (as `/proc/PID/cgroup`
/// gives it), when it lies in a pod the kubelet knows.
pub fn pod_of_cgroup(path: &str, kubelet: &KubeletPaths) -> Option<PodIdentity> {
    let uid = pod_uid_in_path(path)?;
    let pod = pod_dirs(kubelet)
        .ok()?
        .into_iter()
        .find(|pod| pod.uid == uid)?;
    let container = container_id_in_path(path).and_then(|id| container_name(kubelet, &pod, id));
    let container = container.or_else(|| match container_names(&pod.path).as_slice() {
        [only] => Some(only.clone()),
        _ => None,
    });
    Some(PodIdentity {
        namespace: pod.namespace,
        name: pod.name,
        uid: pod.uid,
        container,
    })
}

/// The name of the container of `pod` whose runtime id is `id`.
fn container_name(kubelet: &KubeletPaths, pod: &PodDir, id: &str) -> Option<String> {
    let entries = std::fs::read_dir(&kubelet.container_logs).ok()?;
    entries.filter_map(Result::ok).find_map(|entry| {
        let file_name = entry.file_name().into_string().ok()?;
        let log = ContainerLog::parse(&file_name)?;
        (log.id == id && log.pod == pod.name && log.namespace == pod.namespace)
            .then(|| log.container.to_owned())
    })
}

/// The pod and container process `pid` runs in, from any of its cgroup
/// memberships (`/proc/PID/cgroup`); `None` outside pods.
pub fn pod_of_process(pid: u32, kubelet: &KubeletPaths) -> Option<PodIdentity> {
    let process = procfs::process::Process::new(i32::try_from(pid).ok()?).ok()?;
    let mut memberships = process.cgroups().ok()?.0;
    memberships.sort_by_key(|membership| membership.hierarchy != 0);
    memberships
        .iter()
        .find_map(|membership| pod_of_cgroup(&membership.pathname, kubelet))
}

/// `n` and the noun, singular or plural.
fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

#[cfg(test)]
mod tests;
