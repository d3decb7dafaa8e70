//! Agent configurations for tests, built field by field and written as the
//! YAML `gmr-agent run --config` reads, so no test spells YAML by hand.

use std::path::{Path, PathBuf};

use serde::Serialize;

/// An agent configuration file: the top-level keys a test sets; the rest
/// keep the agent's defaults.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AgentConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    signal: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    report_dir: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target_stderr: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    formats: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    min_interval_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cache_idle_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retention: Option<Retention>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<Tag>,
}

/// `retention:`: how many reports (and bytes) a tag directory keeps.
#[derive(Debug, Clone, Serialize)]
struct Retention {
    max_reports: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_bytes: Option<u64>,
}

impl AgentConfig {
    /// An empty configuration: the agent's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The usual one-service setup below the scratch dir `dir`: text and
    /// JSON reports under `dir/reports`, one tag `svc` on `cgroup` with its
    /// trigger file at `dir/svc.trigger`, and `min_interval_seconds: 0` as
    /// tests trigger in quick succession.
    pub fn service(dir: &Path, cgroup: &Path) -> Self {
        Self::new()
            .min_interval_seconds(0.0)
            .formats(&["text", "json"])
            .report_dir(&dir.join("reports"))
            .tag(
                Tag::cgroup(cgroup)
                    .name("svc")
                    .trigger_file(&dir.join("svc.trigger")),
            )
    }

    /// `signal:` the trigger signal's name.
    pub fn signal(mut self, name: &str) -> Self {
        self.signal = Some(name.into());
        self
    }

    /// `report_dir:` where reports are written.
    pub fn report_dir(mut self, dir: &Path) -> Self {
        self.report_dir = Some(dir.into());
        self
    }

    /// `target_stderr:` whether reports also go to the target's stderr.
    pub fn target_stderr(mut self, on: bool) -> Self {
        self.target_stderr = Some(on);
        self
    }

    /// `formats:` the report files' formats (`text`, `json`, `yaml`).
    pub fn formats(mut self, formats: &[&str]) -> Self {
        self.formats = Some(formats.iter().map(|f| f.to_string()).collect());
        self
    }

    /// `min_interval_seconds:` the least time between two reports on one process.
    pub fn min_interval_seconds(mut self, seconds: f64) -> Self {
        self.min_interval_seconds = Some(seconds);
        self
    }

    /// `cache_idle_seconds:` how long idle caches are kept.
    pub fn cache_idle_seconds(mut self, seconds: f64) -> Self {
        self.cache_idle_seconds = Some(seconds);
        self
    }

    /// `retention: {max_reports}`.
    pub fn max_reports(mut self, max_reports: usize) -> Self {
        self.retention = Some(Retention {
            max_reports,
            max_bytes: None,
        });
        self
    }

    /// `retention: {max_reports, max_bytes}`.
    pub fn retention(mut self, max_reports: usize, max_bytes: u64) -> Self {
        self.retention = Some(Retention {
            max_reports,
            max_bytes: Some(max_bytes),
        });
        self
    }

    /// Adds a `tags:` entry.
    pub fn tag(mut self, tag: Tag) -> Self {
        self.tags.push(tag);
        self
    }

    /// The configuration as YAML.
    pub fn to_yaml(&self) -> String {
        serde_norway::to_string(self).expect("an agent configuration serializes")
    }

    /// Writes the configuration to `dir/agent.yaml`; returns that path.
    #[track_caller]
    pub fn write(&self, dir: &Path) -> PathBuf {
        let path = dir.join("agent.yaml");
        std::fs::write(&path, self.to_yaml())
            .unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
    }
}

/// One `tags:` entry: a cgroup, unit or container and its settings.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Tag {
    #[serde(skip_serializing_if = "Option::is_none")]
    cgroup: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    unit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    container: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    config_files: Vec<PathBuf>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    sections: Vec<Section>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file_trigger: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_group: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trigger_scope: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    freeze: bool,
}

impl Tag {
    /// A tag on the cgroup at `path`.
    pub fn cgroup(path: &Path) -> Self {
        Self {
            cgroup: Some(path.into()),
            ..Self::default()
        }
    }

    /// A tag on the systemd unit `unit`.
    pub fn unit(unit: &str) -> Self {
        Self {
            unit: Some(unit.into()),
            ..Self::default()
        }
    }

    /// A tag on the container `id`.
    pub fn container(id: &str) -> Self {
        Self {
            container: Some(id.into()),
            ..Self::default()
        }
    }

    /// `name:` the tag's name (its report subdirectory).
    pub fn name(mut self, name: &str) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Adds to `config_files:`.
    pub fn config_file(mut self, path: &Path) -> Self {
        self.config_files.push(path.into());
        self
    }

    /// Adds a custom section to `sections:`.
    pub fn section(mut self, section: Section) -> Self {
        self.sections.push(section);
        self
    }

    /// `file_trigger:` whether the tag gets a trigger file at all.
    pub fn file_trigger(mut self, on: bool) -> Self {
        self.file_trigger = Some(on);
        self
    }

    /// `trigger_file:` where the tag's trigger file is.
    pub fn trigger_file(mut self, path: &Path) -> Self {
        self.trigger_file = Some(path.into());
        self
    }

    /// `trigger_group:` the group allowed to touch the trigger file.
    pub fn trigger_group(mut self, group: &str) -> Self {
        self.trigger_group = Some(group.into());
        self
    }

    /// `trigger_scope:` `all` or `main`.
    pub fn trigger_scope(mut self, scope: &str) -> Self {
        self.trigger_scope = Some(scope.into());
        self
    }

    /// `freeze: true`: the cgroup is frozen during capture.
    pub fn freeze(mut self) -> Self {
        self.freeze = true;
        self
    }
}

/// One custom section: a title and one source.
#[derive(Debug, Clone, Serialize)]
pub struct Section {
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    builtin: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timeout_seconds: Option<f64>,
}

impl Section {
    fn titled(title: &str) -> Self {
        Self {
            title: title.into(),
            builtin: None,
            file: None,
            command: None,
            timeout_seconds: None,
        }
    }

    /// A section filled by the agent's builtin `name`.
    pub fn builtin(title: &str, name: &str) -> Self {
        Self {
            builtin: Some(name.into()),
            ..Self::titled(title)
        }
    }

    /// A section holding the file at `path`.
    pub fn file(title: &str, path: &Path) -> Self {
        Self {
            file: Some(path.into()),
            ..Self::titled(title)
        }
    }

    /// A section holding a command's output.
    pub fn command(title: &str, argv: &[&str]) -> Self {
        Self {
            command: Some(argv.iter().map(|a| a.to_string()).collect()),
            ..Self::titled(title)
        }
    }

    /// `timeout_seconds:` how long the command may run.
    pub fn timeout_seconds(mut self, seconds: f64) -> Self {
        self.timeout_seconds = Some(seconds);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_yaml_the_agent_reads() {
        let yaml = AgentConfig::new()
            .min_interval_seconds(0.0)
            .formats(&["text", "json"])
            .report_dir(Path::new("/r"))
            .max_reports(20)
            .tag(
                Tag::cgroup(Path::new("/sys/fs/cgroup/x"))
                    .name("svc")
                    .trigger_file(Path::new("/r/svc.trigger"))
                    .section(Section::command("Uptime", &["uptime"]).timeout_seconds(2.0))
                    .freeze(),
            )
            .to_yaml();
        let parsed: serde_norway::Value = serde_norway::from_str(&yaml).unwrap();
        let expected: serde_norway::Value = serde_norway::from_str(
            "formats: [text, json]\nmin_interval_seconds: 0.0\nreport_dir: /r\n\
             retention: {max_reports: 20}\ntags:\n  - cgroup: /sys/fs/cgroup/x\n    name: svc\n\
             \x20   sections: [{title: Uptime, command: [uptime], timeout_seconds: 2.0}]\n\
             \x20   trigger_file: /r/svc.trigger\n    freeze: true\n",
        )
        .unwrap();
        assert_eq!(parsed, expected, "{yaml}");
    }
}
