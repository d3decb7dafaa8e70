//! Sinks: where a rendered report goes (the target's stderr, the report directory, stdout).
