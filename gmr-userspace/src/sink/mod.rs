//! Sinks: where a report goes (the target's stderr, the report directory,
//! the agent's stdout as JSON lines, an OpenTelemetry collector).
//!
//! The file and stderr sinks take already-rendered text, so any view can
//! go to any of them; the JSON-line and OTLP sinks carry the JSON view's
//! document. `gmr-agent report` prints its text itself.

pub mod otlp;
pub mod report_dir;
pub mod retention;
pub mod stdout_json;
pub mod target_stderr;
pub mod unnamed_file;

pub use report_dir::{sanitize_name, write_report_file};
pub use target_stderr::{StderrError, StderrOutcome, write_to_target_stderr};
