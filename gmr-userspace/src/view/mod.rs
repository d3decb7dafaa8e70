//! Views: render a report model as text, JSON or YAML, with no I/O.
//!
//! Each format lives in its own module; this one names the formats so a
//! command line can pick one and a sink can choose a file extension.

pub mod json;
#[cfg(test)]
pub(crate) mod sample;
pub mod text;
pub mod yaml;

use std::fmt::{self, Display, Formatter};
use std::str::FromStr;

use crate::model::Report;

pub use json::{render_json, render_json_line};
pub use text::render_text;
pub use yaml::render_yaml;

/// A report output format, spelled `text`, `json` or `yaml` on the command
/// line (clap's `ValueEnum`, so help and completions list them) and in the
/// configuration file ([`FromStr`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Format {
    /// oslo.reports-style text for people.
    #[default]
    Text,
    /// One pretty-printed JSON document for machines.
    Json,
    /// The same document as YAML.
    Yaml,
}

impl Format {
    /// Every format, in the order help text should list them.
    pub const ALL: [Format; 3] = [Format::Text, Format::Json, Format::Yaml];

    /// The name used on the command line and in configuration.
    pub fn name(self) -> &'static str {
        match self {
            Format::Text => "text",
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }

    /// File name extension for reports in this format, without the dot.
    pub fn extension(self) -> &'static str {
        match self {
            Format::Text => "txt",
            Format::Json => "json",
            Format::Yaml => "yaml",
        }
    }
}

impl Display for Format {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A format name that is not `text`, `json` or `yaml`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown report format {0:?} (expected \"text\", \"json\" or \"yaml\")")]
pub struct UnknownFormat(pub String);

impl FromStr for Format {
    type Err = UnknownFormat;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Format::ALL
            .into_iter()
            .find(|format| format.name() == name)
            .ok_or_else(|| UnknownFormat(name.to_owned()))
    }
}

/// Renders `report` in `format`; the result ends with a newline.
pub fn render(report: &Report, format: Format) -> String {
    match format {
        Format::Text => render_text(report),
        Format::Json => render_json(report),
        Format::Yaml => render_yaml(report),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip() {
        for format in Format::ALL {
            assert_eq!(format.to_string().parse::<Format>(), Ok(format));
        }
        assert_eq!("json".parse::<Format>(), Ok(Format::Json));
        assert_eq!("yaml".parse::<Format>(), Ok(Format::Yaml));
        assert_eq!(
            "pdf".parse::<Format>(),
            Err(UnknownFormat("pdf".to_owned()))
        );
        assert_eq!(Format::Text.extension(), "txt");
        assert_eq!(Format::Json.extension(), "json");
        assert_eq!(Format::Yaml.extension(), "yaml");
    }
}
