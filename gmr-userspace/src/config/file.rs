//! The configuration file as written: its YAML schema and parsing.
//!
//! Everything that can be checked without looking at the host — unknown
//! keys, wrong types, a tag naming no target or two, a malformed unit name
//! or container id — is checked while parsing, so the error carries the
//! file, line and column. Resolving targets and groups happens later, in
//! [`super::tag`].

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::Deserialize;

use crate::{
    sections::custom::Builtin,
    sink::otlp::OtlpFileConfig,
    targets::{
        ContainerId, Target, UnitName,
        kubernetes::{DnsName, KubeletPaths, PodName},
    },
};

/// The whole file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileConfig {
    pub signal: Option<String>,
    pub report_dir: Option<PathBuf>,
    pub target_stderr: Option<bool>,
    pub formats: Option<Vec<String>>,
    pub min_interval_seconds: Option<f64>,
    pub cache_idle_seconds: Option<f64>,
    pub max_stack_bytes: Option<u64>,
    pub retention: Option<Retention>,
    pub kubernetes: Option<KubeletPaths>,
    pub stdout: Option<StdoutFormat>,
    pub otlp: Option<OtlpFileConfig>,
    #[serde(default)]
    pub tags: Vec<FileTag>,
}

/// What `stdout:` writes on the agent's stdout. Only `json`: one document
/// per line is what log collectors split a stream by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StdoutFormat {
    /// Each report as one JSON line.
    Json,
}

/// How many reports a tag's directory keeps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Retention {
    /// Most reports kept (a report's text, JSON and YAML files count once).
    #[serde(default = "default_max_reports")]
    pub max_reports: usize,
    /// Most bytes kept.
    #[serde(default = "default_max_bytes")]
    pub max_bytes: u64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_reports: default_max_reports(),
            max_bytes: default_max_bytes(),
        }
    }
}

fn default_max_reports() -> usize {
    100
}

fn default_max_bytes() -> u64 {
    100 * 1024 * 1024
}

/// One `tags:` entry: what it covers and its settings.
#[derive(Debug, Deserialize)]
#[serde(try_from = "RawTag")]
pub(super) struct FileTag {
    pub target: Target,
    pub settings: TagSettings,
}

/// Which processes of a tag a touch of its trigger file reports on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TriggerScope {
    /// Every process in the tag's cgroup and below.
    #[default]
    All,
    /// Only the main process: for a systemd unit its `MainPID`, otherwise
    /// the longest-running process directly in the tag's cgroup.
    Main,
}

impl FileTag {
    /// A tag from a command-line flag: a target with default settings.
    pub fn from_target(target: Target) -> Self {
        Self {
            target,
            settings: TagSettings::default(),
        }
    }
}

/// A tag's settings besides its target.
#[derive(Debug, Default)]
pub(super) struct TagSettings {
    pub name: Option<String>,
    pub config_files: Vec<PathBuf>,
    pub sections: Vec<FileSection>,
    pub file_trigger: Option<bool>,
    pub signal_trigger: Option<bool>,
    pub trigger_file: Option<PathBuf>,
    pub trigger_group: Option<String>,
    pub trigger_scope: Option<TriggerScope>,
    pub freeze: bool,
}

/// A `tags:` entry as written, with its possible targets.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTag {
    cgroup: Option<PathBuf>,
    unit: Option<UnitName>,
    container: Option<ContainerField>,
    pod: Option<PodName>,
    namespace: Option<DnsName>,
    name: Option<String>,
    #[serde(default)]
    config_files: Vec<PathBuf>,
    #[serde(default)]
    sections: Vec<FileSection>,
    file_trigger: Option<bool>,
    signal_trigger: Option<bool>,
    trigger_file: Option<PathBuf>,
    trigger_group: Option<String>,
    trigger_scope: Option<TriggerScope>,
    #[serde(default)]
    freeze: bool,
}

impl TryFrom<RawTag> for FileTag {
    type Error = String;

    /// Requires exactly one of `cgroup`, `unit`, `container`, `pod` and
    /// `namespace`; `container` beside `pod` names a container of the pod.
    fn try_from(raw: RawTag) -> Result<Self, String> {
        let target = match (raw.cgroup, raw.unit, raw.container, raw.pod, raw.namespace) {
            (Some(path), None, None, None, None) => Target::Cgroup(path),
            (None, Some(unit), None, None, None) => Target::Unit(unit),
            (None, None, Some(ContainerField::Id(id)), None, None) => Target::Container(id),
            (None, None, Some(ContainerField::Name(name)), None, None) => {
                return Err(format!(
                    "container {name:?}: a container id is 12–64 hex digits; a container's \
                     name needs the pod it is in (pod: NAMESPACE/NAME)"
                ));
            }
            (None, None, container, Some(pod), None) => Target::Pod {
                pod,
                container: container.map(ContainerField::into_name),
            },
            (None, None, None, None, Some(namespace)) => Target::Namespace(namespace),
            _ => {
                return Err(
                    "a tag needs exactly one of cgroup, unit, container, pod or \
                            namespace (container beside pod names one of its containers)"
                        .into(),
                );
            }
        };
        Ok(Self {
            target,
            settings: TagSettings {
                name: raw.name,
                config_files: raw.config_files,
                sections: raw.sections,
                file_trigger: raw.file_trigger,
                signal_trigger: raw.signal_trigger,
                trigger_file: raw.trigger_file,
                trigger_group: raw.trigger_group,
                trigger_scope: raw.trigger_scope,
                freeze: raw.freeze,
            },
        })
    }
}

/// A tag's `container:`: a container id (12–64 hex digits), or beside
/// `pod:` a container's name in that pod.
#[derive(Debug, Deserialize)]
#[serde(try_from = "String")]
enum ContainerField {
    Id(ContainerId),
    Name(DnsName),
}

impl ContainerField {
    /// The value as a container's name (an id-shaped name is a name too).
    fn into_name(self) -> DnsName {
        match self {
            Self::Id(id) => id.as_str().parse().expect("hex digits are a valid name"),
            Self::Name(name) => name,
        }
    }
}

impl TryFrom<String> for ContainerField {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        match text.parse::<ContainerId>() {
            Ok(id) => Ok(Self::Id(id)),
            Err(not_id) => text.parse().map(Self::Name).map_err(|_| not_id),
        }
    }
}

/// One `sections:` entry: a title and exactly one source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FileSection {
    pub title: String,
    pub builtin: Option<Builtin>,
    pub file: Option<PathBuf>,
    pub command: Option<Vec<String>>,
    pub timeout_seconds: Option<f64>,
}

/// Reads and parses a configuration file; errors name the file, line and
/// column.
pub(super) fn read(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    // serde quotes the offending value, which may be a secret (a custom
    // section's command line), and the error goes to the log.
    parse(&text).map_err(|e| {
        let message = crate::mask::mask_quoted(&e.to_string());
        match e.location() {
            Some(at) => anyhow::anyhow!(
                "{}:{}:{}: {message}",
                path.display(),
                at.line(),
                at.column()
            ),
            None => anyhow::anyhow!("{}: {message}", path.display()),
        }
    })
}

/// Parses configuration text; an empty file is the default configuration.
pub(super) fn parse(text: &str) -> Result<FileConfig, serde_norway::Error> {
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_norway::from_str(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        let err = parse(text).unwrap_err();
        let at = err.location().expect("a location");
        format!("{}:{}: {err}", at.line(), at.column())
    }

    #[test]
    fn a_tag_names_exactly_one_target() {
        let config = parse(
            "tags:\n  - unit: nova-api.service\n  - container: 3f2a7c9e1b4d\n  - cgroup: a/b\n",
        )
        .unwrap();
        let targets: Vec<String> = config.tags.iter().map(|t| t.target.to_string()).collect();
        assert_eq!(
            targets,
            [
                "unit nova-api.service",
                "container 3f2a7c9e1b4d",
                "cgroup a/b"
            ]
        );
        for text in [
            "tags:\n  - name: x\n",
            "tags:\n  - unit: a.service\n    cgroup: a\n",
            "tags:\n  - unit: a.service\n    container: 3f2a7c9e1b4d\n",
        ] {
            let err = error(text);
            assert!(
                err.starts_with("2:")
                    && err.contains("exactly one of cgroup, unit, container, pod or namespace"),
                "{text}: {err}"
            );
        }
    }

    #[test]
    fn pod_and_namespace_tags() {
        let config = parse(
            "tags:\n  - pod: openstack/nova-api-0\n  - pod: openstack/nova-api-0\n    container: web\n  - namespace: identity\n",
        )
        .unwrap();
        let targets: Vec<String> = config.tags.iter().map(|t| t.target.to_string()).collect();
        assert_eq!(
            targets,
            [
                "pod openstack/nova-api-0",
                "container web of pod openstack/nova-api-0",
                "namespace identity"
            ]
        );
        let err = error("tags:\n  - pod: nova-api-0\n");
        assert!(err.contains("NAMESPACE/NAME"), "{err}");
        let err = error("tags:\n  - namespace: Identity\n");
        assert!(
            err.starts_with("2:5:") && err.contains("not a Kubernetes name"),
            "{err}"
        );
    }

    #[test]
    fn pipeline_sinks_name_their_bad_field() {
        let config = parse("stdout: json\notlp:\n  endpoint: http://127.0.0.1:4318\n").unwrap();
        assert_eq!(config.stdout, Some(StdoutFormat::Json));
        assert!(config.otlp.is_some());
        let err = error("stdout: text\n");
        assert!(
            err.starts_with("1:") && err.contains("stdout") && err.contains("json"),
            "{err}"
        );
        let err = error("otlp:\n  endpoint: http://h\n  header: {a: b}\n");
        assert!(
            err.starts_with("3:") && err.contains("otlp") && err.contains("header"),
            "{err}"
        );
        let err = error("otlp:\n  headers: {a: b}\n");
        assert!(err.contains("otlp") && err.contains("endpoint"), "{err}");
    }

    #[test]
    fn bad_unit_names_and_container_ids_point_at_their_tag() {
        let err = error("tags:\n  - unit: multi-user.target\n");
        assert!(
            err.starts_with("2:5:") && err.contains("no cgroup"),
            "{err}"
        );
        let err = error("tags:\n  - unit: a.service\n  - name: x\n    container: ABC_\n");
        assert!(
            err.starts_with("3:5:") && err.contains("hex digits"),
            "{err}"
        );
        let err = error("tags:\n  - unit: a.service\n  - name: x\n    container: abc\n");
        assert!(
            err.contains("\"abc\"") && err.contains("hex digits") && err.contains("pod:"),
            "{err}"
        );
        let err = error("tags:\n  - unit: a.service\n    units: b.service\n");
        assert!(err.starts_with("3:") && err.contains("units"), "{err}");
    }
}
