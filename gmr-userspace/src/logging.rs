//! The agent's log output: env_logger's usual format on a terminal or a
//! file, and `<N>message` lines when stderr is the systemd journal.
//!
//! journald reads a leading `<N>` as the line's syslog priority (the
//! sd-daemon(3) convention) and stamps every line with its own time, unit
//! and pid, so in the journal the timestamp and level word would only be
//! noise while the priority would be lost. systemd tells a service that its
//! stderr is the journal by setting `JOURNAL_STREAM=DEV:INO` (systemd.exec(5));
//! comparing that with stderr's own device and inode keeps the journal
//! format from leaking to a child whose stderr was redirected elsewhere but
//! which inherited the variable. `RUST_LOG` sets the filter; the default is
//! `info`.

use std::{fs::File, io::Write as _, os::fd::AsFd as _, os::unix::fs::MetadataExt as _};

use env_logger::{Env, WriteStyle};
use log::Level;

/// Installs the global logger; call once, first thing in `main`.
pub fn init() {
    let mut builder = env_logger::Builder::from_env(Env::default().default_filter_or("info"));
    if stderr_is_journal() {
        builder
            .write_style(WriteStyle::Never)
            .format(|out, record| {
                out.write_all(journal_lines(record.level(), &record.args().to_string()).as_bytes())
            });
    }
    builder.init();
}

/// Whether `JOURNAL_STREAM` names the file our stderr is.
fn stderr_is_journal() -> bool {
    let Some(stream) = std::env::var_os("JOURNAL_STREAM") else {
        return false;
    };
    let stderr = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map(File::from)
        .and_then(|file| file.metadata());
    match (stream.to_str(), stderr) {
        (Some(stream), Ok(meta)) => names_file(stream, meta.dev(), meta.ino()),
        _ => false,
    }
}

/// Whether a `JOURNAL_STREAM` value (`DEV:INO`, both decimal) names the
/// file with device `dev` and inode `ino`.
fn names_file(stream: &str, dev: u64, ino: u64) -> bool {
    let parsed = stream
        .split_once(':')
        .and_then(|(d, i)| Some((d.parse::<u64>().ok()?, i.parse::<u64>().ok()?)));
    parsed == Some((dev, ino))
}

/// The syslog priority of a log level, as journald understands it.
fn priority(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => 4,
        Level::Info => 6,
        Level::Debug | Level::Trace => 7,
    }
}

/// `message` as journal lines: every line carries the priority, because
/// journald makes each line an entry of its own.
fn journal_lines(level: Level, message: &str) -> String {
    let priority = priority(level);
    if message.is_empty() {
        return format!("<{priority}>\n");
    }
    message
        .lines()
        .map(|line| format!("<{priority}>{line}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn journal_stream_must_name_the_same_file() {
        let meta = std::fs::metadata("/proc/self/exe").unwrap();
        let (dev, ino) = (meta.dev(), meta.ino());
        assert!(names_file(&format!("{dev}:{ino}"), dev, ino));
        assert!(!names_file(&format!("{dev}:{}", ino + 1), dev, ino));
        assert!(!names_file(&format!("{}:{ino}", dev + 1), dev, ino));
        for malformed in ["", ":", "12", "a:b", &format!("{dev}:{ino}:0")] {
            assert!(!names_file(malformed, dev, ino), "{malformed:?}");
        }
    }

    #[test]
    fn every_line_carries_its_syslog_priority() {
        assert_eq!(
            journal_lines(Level::Error, "cannot load"),
            "<3>cannot load\n"
        );
        assert_eq!(journal_lines(Level::Warn, "a\nb"), "<4>a\n<4>b\n");
        assert_eq!(journal_lines(Level::Info, "ready"), "<6>ready\n");
        assert_eq!(journal_lines(Level::Debug, "x"), "<7>x\n");
        assert_eq!(journal_lines(Level::Trace, ""), "<7>\n");
    }
}
