//! The agent's configuration: the YAML file merged with command-line flags,
//! validated into what the agent runs with.
//!
//! ```yaml
//! signal: SIGUSR2                  # the trigger signal
//! report_dir: /var/lib/gmr/reports # where report files go
//! formats: [text, json]            # files written per report (text always)
//! target_stderr: true              # also write each report to the target's stderr
//! min_interval_seconds: 5          # at most one report per process per interval
//! retention:                       # per tag directory; oldest reports go first
//!   max_reports: 100
//!   max_bytes: 104857600
//! tags:
//!   - cgroup: system.slice/mogan-api.service   # absolute, or relative to the cgroup2 mount
//!     name: mogan-api                          # optional; default: last path element
//!     config_files: [/etc/mogan/api-paste.ini] # more files for the Configuration section
//!     file_trigger: true                       # default true: touching the trigger file reports
//!     trigger_file: /run/gmr/mogan-api.trigger # default /run/gmr/<name>.trigger
//!     trigger_group: adm                       # group allowed to touch it (mode 0660)
//!     sections:                                # custom sections, in this order
//!       - title: Open Files
//!         builtin: open_files                  # open_files, memory_maps, limits, cgroup, namespaces
//!       - title: Paste Pipeline
//!         file: /etc/mogan/api-paste.ini       # as the service sees the path
//!       - title: Agents
//!         command: [mogan-status, --pid, "{pid}"]
//!         timeout_seconds: 5                   # default 10
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::Deserialize;

use crate::{
    cgroup::{self, Cgroup},
    sections::custom::{Builtin, CustomSection, CustomSource},
    signal,
    view::Format,
};

/// Default location of the configuration file; a missing default is fine.
pub const DEFAULT_CONFIG: &str = "/etc/gmr/agent.yaml";
/// Default report directory.
pub const DEFAULT_REPORT_DIR: &str = "/var/lib/gmr/reports";

/// The configuration file as written.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    signal: Option<String>,
    report_dir: Option<PathBuf>,
    target_stderr: Option<bool>,
    formats: Option<Vec<String>>,
    min_interval_seconds: Option<f64>,
    retention: Option<Retention>,
    #[serde(default)]
    tags: Vec<FileTag>,
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

/// Default minimum time between two reports on one process.
const DEFAULT_MIN_INTERVAL: f64 = 5.0;

/// One `tags:` entry.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileTag {
    cgroup: PathBuf,
    name: Option<String>,
    #[serde(default)]
    config_files: Vec<PathBuf>,
    #[serde(default)]
    sections: Vec<FileSection>,
    file_trigger: Option<bool>,
    trigger_file: Option<PathBuf>,
    trigger_group: Option<String>,
}

/// One `sections:` entry: a title and exactly one source.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSection {
    title: String,
    builtin: Option<Builtin>,
    file: Option<PathBuf>,
    command: Option<Vec<String>>,
    timeout_seconds: Option<f64>,
}

/// How long a custom command may run by default.
const DEFAULT_COMMAND_TIMEOUT: f64 = 10.0;

/// Settings given on the command line; they override the file.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    /// Configuration file (`None`: the default, which may be missing).
    pub config: Option<PathBuf>,
    /// Extra tags (cgroup paths).
    pub tags: Vec<PathBuf>,
    /// Report directory.
    pub report_dir: Option<PathBuf>,
    /// Trigger signal.
    pub signal: Option<String>,
    /// Disable writing reports to the target's stderr.
    pub no_target_stderr: bool,
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
    /// How many reports each tag directory keeps.
    pub retention: Retention,
    /// Tagged cgroups.
    pub tags: Vec<Tag>,
}

/// A tagged cgroup: its processes and their descendants' get reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// Name used for the report subdirectory and file names.
    pub name: String,
    /// The resolved cgroup.
    pub cgroup: Cgroup,
    /// More configuration files for the Configuration section.
    pub config_files: Vec<PathBuf>,
    /// Custom sections, in report order.
    pub sections: Vec<CustomSection>,
    /// The trigger file, unless disabled for this tag.
    pub trigger_file: Option<TriggerFile>,
}

/// A tag's trigger file: touching it asks for reports on the tag's processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerFile {
    /// Where it is.
    pub path: PathBuf,
    /// Group allowed to touch it, if any (the file is then mode 0660).
    pub group: Option<u32>,
}

impl AgentConfig {
    /// Reads the file (if any), applies `overrides`, and validates all.
    pub fn load(overrides: &Overrides) -> Result<Self> {
        let file = match &overrides.config {
            Some(path) => read_file(path)?,
            None if Path::new(DEFAULT_CONFIG).exists() => read_file(Path::new(DEFAULT_CONFIG))?,
            None => FileConfig::default(),
        };
        let signal_text = overrides
            .signal
            .clone()
            .or(file.signal)
            .unwrap_or_else(|| "SIGUSR2".into());
        let signal = signal::parse(&signal_text).map_err(anyhow::Error::msg)?;
        let mount = cgroup::cgroup2_mount()?;
        let mut tags = Vec::new();
        let from_flags = overrides.tags.iter().map(|path| FileTag {
            cgroup: path.clone(),
            name: None,
            config_files: Vec::new(),
            sections: Vec::new(),
            file_trigger: None,
            trigger_file: None,
            trigger_group: None,
        });
        for entry in file.tags.into_iter().chain(from_flags) {
            let cgroup = cgroup::resolve(&entry.cgroup, &mount)?;
            let name = match &entry.name {
                Some(name) => name.clone(),
                None => default_tag_name(&cgroup.path, &mount),
            };
            if tags.iter().any(|t: &Tag| t.cgroup.id == cgroup.id) {
                log::warn!(
                    "cgroup {} is tagged twice; keeping the first",
                    cgroup.path.display()
                );
                continue;
            }
            let trigger_file = trigger_file(&entry, &name)?;
            let sections = entry
                .sections
                .into_iter()
                .map(|s| custom_section(s, &name))
                .collect::<Result<_>>()?;
            tags.push(Tag {
                name,
                cgroup,
                config_files: entry.config_files,
                sections,
                trigger_file,
            });
        }
        let formats = parse_formats(file.formats.unwrap_or_default())?;
        Ok(Self {
            signal,
            report_dir: overrides
                .report_dir
                .clone()
                .or(file.report_dir)
                .unwrap_or_else(|| DEFAULT_REPORT_DIR.into()),
            target_stderr: !overrides.no_target_stderr && file.target_stderr.unwrap_or(true),
            formats,
            min_interval: interval(file.min_interval_seconds.unwrap_or(DEFAULT_MIN_INTERVAL))?,
            retention: file.retention.unwrap_or_default(),
            tags,
        })
    }

    /// The tag covering process `pid`: its cgroup v2 is a tagged cgroup or
    /// lies below one.
    pub fn tag_of_process(&self, pid: u32) -> Option<&Tag> {
        let membership = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
        let relative = membership.lines().find_map(|l| l.strip_prefix("0::"))?;
        let mount = cgroup::cgroup2_mount().ok()?;
        let path = mount.join(relative.trim_start_matches('/'));
        self.tags.iter().find(|t| path.starts_with(&t.cgroup.path))
    }

    /// The tag whose cgroup id is `id`.
    pub fn tag_by_cgroup_id(&self, id: u64) -> Option<&Tag> {
        self.tags.iter().find(|t| t.cgroup.id == id)
    }
}

/// The trigger file of a tag entry, unless `file_trigger: false`.
fn trigger_file(entry: &FileTag, tag: &str) -> Result<Option<TriggerFile>> {
    if entry.file_trigger == Some(false) {
        return Ok(None);
    }
    let path = entry
        .trigger_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/gmr/{tag}.trigger")));
    if !path.is_absolute() {
        bail!(
            "tag {tag}: trigger_file {} must be an absolute path",
            path.display()
        );
    }
    let group = match &entry.trigger_group {
        Some(name) => Some(group_id(name).with_context(|| format!("tag {tag}: trigger_group"))?),
        None => None,
    };
    Ok(Some(TriggerFile { path, group }))
}

/// A group's id, from its name or number.
fn group_id(name: &str) -> Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    let c_name = std::ffi::CString::new(name)?;
    // SAFETY: getgrnam reads a NUL-terminated name; the result is only read
    // here, before any other call could reuse its static buffer.
    let entry = unsafe { libc::getgrnam(c_name.as_ptr()) };
    if entry.is_null() {
        bail!("no group named {name:?} in the group database");
    }
    // SAFETY: non-null pointer from getgrnam.
    Ok(unsafe { (*entry).gr_gid })
}

/// Seconds as a duration, refusing negative or absurd values.
fn interval(seconds: f64) -> Result<std::time::Duration> {
    if !(0.0..=86_400.0).contains(&seconds) {
        bail!("min_interval_seconds must be between 0 and 86400, not {seconds}");
    }
    Ok(std::time::Duration::from_secs_f64(seconds))
}

/// Validates one custom section of tag `tag`.
fn custom_section(section: FileSection, tag: &str) -> Result<CustomSection> {
    let FileSection {
        title,
        builtin,
        file,
        command,
        timeout_seconds,
    } = section;
    let source = match (builtin, file, command) {
        (Some(builtin), None, None) => CustomSource::Builtin(builtin),
        (None, Some(path), None) if path.is_absolute() => CustomSource::File(path),
        (None, Some(path), None) => {
            bail!(
                "tag {tag}, section {title:?}: file {} must be an absolute path",
                path.display()
            )
        }
        (None, None, Some(argv)) if !argv.is_empty() => {
            let seconds = timeout_seconds.unwrap_or(DEFAULT_COMMAND_TIMEOUT);
            if !(seconds > 0.0 && seconds <= 600.0) {
                bail!(
                    "tag {tag}, section {title:?}: timeout_seconds must be in (0, 600], not {seconds}"
                );
            }
            CustomSource::Command {
                argv,
                timeout: std::time::Duration::from_secs_f64(seconds),
            }
        }
        _ => bail!(
            "tag {tag}, section {title:?}: give exactly one of builtin, file or a non-empty command"
        ),
    };
    if timeout_seconds.is_some() && !matches!(source, CustomSource::Command { .. }) {
        bail!("tag {tag}, section {title:?}: timeout_seconds only applies to a command");
    }
    Ok(CustomSection { title, source })
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

/// Parses a configuration file; errors name the file, line and column.
fn read_file(path: &Path) -> Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read configuration file {}", path.display()))?;
    if text.trim().is_empty() {
        return Ok(FileConfig::default());
    }
    serde_norway::from_str(&text).map_err(|e| match e.location() {
        Some(at) => anyhow::anyhow!("{}:{}:{}: {e}", path.display(), at.line(), at.column()),
        None => anyhow::anyhow!("{}: {e}", path.display()),
    })
}

/// The last path element, or `root` for the cgroup2 root itself.
fn default_tag_name(path: &Path, mount: &Path) -> String {
    if path == mount {
        return "root".into();
    }
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "root".into())
}

/// Fails with a clear message when no tag is configured.
pub fn require_tags(config: &AgentConfig) -> Result<()> {
    if config.tags.is_empty() {
        bail!("no cgroup is tagged: pass --tag PATH or list tags in {DEFAULT_CONFIG}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(text: &str) -> (tempdir::Dir, PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("agent.yaml");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    mod tempdir {
        /// A scratch directory removed on drop.
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Self {
                static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
                let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let path =
                    std::env::temp_dir().join(format!("gmr-config-{}-{n}", std::process::id()));
                std::fs::create_dir_all(&path).unwrap();
                Self(path)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn load_file(text: &str) -> Result<AgentConfig> {
        let (_dir, path) = write(text);
        AgentConfig::load(&Overrides {
            config: Some(path),
            ..Default::default()
        })
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_line_and_column() {
        if cgroup::cgroup2_mount().is_err() {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        }
        let err = load_file("signal: SIGUSR2\nreport_dirr: /tmp\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(":2:1:") && err.contains("report_dirr"),
            "{err}"
        );
        let err = load_file("target_stderr: maybe\n").unwrap_err().to_string();
        assert!(err.contains(":1:"), "{err}");
        let err = load_file("signal: SIGBOGUS\n").unwrap_err().to_string();
        assert!(err.contains("SIGBOGUS"), "{err}");
        let err = load_file("tags:\n  - cgroup: /nonexistent/gmr\n").unwrap_err();
        assert!(format!("{err:#}").contains("/nonexistent/gmr"), "{err:#}");
    }

    #[test]
    fn file_and_flags_merge() {
        let Ok(mount) = cgroup::cgroup2_mount() else {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        };
        let text = format!(
            "signal: USR1\nreport_dir: /tmp/r\ntags:\n  - cgroup: {}\n    name: everything\n",
            mount.display()
        );
        let (_dir, path) = write(&text);
        let config = AgentConfig::load(&Overrides {
            config: Some(path),
            signal: Some("SIGURG".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(config.signal, 23);
        assert_eq!(config.report_dir, PathBuf::from("/tmp/r"));
        assert_eq!(config.tags.len(), 1);
        assert_eq!(config.tags[0].name, "everything");
        assert!(config.target_stderr);
    }

    #[test]
    fn custom_sections_and_formats_are_validated() {
        let Ok(mount) = cgroup::cgroup2_mount() else {
            eprintln!("SKIP: no cgroup2 mount");
            return;
        };
        let head = format!(
            "formats: [json]\ntags:\n  - cgroup: {}\n    sections:\n",
            mount.display()
        );
        let good = format!(
            "{head}      - title: Files\n        builtin: open_files\n      - title: Paste\n        file: /etc/paste.ini\n      - title: Ps\n        command: [ps, -p, \"{{pid}}\"]\n        timeout_seconds: 2\n"
        );
        let config = load_file(&good).unwrap();
        assert_eq!(config.formats, [Format::Text, Format::Json]);
        let sections = &config.tags[0].sections;
        assert_eq!(
            sections[0].source,
            CustomSource::Builtin(Builtin::OpenFiles)
        );
        assert_eq!(
            sections[1].source,
            CustomSource::File("/etc/paste.ini".into())
        );
        assert!(
            matches!(&sections[2].source, CustomSource::Command { timeout, .. } if timeout.as_secs() == 2)
        );

        let both =
            format!("{head}      - title: X\n        builtin: limits\n        file: /etc/x\n");
        assert!(
            load_file(&both)
                .unwrap_err()
                .to_string()
                .contains("exactly one")
        );
        let unknown = format!("{head}      - title: X\n        builtin: bogus\n");
        let err = load_file(&unknown).unwrap_err().to_string();
        assert!(err.contains("bogus") && err.contains("open_files"), "{err}");
        let relative = format!("{head}      - title: X\n        file: etc/x\n");
        assert!(
            load_file(&relative)
                .unwrap_err()
                .to_string()
                .contains("absolute")
        );
        assert!(
            load_file("formats: [pdf]\n")
                .unwrap_err()
                .to_string()
                .contains("pdf")
        );
    }

    #[test]
    fn missing_explicit_file_is_an_error() {
        let err = AgentConfig::load(&Overrides {
            config: Some("/nonexistent/agent.yaml".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/agent.yaml"), "{err}");
    }
}
