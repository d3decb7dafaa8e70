//! The Configuration section: what the process runs with — its command
//! line, the configuration files that command line names, and its
//! environment, every secret already masked.

use std::fmt::{self, Display, Formatter};

use serde::Serialize;

/// The command line, configuration files and environment, secrets masked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Configuration {
    /// The command line, one argument per entry; when the process wrote a
    /// title over it, one entry: that title.
    pub command_line: Vec<String>,
    /// True when the process rewrote its command line (a process title,
    /// as nginx, postgres, redis and `setproctitle` set): `command_line`
    /// is then what the process shows, not the arguments it was given.
    pub command_line_rewritten: bool,
    /// Configuration files, in the order the process reads them, then the
    /// extra files configured for its service.
    pub files: Vec<ConfigFile>,
    /// How many more configuration files were named but not read, because
    /// a report reads at most a fixed number of them.
    pub files_omitted: usize,
    /// Environment variables, in the process's order.
    pub environment: Vec<ConfigOption>,
    /// Why the environment could not be read, if it could not.
    pub environment_error: Option<String>,
    /// oslo.config's options as the running process holds them, when it
    /// is a CPython process with an oslo.config `ConfigOpts`.
    pub live: Option<LiveOptions>,
    /// Why the live options could not be read although the process has
    /// them: the files above are then all there is.
    pub live_error: Option<String>,
}

/// Every option an oslo.config `ConfigOpts` of the live process registered,
/// with the value the process uses, where it came from, and what the files
/// set that nothing registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveOptions {
    /// Which object was read (`oslo_config.cfg.ConfigOpts at 0x…`).
    pub object: String,
    /// `DEFAULT` first, then the other groups by name; options by name.
    pub groups: Vec<LiveGroup>,
    /// Options set in the parsed files for which no code registered an
    /// option (misspelt names, or groups of code not loaded).
    pub unregistered: Vec<UnregisteredOption>,
    /// Anything the reader could not reproduce or check.
    pub notes: Vec<String>,
}

/// One registered group and its options.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveGroup {
    /// The group's name (`DEFAULT` for the unnamed one).
    pub name: String,
    /// Its options, by name.
    pub options: Vec<LiveOption>,
}

/// One registered option.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LiveOption {
    /// The option's name.
    pub name: String,
    /// Its value as Python's `str()` prints it, masked.
    pub value: String,
    /// Where the value comes from: `file PATH[:LINE]`, `command line`,
    /// `environment NAME`, `override`, `set_default` or `default`.
    pub source: String,
    /// True when the value is the one oslo.config cached for the process
    /// (it was used); false when gmr worked it out as oslo would.
    pub used: bool,
    /// oslo's own `secret=True`.
    pub secret: bool,
}

/// An option a parsed file sets that no code registered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnregisteredOption {
    /// Its group (section).
    pub group: String,
    /// Its name.
    pub name: String,
    /// Its value, masked.
    pub value: String,
    /// The file that sets it, as oslo recorded it.
    pub file: String,
}

/// One configuration file and what it sets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigFile {
    /// The path as the process sees it (relative paths joined to its
    /// working directory).
    pub path: String,
    /// The format it was read as.
    pub format: ConfigFormat,
    /// Its groups: `DEFAULT` first, then the others by name.
    pub groups: Vec<ConfigGroup>,
    /// Why it could not be read or parsed, if so.
    pub error: Option<String>,
    /// The file's lines, masked, when it is shown line by line: every line
    /// of a file whose parse failed (so the error's line number finds its
    /// line), or the lines that are not blank or comments of a file in a
    /// format gmr does not parse (nginx, apache, …).
    pub raw: Option<Vec<String>>,
    /// How many more lines the file has than `raw` shows, which is capped
    /// so one file cannot make a report of megabytes.
    pub raw_omitted: usize,
    /// True when only the first part of a large file was read.
    pub truncated: bool,
    /// True when the file changed after the process started: the process
    /// may not have loaded what it now says.
    pub modified_after_start: bool,
    /// How gmr came to read this file.
    pub found_by: FoundBy,
}

/// The formats configuration files are read as: the first four are
/// parsed into groups and options, the others shown line by line, masked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ConfigFormat {
    /// oslo.config's INI dialect (`.conf`, `.ini`, `.cfg`).
    Ini,
    /// YAML.
    Yaml,
    /// TOML.
    Toml,
    /// JSON.
    Json,
    /// nginx's `directive args;` with `{…}` blocks.
    Nginx,
    /// Apache httpd's `Directive args` with `<Section …>` blocks.
    Apache,
    /// HAProxy's `global`/`defaults`/`frontend`/`backend`/`listen` sections.
    Haproxy,
    /// A netrc file's `machine … login … password …` entries.
    Netrc,
    /// libpq's `.pgpass`: `host:port:database:user:password` lines.
    Pgpass,
    /// Space-separated `key value` directives (redis, nslcd, sshd, …).
    KeyValue,
    /// Any other text.
    Text,
    /// Not known: the file could not be read and its name does not say.
    Unknown,
}

impl ConfigFormat {
    /// The name used in reports: `ini`, `yaml`, `nginx`, `key-value`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ini => "ini",
            Self::Yaml => "yaml",
            Self::Toml => "toml",
            Self::Json => "json",
            Self::Nginx => "nginx",
            Self::Apache => "apache",
            Self::Haproxy => "haproxy",
            Self::Netrc => "netrc",
            Self::Pgpass => "pgpass",
            Self::KeyValue => "key-value",
            Self::Text => "text",
            Self::Unknown => "unknown",
        }
    }

    /// True for the formats gmr parses into groups and options; a file in
    /// any other is shown line by line.
    pub fn is_parsed(self) -> bool {
        matches!(self, Self::Ini | Self::Yaml | Self::Toml | Self::Json)
    }
}

impl Display for ConfigFormat {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One group (INI section, or top-level table of a structured file).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigGroup {
    /// The group's name; options outside any group are in `DEFAULT`.
    pub name: String,
    /// Its options, by name; a repeated option keeps every value in order.
    pub options: Vec<ConfigOption>,
}

/// One option, or one environment variable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ConfigOption {
    /// The option's name; nested keys are joined with `.`.
    pub name: String,
    /// Its value, masked; a multi-line value keeps its line breaks.
    pub value: String,
}

/// How a configuration file was found, so a reader knows why it is shown
/// and how sure that the process reads it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FoundBy {
    /// Named on the process's command line (or in its title).
    CommandLine,
    /// Listed for the service in the agent's configuration.
    AgentConfiguration,
    /// Held open by the process on this file descriptor.
    OpenFile {
        /// The descriptor number.
        fd: u32,
    },
    /// A configuration file of the package that owns the program (dpkg
    /// `Conffiles:`, rpm `%config`).
    PackageConffile {
        /// The package.
        package: String,
    },
}

impl Display for FoundBy {
    /// `command line`, `open file descriptor 5`, `conffile of package nginx`.
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Self::CommandLine => f.write_str("command line"),
            Self::AgentConfiguration => f.write_str("agent configuration"),
            Self::OpenFile { fd } => write!(f, "open file descriptor {fd}"),
            Self::PackageConffile { package } => write!(f, "conffile of package {package}"),
        }
    }
}
