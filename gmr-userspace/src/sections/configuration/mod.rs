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

mod discover;
mod files;
mod formats;
mod groups;
mod ini;
mod json;
mod toml;
mod yaml;

use std::fmt::{self, Display, Formatter};
use std::fs;
use std::io;
use std::path::PathBuf;

use self::files::{Contents, Planned, TargetFiles};
use super::describe_io_error;
use crate::mask::{mask_command_line, mask_file, mask_quoted, mask_text, mask_value};
use crate::model::configuration::{
    ConfigFile, ConfigFormat, ConfigGroup, ConfigOption, Configuration,
};

/// The section's title in reports.
pub const TITLE: &str = "Configuration";

/// Most configuration files read for one report; a `--config-dir` of
/// thousands of files must not make a report of gigabytes.
const MAX_FILES: usize = 64;

/// Most lines of a file shown line by line.
const MAX_RAW_LINES: usize = 500;

/// Generates the Configuration section for process `pid`; `extra_files`
/// are more files to show (paths as the process sees them), listed for its
/// service in the agent's configuration.
///
/// Fails only when the process does not exist or its command line cannot
/// be read; a file or the environment that cannot be read says why in its
/// own place.
pub fn configuration(pid: u32, extra_files: &[PathBuf]) -> Result<Configuration, String> {
    let args = read_command_line(pid)?;
    let (environment, environment_error) = match read_environment(pid) {
        Ok(environment) => (environment, None),
        Err(error) => (Vec::new(), Some(error)),
    };
    let target = TargetFiles::open(pid);
    let mut planned = target.plan(&args, extra_files);
    let files_omitted = planned.len().saturating_sub(MAX_FILES);
    planned.truncate(MAX_FILES);
    let files = planned
        .into_iter()
        .map(|entry| match entry {
            Planned::File(path) => {
                let contents = target.read(&path);
                config_file(path, contents)
            }
            Planned::Failed { path, error } => config_file(path, Err(error)),
        })
        .collect();
    Ok(Configuration {
        command_line: mask_command_line(&args),
        files,
        files_omitted,
        environment,
        environment_error,
    })
}

/// The arguments in `/proc/PID/cmdline`.
fn read_command_line(pid: u32) -> Result<Vec<String>, String> {
    let path = format!("/proc/{pid}/cmdline");
    match fs::read(&path) {
        Ok(bytes) => Ok(split_nul(&bytes)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            Err(crate::proc_files::missing_process(pid))
        }
        Err(error) => Err(format!("cannot read {path}: {}", describe_io_error(&error))),
    }
}

/// The variables in `/proc/PID/environ`, masked, in the process's order.
fn read_environment(pid: u32) -> Result<Vec<ConfigOption>, String> {
    let path = format!("/proc/{pid}/environ");
    let bytes = fs::read(&path)
        .map_err(|error| format!("cannot read {path}: {}", describe_io_error(&error)))?;
    Ok(split_nul(&bytes)
        .into_iter()
        .filter(|entry| !entry.is_empty())
        .map(|entry| {
            let (name, value) = entry.split_once('=').unwrap_or((&entry, ""));
            ConfigOption {
                name: name.to_owned(),
                value: mask_value(name, value),
            }
        })
        .collect())
}

/// Splits NUL-terminated strings; a missing final NUL (a process that
/// rewrote its command line) is fine.
fn split_nul(bytes: &[u8]) -> Vec<String> {
    let bytes = bytes.strip_suffix(b"\0").unwrap_or(bytes);
    if bytes.is_empty() {
        return Vec::new();
    }
    bytes
        .split(|&b| b == 0)
        .map(|part| String::from_utf8_lossy(part).into_owned())
        .collect()
}

/// A configuration file as the report shows it: parsed and masked, or its
/// error, or its masked lines (with the parse error when its parse failed).
fn config_file(path: String, contents: Result<Contents, String>) -> ConfigFile {
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
