//! The Configuration section: what an unmodified process runs with, as
//! oslo.reports shows it for an oslo service — its command line, the
//! configuration files that command line names, and its environment, with
//! every secret masked by [`crate::mask`].
//!
//! Files named on the command line ([`discover`]) and those configured for
//! the service are read as the process sees them ([`files`]) and parsed by
//! format: oslo's INI dialect ([`ini`]), YAML, TOML or JSON (flattened by
//! [`groups`]). A file that cannot be read keeps its error; a file that
//! cannot be parsed is shown raw, masked, with the parse error and its line.
//! Either way the rest of the section still appears.

mod discover;
mod files;
mod groups;
mod ini;
mod json;
mod toml;
mod yaml;

use std::fmt::{self, Display, Formatter};
use std::path::PathBuf;

use self::discover::has_config_extension;
use self::files::{Contents, Planned, TargetFiles};
use super::process_args::{CommandLine, read_command_line, read_environment};
use crate::mask::{mask_command_line, mask_text, mask_value};
use crate::model::configuration::{
    ConfigFile, ConfigFormat, ConfigGroup, ConfigOption, Configuration, FoundBy,
};

/// The section's title in reports.
pub const TITLE: &str = "Configuration";

/// Most configuration files read for one report; a `--config-dir` of
/// thousands of files must not make a report of gigabytes.
const MAX_FILES: usize = 64;

/// Most lines of an unparsable file shown raw.
const MAX_RAW_LINES: usize = 500;

/// Generates the Configuration section for process `pid`; `extra_files`
/// are more files to show (paths as the process sees them), listed for its
/// service in the agent's configuration.
///
/// Fails only when the process does not exist or its command line cannot
/// be read; a file or the environment that cannot be read says why in its
/// own place. A command line the process rewrote (a process title) is
/// shown as that title, once, and its environment area only when it still
/// holds variables.
pub fn configuration(pid: u32, extra_files: &[PathBuf]) -> Result<Configuration, String> {
    let command_line = read_command_line(pid)?;
    let (environment, environment_error) = match read_environment(pid, &command_line) {
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
    let target = TargetFiles::open(pid);
    let mut planned = target.plan(&command_line, extra_files);
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
    Ok(Configuration {
        command_line: mask_title_or_arguments(&command_line),
        command_line_rewritten: command_line.rewritten,
        files,
        files_omitted,
        environment,
        environment_error,
    })
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
/// error, or raw masked lines with the parse error.
fn config_file(path: String, found_by: FoundBy, contents: Result<Contents, String>) -> ConfigFile {
    let named_format = format_from_name(&path);
    let contents = match contents {
        Ok(contents) => contents,
        Err(error) => {
            return ConfigFile {
                path,
                format: named_format.unwrap_or(ConfigFormat::Unknown),
                groups: Vec::new(),
                error: Some(error),
                raw: None,
                truncated: false,
                found_by,
            };
        }
    };
    let format = named_format.unwrap_or_else(|| sniff(&contents.text));
    let (groups, error, raw) = match parse(format, &contents.text) {
        Ok(groups) => (mask_groups(groups), None, None),
        Err(error) => {
            let masked = mask_text(&contents.text);
            let lines: Vec<&str> = masked.lines().collect();
            let shown = lines.len().min(MAX_RAW_LINES);
            let mut message = format!("parse error: {}", mask_text(&error.to_string()));
            if shown < lines.len() {
                message.push_str(&format!(
                    "; showing the first {shown} of {} lines",
                    lines.len()
                ));
            }
            let raw = lines[..shown].iter().map(|&line| line.to_owned()).collect();
            (Vec::new(), Some(message), Some(raw))
        }
    };
    ConfigFile {
        path,
        format,
        groups,
        error,
        raw,
        truncated: contents.truncated,
        found_by,
    }
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

/// The format a file's name says it has.
fn format_from_name(path: &str) -> Option<ConfigFormat> {
    if !has_config_extension(path) {
        return None;
    }
    let extension = path.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "yaml" | "yml" => ConfigFormat::Yaml,
        "toml" => ConfigFormat::Toml,
        "json" => ConfigFormat::Json,
        _ => ConfigFormat::Ini,
    })
}

/// Guesses the format of a file whose name does not say, from its first
/// line that is not blank or a comment: `{` is JSON; a YAML document
/// marker, list item or `key:` mapping is YAML; anything else INI.
fn sniff(text: &str) -> ConfigFormat {
    let first = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with(['#', ';']));
    let Some(first) = first else {
        return ConfigFormat::Ini;
    };
    let yaml_key = first.find(':').is_some_and(|colon| {
        !first[..colon].contains(['=', '['])
            && first[colon + 1..]
                .chars()
                .next()
                .is_none_or(char::is_whitespace)
    });
    if first.starts_with('{') {
        ConfigFormat::Json
    } else if first.starts_with("---") || first.starts_with("- ") || yaml_key {
        ConfigFormat::Yaml
    } else {
        ConfigFormat::Ini
    }
}

/// Parses `text` as `format`.
fn parse(format: ConfigFormat, text: &str) -> Result<Vec<ConfigGroup>, ParseError> {
    match format {
        ConfigFormat::Ini | ConfigFormat::Unknown => ini::parse(text),
        ConfigFormat::Yaml => yaml::parse(text),
        ConfigFormat::Toml => self::toml::parse(text),
        ConfigFormat::Json => json::parse(text),
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
