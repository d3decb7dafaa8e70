//! The agent's configuration: the YAML file merged with command-line flags,
//! validated into what the agent runs with.
//!
//! [`file`] is the file's schema, [`tag`] turns each tag entry or flag into
//! a resolved [`Tag`]. `dist/agent.yaml` documents every key; in short:
//!
//! ```yaml
//! signal: SIGUSR2                  # the trigger signal
//! report_dir: /var/lib/gmr/reports # where report files go
//! formats: [text, json]            # files written per report (text always)
//! target_stderr: true              # also write each report to the target's stderr
//! min_interval_seconds: 5          # at most one report per process per interval
//! cache_idle_seconds: 60           # parsed debug info and symbols kept while reports come
//! max_stack_bytes: 8388608         # most user stack copied per thread (32 KiB to 64 MiB)
//! retention:                       # per tag directory; oldest reports go first
//!   max_reports: 100
//!   max_bytes: 104857600
//! stdout: json                     # also each report as one JSON line on stdout
//! otlp:                            # also each report as an OTLP/HTTP log record
//!   endpoint: http://127.0.0.1:4318  # /v1/logs added when no path is given
//!   headers: {x-api-key: "…"}        # never logged
//!   timeout_seconds: 10              # one request, connect included
//!   max_queue_reports: 64            # reports waiting while the collector is down
//!   max_queue_bytes: 16777216        # the oldest waiting report goes first
//! tags:
//!   - cgroup: system.slice/mogan-api.service   # absolute, or relative to the cgroup2 mount;
//!                                              # or unit: mogan-api.service,
//!                                              # or container: <id or 12+ digit prefix>
//!     name: mogan-api                          # optional; default: the unit, container-<id12>,
//!                                              # or the cgroup's last path element
//!     config_files: [/etc/mogan/api-paste.ini] # more files for the Configuration section
//!     file_trigger: true                       # default true: touching the trigger file reports
//!     trigger_file: /run/gmr/mogan-api.trigger # default /run/gmr/<name>.trigger
//!     trigger_group: adm                       # group allowed to touch it (mode 0660)
//!     trigger_scope: all                       # all: every process of the tag; main: the main one
//!     freeze: false                            # true: freeze the cgroup for the capture (exact registers)
//!     sections:                                # custom sections, in this order
//!       - title: Open Files
//!         builtin: open_files                  # open_files, memory_maps, limits, cgroup, namespaces
//!       - title: Paste Pipeline
//!         file: /etc/mogan/api-paste.ini       # as the service sees the path
//!       - title: Agents
//!         command: [mogan-status, --pid, "{pid}"]
//!         timeout_seconds: 5                   # default 10
//! ```

mod file;
mod tag;

use std::path::{Path, PathBuf};

use anyhow::{Result, anyhow, bail};

use self::file::{FileConfig, FileTag};
pub use self::{
    file::{Retention, StdoutFormat, TriggerScope},
    tag::{Tag, TriggerFile, group_id},
};
use crate::{
    capture::StackCap,
    safety::signal,
    sink::otlp::OtlpSettings,
    targets::cgroup,
    targets::{ContainerId, Target, UnitName, kubernetes::KubeletPaths},
    view::Format,
};

/// Default location of the configuration file; a missing default is fine.
pub const DEFAULT_CONFIG: &str = "/etc/gmr/agent.yaml";
/// Default report directory.
pub const DEFAULT_REPORT_DIR: &str = "/var/lib/gmr/reports";

/// Default minimum time between two reports on one process.
const DEFAULT_MIN_INTERVAL: f64 = 5.0;
/// Default `cache_idle_seconds`: how long parsed debug info outlives the
/// last report.
const DEFAULT_CACHE_IDLE: f64 = 60.0;

/// Settings given on the command line; they override the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Configuration file (`None`: the default, which may be missing).
    pub config: Option<PathBuf>,
    /// Extra tags (cgroup paths).
    pub tags: Vec<PathBuf>,
    /// Extra tags by systemd unit.
    pub tag_units: Vec<UnitName>,
    /// Extra tags by container id or id prefix.
    pub tag_containers: Vec<ContainerId>,
    /// Report directory.
    pub report_dir: Option<PathBuf>,
    /// Trigger signal.
    pub signal: Option<String>,
    /// Disable writing reports to the target's stderr.
    pub no_target_stderr: bool,
    /// Most user-stack bytes copied per thread.
    pub max_stack_bytes: Option<u64>,
}

impl Overrides {
    /// The tags given by flags, each with the flag that gave it.
    fn tag_flags(&self) -> impl Iterator<Item = (String, Target)> + '_ {
        let paths = self.tags.iter().map(|path| {
            (
                format!("--tag {}", path.display()),
                Target::Cgroup(path.clone()),
            )
        });
        let units = self
            .tag_units
            .iter()
            .map(|unit| (format!("--tag-unit {unit}"), Target::Unit(unit.clone())));
        let containers = self.tag_containers.iter().map(|id| {
            (
                format!("--tag-container {id}"),
                Target::Container(id.clone()),
            )
        });
        paths.chain(units).chain(containers)
    }
}

/// A validated configuration.
#[derive(Clone, Debug)]
pub struct AgentConfig {
    /// Trigger signal number.
    pub signal: u32,
    /// Report directory.
    pub report_dir: PathBuf,
    /// Whether reports also go to the target's stderr.
    pub target_stderr: bool,
    /// Report files written per report (text first, always).
    pub formats: Vec<Format>,
    /// Least time between two reports on one process.
    pub min_interval: std::time::Duration,
    /// How long the report caches (parsed debug info, kernel symbols,
    /// package indexes) are kept after the last report.
    pub cache_idle: std::time::Duration,
    /// How many reports each tag directory keeps.
    pub retention: Retention,
    /// Whether each report is also written to stdout as one JSON line.
    pub stdout_json: bool,
    /// Where each report is also sent as an OTLP log record, if anywhere.
    pub otlp: Option<OtlpSettings>,
    /// Most user stack copied per thread (`max_stack_bytes`).
    pub stack_cap: StackCap,
    /// Where the kubelet's pod and container log directories are
    /// (`kubernetes:`), for pod tags and reports' pod identity.
    pub kubelet: KubeletPaths,
    /// Tagged cgroups.
    pub tags: Vec<Tag>,
}

impl AgentConfig {
    /// Reads the file (if any), applies `overrides`, and validates all. A
    /// tag that cannot be resolved is an error naming its file entry
    /// (`FILE: tags[N]`) or its flag.
    pub fn load(overrides: &Overrides) -> Result<Self> {
        let path = match &overrides.config {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(DEFAULT_CONFIG)).filter(|p| p.exists()),
        };
        let file = match &path {
            Some(path) => file::read(path)?,
            None => FileConfig::default(),
        };
        let signal_text = overrides
            .signal
            .clone()
            .or(file.signal)
            .unwrap_or_else(|| "SIGUSR2".into());
        let signal = signal::parse(&signal_text).map_err(anyhow::Error::msg)?;
        let mount = cgroup::cgroup2_mount()?;
        let shown = path.as_deref().map(Path::display);
        let from_file = file.tags.into_iter().enumerate().map(|(index, entry)| {
            let file = shown.as_ref().map(ToString::to_string).unwrap_or_default();
            (format!("{file}: tags[{index}]"), entry)
        });
        let from_flags = overrides
            .tag_flags()
            .map(|(flag, target)| (flag, FileTag::from_target(target)));
        let kubelet = file.kubernetes.unwrap_or_default();
        let mut tags: Vec<Tag> = Vec::new();
        for (origin, entry) in from_file.chain(from_flags) {
            let mut tag =
                tag::build(entry, &mount, &kubelet).map_err(|e| anyhow!("{origin}: {e:#}"))?;
            keep_untagged(&tags, &mut tag.cgroups);
            if !tag.cgroups.is_empty() || tag.target.follows_pods() {
                tags.push(tag);
            }
        }
        let formats = parse_formats(file.formats.unwrap_or_default())?;
        let otlp = file
            .otlp
            .map(OtlpSettings::try_from)
            .transpose()
            .map_err(|e| match &shown {
                Some(path) => anyhow!("{path}: {e}"),
                None => anyhow!("{e}"),
            })?;
        Ok(Self {
            signal,
            report_dir: overrides
                .report_dir
                .clone()
                .or(file.report_dir)
                .unwrap_or_else(|| DEFAULT_REPORT_DIR.into()),
            target_stderr: !overrides.no_target_stderr && file.target_stderr.unwrap_or(true),
            formats,
            min_interval: min_interval(file.min_interval_seconds)?,
            cache_idle: cache_idle(file.cache_idle_seconds)?,
            stack_cap: stack_cap(overrides.max_stack_bytes.or(file.max_stack_bytes))?,
            retention: file.retention.unwrap_or_default(),
            kubelet,
            stdout_json: file.stdout == Some(StdoutFormat::Json),
            otlp,
            tags,
        })
    }

    /// The tag covering process `pid`: its cgroup v2 is a tagged cgroup or
    /// lies below one.
    pub fn tag_of_process(&self, pid: u32) -> Option<&Tag> {
        let path = cgroup::cgroup_of_process(pid).ok()?;
        self.tags.iter().find(|t| t.covers(&path))
    }

    /// This configuration with its pod and namespace tags resolved again
    /// (pods come and go); `None` when no tag follows pods or none changed.
    pub fn with_pods_rescanned(&self) -> Result<Option<Self>> {
        if !self.tags.iter().any(|t| t.target.follows_pods()) {
            return Ok(None);
        }
        let mount = cgroup::cgroup2_mount()?;
        let mut tags: Vec<Tag> = Vec::with_capacity(self.tags.len());
        let mut changed = false;
        for tag in &self.tags {
            let mut tag = tag.clone();
            if tag.target.follows_pods() {
                let mut cgroups = tag
                    .target
                    .resolve(&mount, &self.kubelet)
                    .map_err(|e| anyhow!("tag {}: {e:#}", tag.name))?;
                keep_untagged(&tags, &mut cgroups);
                changed |= cgroups != tag.cgroups;
                tag.cgroups = cgroups;
            }
            tags.push(tag);
        }
        Ok(changed.then(|| Self {
            tags,
            ..self.clone()
        }))
    }

    /// The tag one of whose cgroups has id `id`.
    pub fn tag_by_cgroup_id(&self, id: u64) -> Option<&Tag> {
        self.tags
            .iter()
            .find(|t| t.cgroups.iter().any(|c| c.id == id))
    }
}

/// Drops from `cgroups` those `earlier` tags already cover: the kernel
/// maps each cgroup to one tag, the first.
fn keep_untagged(earlier: &[Tag], cgroups: &mut Vec<cgroup::Cgroup>) {
    cgroups.retain(|cgroup| {
        let taken = earlier
            .iter()
            .flat_map(|t| &t.cgroups)
            .any(|c| c.id == cgroup.id);
        if taken {
            log::warn!(
                "cgroup {} is tagged twice; keeping the first",
                cgroup.path.display()
            );
        }
        !taken
    });
}

/// `min_interval_seconds` (or its default) as a duration.
fn min_interval(seconds: Option<f64>) -> Result<std::time::Duration> {
    duration(
        "min_interval_seconds",
        seconds.unwrap_or(DEFAULT_MIN_INTERVAL),
    )
}

/// `cache_idle_seconds` (or its default) as a duration.
fn cache_idle(seconds: Option<f64>) -> Result<std::time::Duration> {
    duration("cache_idle_seconds", seconds.unwrap_or(DEFAULT_CACHE_IDLE))
}

/// `max_stack_bytes` (or its default) as a cap, refusing sizes outside
/// what the capture supports.
pub fn stack_cap(bytes: Option<u64>) -> Result<StackCap> {
    let Some(bytes) = bytes else {
        return Ok(StackCap::DEFAULT);
    };
    StackCap::from_bytes(bytes).ok_or_else(|| {
        anyhow!(
            "max_stack_bytes must be between {} and {} (32 KiB to 64 MiB), not {bytes}",
            StackCap::MIN_BYTES,
            StackCap::MAX_BYTES
        )
    })
}

/// Seconds of the setting `key` as a duration, refusing negative or absurd
/// values.
fn duration(key: &str, seconds: f64) -> Result<std::time::Duration> {
    if !(0.0..=86_400.0).contains(&seconds) {
        bail!("{key} must be between 0 and 86400, not {seconds}");
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// `[text, json]` → formats; text is always first and always written.
fn parse_formats(names: Vec<String>) -> Result<Vec<Format>> {
    let mut formats = vec![Format::Text];
    for name in names {
        let format: Format = name.parse().map_err(|e| anyhow::anyhow!("formats: {e}"))?;
        if !formats.contains(&format) {
            formats.push(format);
        }
    }
    Ok(formats)
}

/// Checks configuration file text as far as it can be without the host:
/// parsing (with the error's position), the signal, formats and interval.
/// Built only for the fuzz targets in `fuzz/` (`--cfg fuzzing`).
#[cfg(fuzzing)]
pub fn check_text_for_fuzzing(text: &str) -> Result<()> {
    let file = file::parse(text).map_err(|e| match e.location() {
        Some(at) => anyhow!("{}:{}: {e}", at.line(), at.column()),
        None => anyhow!("{e}"),
    })?;
    if let Some(text) = &file.signal {
        signal::parse(text).map_err(anyhow::Error::msg)?;
    }
    parse_formats(file.formats.unwrap_or_default())?;
    min_interval(file.min_interval_seconds)?;
    cache_idle(file.cache_idle_seconds)?;
    stack_cap(file.max_stack_bytes)?;
    if let Some(otlp) = file.otlp {
        OtlpSettings::try_from(otlp).map_err(anyhow::Error::msg)?;
    }
    for tag in &file.tags {
        let _ = tag.target.to_string();
    }
    Ok(())
}

/// Fails with a clear message when no tag is configured.
pub fn require_tags(config: &AgentConfig) -> Result<()> {
    if config.tags.is_empty() {
        bail!(
            "no cgroup is tagged: pass --tag PATH, --tag-unit UNIT or --tag-container ID, \
             or list tags in {DEFAULT_CONFIG}"
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests;
