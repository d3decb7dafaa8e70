//! Tags: a `tags:` entry or a flag, validated into the cgroups it covers,
//! its name, its trigger file and its custom sections.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};

use super::file::{FileSection, FileTag, TagSettings, TriggerScope};
use crate::{
    sections::custom::{CustomSection, CustomSource},
    targets::{
        Target,
        cgroup::{Cgroup, processes_below},
        kubernetes::KubeletPaths,
    },
};

/// A tag: the processes of its cgroups and their descendants get reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tag {
    /// Name used for the report subdirectory and file names.
    pub name: String,
    /// What the tag names, resolved again for pods as they come and go.
    pub target: Target,
    /// The resolved cgroups: one, or one per pod of a namespace (none
    /// while a pod or namespace tag has no running pod on this node).
    pub cgroups: Vec<Cgroup>,
    /// More configuration files for the Configuration section.
    pub config_files: Vec<PathBuf>,
    /// Custom sections, in report order.
    pub sections: Vec<CustomSection>,
    /// The trigger file, unless disabled for this tag.
    pub trigger_file: Option<TriggerFile>,
    /// Freeze the process's cgroup while its threads are captured.
    pub freeze: bool,
    /// The trigger signal asks for reports (the default); `false` leaves
    /// the signal to the service, for one whose handler gives it another
    /// meaning.
    pub signal_trigger: bool,
}

/// A tag's trigger file: touching it asks for reports on the tag's processes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerFile {
    /// Where it is.
    pub path: PathBuf,
    /// Group allowed to touch it, if any (the file is then mode 0660).
    pub group: Option<u32>,
    /// Which of the tag's processes a touch reports on.
    pub scope: TriggerScope,
}

impl Tag {
    /// True when cgroup directory `path` is one of the tag's or lies below one.
    pub fn covers(&self, path: &Path) -> bool {
        self.cgroups.iter().any(|c| path.starts_with(&c.path))
    }

    /// Every process in the tag's cgroups and below.
    pub fn processes(&self) -> Vec<u32> {
        let mut pids: Vec<u32> = self
            .cgroups
            .iter()
            .flat_map(|c| processes_below(&c.path))
            .collect();
        pids.sort_unstable();
        pids.dedup();
        pids
    }

    /// The tag's cgroups, as one line for messages.
    pub fn cgroups_text(&self) -> String {
        self.cgroups
            .iter()
            .map(|c| c.path.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// How long a custom command may run by default.
const DEFAULT_COMMAND_TIMEOUT: f64 = 10.0;

/// Resolves `entry`'s target below `mount` and validates its settings.
pub(super) fn build(entry: FileTag, mount: &Path, kubelet: &KubeletPaths) -> Result<Tag> {
    let FileTag { target, settings } = entry;
    let cgroups = target.resolve(mount, kubelet)?;
    let name = match &settings.name {
        Some(name) => name.clone(),
        None => target.default_name(cgroups.first(), mount),
    };
    if cgroups.is_empty() {
        log::info!(
            "{target} has no running pod on this node; looked for again every {:?}",
            crate::targets::kubernetes::RESCAN_INTERVAL
        );
    } else if !matches!(target, Target::Cgroup(_)) {
        let paths: Vec<String> = cgroups
            .iter()
            .map(|c| c.path.display().to_string())
            .collect();
        log::info!("{target} is cgroup {}", paths.join(", "));
    }
    let trigger_file = trigger_file(&settings, &name)?;
    let sections = custom_sections(settings.sections, &name)?;
    Ok(Tag {
        name,
        target,
        cgroups,
        config_files: settings.config_files,
        sections,
        trigger_file,
        freeze: settings.freeze,
        signal_trigger: settings.signal_trigger.unwrap_or(true),
    })
}

/// The trigger file of a tag, unless `file_trigger: false`.
fn trigger_file(settings: &TagSettings, tag: &str) -> Result<Option<TriggerFile>> {
    if settings.file_trigger == Some(false) {
        return Ok(None);
    }
    let path = settings
        .trigger_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("/run/gmr/{tag}.trigger")));
    if !path.is_absolute() {
        bail!(
            "tag {tag}: trigger_file {} must be an absolute path",
            path.display()
        );
    }
    let group = match &settings.trigger_group {
        Some(name) => Some(group_id(name).with_context(|| format!("tag {tag}: trigger_group"))?),
        None => None,
    };
    Ok(Some(TriggerFile {
        path,
        group,
        scope: settings.trigger_scope.unwrap_or_default(),
    }))
}

/// A group's id, from its name or number.
pub fn group_id(name: &str) -> Result<u32> {
    if let Ok(gid) = name.parse() {
        return Ok(gid);
    }
    match nix::unistd::Group::from_name(name)
        .with_context(|| format!("cannot look up group {name:?} in the group database"))?
    {
        Some(group) => Ok(group.gid.as_raw()),
        None => bail!("no group named {name:?} in the group database"),
    }
}

/// Validates the custom sections of tag `tag`, keeping their order.
pub(super) fn custom_sections(sections: Vec<FileSection>, tag: &str) -> Result<Vec<CustomSection>> {
    sections
        .into_iter()
        .map(|s| custom_section(s, tag))
        .collect()
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
