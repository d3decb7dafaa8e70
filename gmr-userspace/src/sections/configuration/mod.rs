//! The Configuration section: what an unmodified process runs with, as
//! oslo.reports shows it for an oslo service — its command line, the
//! configuration files that command line names, and its environment, with
//! every secret masked by [`crate::mask`].
//!
//! Files named on the command line ([`discover`]) and those configured for
//! the service are read as the process sees them ([`files`]), labelled by
//! what they are ([`formats`]), and parsed when gmr knows the format:
//! oslo's INI dialect ([`ini`]), YAML, TOML or JSON (flattened by
//! [`groups`]). A file in any other format (nginx, apache, haproxy, netrc,
//! `.pgpass`, `key value` directives, text) is shown line by line, without
//! its blank and comment lines, through [`mask_file`]. A file that cannot be
//! read keeps its error; a file that cannot be parsed is shown whole, masked
//! the same way, with the parse error and its line. Either way the rest of
//! the section still appears.
//!
//! For a CPython process holding an oslo.config `ConfigOpts`, the options
//! the process registered and the values it uses are read from its memory
//! ([`oslo`]) and shown first; when they cannot be read, a note says why
//! and the files are what the section shows.

mod discover;
mod files;
mod formats;
mod groups;
mod ini;
mod json;
mod oslo;
mod toml;
mod yaml;

use std::fmt::{self, Display, Formatter};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use self::files::{Contents, Planned, TargetFiles};
use super::context::ReportContext;
use super::package::PackageDb;
use super::process_args::{CommandLine, read_command_line, read_environment};
use crate::mask::{MASK, mask_command_line, mask_file, mask_quoted, mask_text, mask_value};
use crate::model::configuration::{
    ConfigFile, ConfigFormat, ConfigGroup, ConfigOption, Configuration, FoundBy,
};

/// The section's title in reports.
pub const TITLE: &str = "Configuration";

/// The class whose instances the live oslo.config read needs from the
/// report's heap walk.
pub(crate) use self::oslo::find::CLASS as OSLO_CONFIG_CLASS;

/// Most configuration files read for one report; a `--config-dir` of
/// thousands of files must not make a report of gigabytes.
const MAX_FILES: usize = 64;

/// Most lines of a file shown line by line.
const MAX_RAW_LINES: usize = 500;

/// Generates the Configuration section for process `pid`; `extra_files`
/// are more files to show (paths as the process sees them), listed for its
/// service in the agent's configuration; `packages`, the report's dpkg
/// answers, which the Package section fills for the same program.
///
/// Fails only when the process does not exist or its command line cannot
/// be read; a file or the environment that cannot be read says why in its
/// own place. A command line the process rewrote (a process title) is
/// shown as that title, once, and its environment area only when it still
/// holds variables.
pub fn configuration(
    context: &ReportContext,
    extra_files: &[PathBuf],
    packages: &Mutex<PackageDb>,
) -> Result<Configuration, String> {
    let pid = context.pid;
    let command_line = read_command_line(pid)?;
    let variables = read_environment(pid, &command_line);
    let target = TargetFiles::open(pid);
    let live = oslo::live_options(context, variables.as_deref().unwrap_or_default(), &target);
    let (live, secrets, live_error) = match live {
        Some(Ok((live, secrets))) => (Some(live), secrets, None),
        Some(Err(error)) => (
            None,
            oslo::SecretNames::new(),
            Some(format!("{error}; the files are shown as read now instead")),
        ),
        None => (None, oslo::SecretNames::new(), None),
    };
    let (environment, environment_error) = match variables {
        Ok(variables) => (
            variables
                .into_iter()
                .map(|(name, value)| ConfigOption {
                    value: mask_value(&name, &value),
                    name,
                })
                .collect(),
            None,
        ),
        Err(error) => (Vec::new(), Some(error)),
    };
    let mut planned = target.plan(&command_line, extra_files, packages);
    let files_omitted = planned.len().saturating_sub(MAX_FILES);
    planned.truncate(MAX_FILES);
    let files = planned
        .into_iter()
        .map(
            |Planned {
                 path,
                 found_by,
                 read,
             }| match read {
                Ok(()) => {
                    let contents = target.read(&path);
                    config_file(path, found_by, contents)
                }
                Err(error) => config_file(path, found_by, Err(error)),
            },
        )
        .collect();
    let mut files = mask_oslo_secrets(files, &secrets);
    if let Some(started) = process_start(pid) {
        for file in &mut files {
            file.modified_after_start = file.error.is_none()
                && target
                    .modified(&file.path)
                    .is_some_and(|modified| modified > started + START_SLACK);
        }
    }
    Ok(Configuration {
        command_line: mask_title_or_arguments(&command_line),
        command_line_rewritten: command_line.rewritten,
        files,
        files_omitted,
        environment,
        environment_error,
        live,
        live_error,
    })
}

/// How much later than the process's start (known to the clock tick,
/// against a boot time in whole seconds) a file must have changed to be
/// said to have changed after it.
pub(super) const START_SLACK: Duration = Duration::from_secs(1);

/// When process `pid` started, from its `stat` and the boot time.
pub(super) fn process_start(pid: u32) -> Option<SystemTime> {
    let stat = crate::proc::files::stat(pid)?;
    let boot = procfs::boot_time_secs().ok()?;
    let ticks = procfs::ticks_per_second().max(1);
    Some(
        UNIX_EPOCH
            + Duration::from_secs(boot)
            + Duration::from_millis(stat.starttime * 1000 / ticks),
    )
}

/// The files with every option the process's oslo.config marks secret
/// masked, whatever its name: gmr's own rules go by names, and a secret
/// option may be named like anything (or set by a deprecated alias).
fn mask_oslo_secrets(mut files: Vec<ConfigFile>, secrets: &oslo::SecretNames) -> Vec<ConfigFile> {
    for file in &mut files {
        for group in &mut file.groups {
            let name = group.name.to_lowercase();
            for option in &mut group.options {
                if secrets.contains(&(name.clone(), option.name.clone())) {
                    option.value = MASK.to_owned();
                }
            }
        }
    }
    files
}

/// The command line masked: each argument, or the words of a title (a
/// title such as `app --password=x` hides secrets as arguments do).
fn mask_title_or_arguments(command_line: &CommandLine) -> Vec<String> {
    if command_line.rewritten {
        vec![mask_command_line(&command_line.words()).join(" ")]
    } else {
        mask_command_line(&command_line.args)
    }
}

/// A configuration file as the report shows it: parsed and masked, or its
/// error, or its masked lines (with the parse error when its parse failed).
fn config_file(path: String, found_by: FoundBy, contents: Result<Contents, String>) -> ConfigFile {
    let contents = match contents {
        Ok(contents) => contents,
        Err(error) => {
            return ConfigFile {
                format: formats::from_path(&path),
                path,
                groups: Vec::new(),
                error: Some(error),
                raw: None,
                raw_omitted: 0,
                truncated: false,
                modified_after_start: false,
                found_by,
            };
        }
    };
    let format = formats::detect(&path, &contents.text);
    let parsed = format
        .is_parsed()
        .then(|| parse(format, &contents.text))
        .transpose();
    let (groups, error, lines) = match parsed {
        Ok(Some(groups)) => (mask_groups(groups), None, None),
        // Every line, so the error's line number finds its line.
        Err(error) => (
            Vec::new(),
            // A parser's message may quote the file.
            Some(format!(
                "parse error: {}",
                mask_quoted(&mask_text(&error.to_string()))
            )),
            Some(masked_lines(&contents.text, false)),
        ),
        Ok(None) => (Vec::new(), None, Some(masked_lines(&contents.text, true))),
    };
    let (raw, raw_omitted) = match lines {
        Some(mut lines) => {
            let omitted = lines.len().saturating_sub(MAX_RAW_LINES);
            lines.truncate(MAX_RAW_LINES);
            (Some(lines), omitted)
        }
        None => (None, 0),
    };
    ConfigFile {
        path,
        format,
        groups,
        error,
        raw,
        raw_omitted,
        truncated: contents.truncated,
        modified_after_start: false,
        found_by,
    }
}

/// A file's lines masked by [`mask_file`]; without blank and comment
/// lines when `settings_only`.
fn masked_lines(text: &str, settings_only: bool) -> Vec<String> {
    mask_file(text)
        .lines()
        .filter(|line| {
            let line = line.trim_start();
            !settings_only || !(line.is_empty() || line.starts_with(['#', ';']))
        })
        .map(str::to_owned)
        .collect()
}

/// The report's view of a file named `path` holding `text`: its format
/// from the name or the text, parsed and masked, or shown raw and masked.
/// Built only for the fuzz targets in `fuzz/` (`--cfg fuzzing`).
#[cfg(fuzzing)]
pub fn config_file_for_fuzzing(path: &str, text: String) -> ConfigFile {
    config_file(
        path.to_owned(),
        FoundBy::CommandLine,
        Ok(Contents {
            text,
            truncated: false,
        }),
    )
}

/// Parses `text` as `format`, one of those [`ConfigFormat::is_parsed`].
fn parse(format: ConfigFormat, text: &str) -> Result<Vec<ConfigGroup>, ParseError> {
    match format {
        ConfigFormat::Yaml => yaml::parse(text),
        ConfigFormat::Toml => self::toml::parse(text),
        ConfigFormat::Json => json::parse(text),
        _ => ini::parse(text),
    }
}

/// Masks every option's value; the group name is part of the key, so
/// everything under a `secrets` or `credentials` group goes.
fn mask_groups(mut groups: Vec<ConfigGroup>) -> Vec<ConfigGroup> {
    for group in &mut groups {
        for option in &mut group.options {
            let key = format!("{}.{}", group.name, option.name);
            option.value = mask_value(&key, &option.value);
        }
    }
    groups
}

/// Why a file could not be parsed, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ParseError {
    /// What is wrong, without the position and without quoting the file.
    message: String,
    /// 1-based line, when the parser knows it.
    line: Option<usize>,
    /// 1-based column, when the parser knows it.
    column: Option<usize>,
}

impl ParseError {
    /// An error on a whole line.
    fn at(line: usize, message: &str) -> Self {
        Self {
            message: message.to_owned(),
            line: Some(line),
            column: None,
        }
    }

    /// A parser's message without its ` at line N column M` tail, which
    /// [`ParseError`] keeps as numbers instead.
    fn without_position(message: &str) -> String {
        message
            .find(" at line ")
            .map_or(message, |at| &message[..at])
            .to_owned()
    }
}

impl Display for ParseError {
    /// `expected ':' (line 3, column 7)`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(line), Some(column)) => write!(f, " (line {line}, column {column})"),
            (Some(line), None) => write!(f, " (line {line})"),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
