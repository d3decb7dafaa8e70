//! Sinks: where a rendered report goes (the target's stderr, the report directory, stdout).
//!
//! Each sink takes already-rendered text, so any view can go to any sink.
//! Stdout needs no module of its own: the command line prints the text.

pub mod report_dir;
pub mod retention;
pub mod target_stderr;
pub mod unnamed_file;

pub use report_dir::{sanitize_name, write_report_file};
pub use target_stderr::{StderrError, StderrOutcome, write_to_target_stderr};
