//! Data of custom sections: a table (builtins) or lines of text (an included
//! file, a command's output). Generic shapes, so views need no knowledge of
//! each builtin.

use serde::Serialize;

/// Rows under named columns, e.g. open file descriptors.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Column names.
    pub columns: Vec<String>,
    /// Rows, each with one cell per column.
    pub rows: Vec<Vec<String>>,
    /// What the table leaves out or could not read, if anything.
    pub note: Option<String>,
}

/// Lines of text, e.g. an included file or a command's output (masked).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TextBlock {
    /// Where the text came from: a path, or the command line.
    pub source: String,
    /// The lines, secrets masked.
    pub lines: Vec<String>,
    /// What is missing or unusual (truncated, exit status, timeout), if anything.
    pub note: Option<String>,
}
