//! The Configuration section: what the process runs with.

use serde::Serialize;

/// The command line, configuration files and environment, secrets masked.
#[derive(Clone, Debug, Serialize)]
pub struct Configuration {
    /// The command line, one argument per entry.
    pub command_line: Vec<String>,
}
