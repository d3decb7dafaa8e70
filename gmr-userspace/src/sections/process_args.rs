//! A process's command line and environment as `/proc` shows them, and
//! whether the process wrote a title over them.
//!
//! The kernel lays `argv` and `envp` out as NUL-terminated strings, one
//! area right after the other (`arg_start..arg_end`, `env_start..env_end`
//! in `/proc/PID/stat`). Daemons that set a process title (nginx's
//! `ngx_setproctitle`, postgres' `ps_status.c`, redis' `setproctitle.c`,
//! Python's `setproctitle`) write the title over that memory, often
//! through the environment area, and pad the rest with NULs or leave it as
//! is. Two layouts give them away:
//!
//! - the kernel's own special case: when the last byte of the argument
//!   area is no longer NUL, `proc_pid_cmdline_read` returns one C string
//!   from `arg_start`, running on into the environment area up to the
//!   first NUL; so `cmdline` has no final NUL, or is longer than the
//!   argument area (redis, long titles);
//! - a title padded with NULs: one string followed only by empty ones
//!   (nginx, postgres, setproctitle: `''` ×22 otherwise).
//!
//! The environment is shown only when its area still holds a well-formed
//! `NAME=value` list the title did not run into; whatever else the area
//! holds is a fragment of a title, never a variable.

use std::fs;
use std::io;

use super::describe_io_error;

/// What `/proc/PID/cmdline` holds, read as arguments or as a title.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct CommandLine {
    /// The arguments; for a rewritten command line one entry, the title.
    pub(crate) args: Vec<String>,
    /// True when the process wrote a title over its arguments.
    pub(crate) rewritten: bool,
    /// True when the title runs past the argument area into the
    /// environment area, so that area holds title, not variables.
    title_in_environment: bool,
}

impl CommandLine {
    /// Arguments as a process that did not rewrite them would show them.
    #[cfg(test)]
    pub(crate) fn from_args(args: &[&str]) -> Self {
        Self {
            args: args.iter().map(|&arg| arg.to_owned()).collect(),
            rewritten: false,
            title_in_environment: false,
        }
    }

    /// The words of the command line: the arguments, or the title split at
    /// whitespace (a title such as `nginx: master process nginx -c x.conf`
    /// still names options).
    pub(crate) fn words(&self) -> Vec<String> {
        if self.rewritten {
            self.args
                .iter()
                .flat_map(|title| title.split_whitespace())
                .map(str::to_owned)
                .collect()
        } else {
            self.args.clone()
        }
    }
}

/// Reads the command line of process `pid`.
///
/// Fails only when the process does not exist or `cmdline` cannot be read;
/// without the area bounds from `stat` (another user's process read
/// without ptrace rights shows zeros) the layout alone decides.
pub(crate) fn read_command_line(pid: u32) -> Result<CommandLine, String> {
    let path = format!("/proc/{pid}/cmdline");
    let bytes = match fs::read(&path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            return Err(crate::proc::files::missing_process(pid));
        }
        Err(error) => return Err(format!("cannot read {path}: {}", describe_io_error(&error))),
    };
    Ok(parse_command_line(&bytes, argument_area_len(pid)))
}

/// The variables of process `pid`, in its order, as `(name, value)`, not
/// yet masked; or why they are not shown.
pub(crate) fn read_environment(
    pid: u32,
    command_line: &CommandLine,
) -> Result<Vec<(String, String)>, String> {
    if command_line.title_in_environment {
        return Err(format!(
            "process {pid} wrote its title over its environment area; no variables are shown"
        ));
    }
    let path = format!("/proc/{pid}/environ");
    let bytes = fs::read(&path)
        .map_err(|error| format!("cannot read {path}: {}", describe_io_error(&error)))?;
    parse_environment(&bytes).ok_or_else(|| {
        let cause = if command_line.rewritten {
            "it wrote its title over"
        } else {
            "it overwrote"
        };
        format!(
            "the environment area of process {pid} holds no well-formed NAME=value list \
             ({cause} that memory); no variables are shown"
        )
    })
}

/// Length of the argument area (`arg_end - arg_start` in `stat`), when the
/// kernel shows it to us.
fn argument_area_len(pid: u32) -> Option<usize> {
    let stat = crate::proc::files::stat(pid)?;
    let (start, end) = (stat.arg_start?, stat.arg_end?);
    (start != 0 && end > start).then(|| usize::try_from(end - start).ok())?
}

/// Reads `cmdline` bytes as arguments or a title; `area_len` is the size of
/// the argument area, when known.
fn parse_command_line(bytes: &[u8], area_len: Option<usize>) -> CommandLine {
    let past_area = area_len.is_some_and(|len| bytes.len() > len);
    if !bytes.is_empty() && (!bytes.ends_with(b"\0") || past_area) {
        // The kernel's special case: one string, up to the first NUL.
        let end = memchr::memchr(0, bytes).unwrap_or(bytes.len());
        return title(&bytes[..end], past_area);
    }
    let parts = split_nul(bytes);
    let padded = parts.len() > 1 && !parts[0].is_empty() && parts[1..].iter().all(|p| p.is_empty());
    if padded {
        return title(parts[0].as_bytes(), false);
    }
    CommandLine {
        args: parts,
        rewritten: false,
        title_in_environment: false,
    }
}

/// A rewritten command line showing `title` once.
fn title(title: &[u8], title_in_environment: bool) -> CommandLine {
    let title = String::from_utf8_lossy(title).trim_end().to_owned();
    CommandLine {
        args: vec![title],
        rewritten: true,
        title_in_environment,
    }
}

/// The `NAME=value` entries of an environment area, or `None` when it is
/// not a well-formed list: an exec'd environment has no empty entry, no
/// entry without a name, and ends with a NUL.
fn parse_environment(bytes: &[u8]) -> Option<Vec<(String, String)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    if !bytes.ends_with(b"\0") {
        return None;
    }
    split_nul(bytes)
        .into_iter()
        .map(|entry| {
            let (name, value) = entry.split_once('=')?;
            (!name.is_empty()).then(|| (name.to_owned(), value.to_owned()))
        })
        .collect()
}

/// Splits NUL-terminated strings; a missing final NUL is fine.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &CommandLine) -> Vec<&str> {
        line.args.iter().map(String::as_str).collect()
    }

    #[test]
    fn plain_arguments_stay_arguments() {
        let bytes = b"redis-server\0/etc/redis/redis.conf\0\0--port\0";
        let line = parse_command_line(bytes, Some(bytes.len()));
        assert!(!line.rewritten);
        assert_eq!(
            args(&line),
            ["redis-server", "/etc/redis/redis.conf", "", "--port"]
        );
        assert_eq!(line.words(), line.args);
        let line = parse_command_line(b"sleep\0", None);
        assert_eq!((args(&line), line.rewritten), (vec!["sleep"], false));
        assert_eq!(parse_command_line(b"", Some(10)).args, Vec::<String>::new());
    }

    #[test]
    fn nul_padded_title_is_shown_once() {
        let mut bytes = b"nginx: worker process".to_vec();
        bytes.extend([0; 23]);
        let line = parse_command_line(&bytes, Some(bytes.len()));
        assert!(line.rewritten);
        assert!(!line.title_in_environment);
        assert_eq!(args(&line), ["nginx: worker process"]);
        let line = parse_command_line(b"postgres: checkpointer \0\0\0", None);
        assert_eq!(args(&line), ["postgres: checkpointer"]);
    }

    #[test]
    fn kernel_title_case_and_spill_into_the_environment() {
        // redis: the argument area's last NUL replaced, so the kernel
        // returns one string without a NUL.
        let line = parse_command_line(b"/usr/bin/redis-server 127.0.0.1:6379", Some(60));
        assert!(line.rewritten && !line.title_in_environment);
        assert_eq!(args(&line), ["/usr/bin/redis-server 127.0.0.1:6379"]);
        assert_eq!(
            line.words(),
            ["/usr/bin/redis-server", "127.0.0.1:6379"].map(String::from)
        );
        let long = b"nginx: master process nginx -c /tmp/x/nginx.conf";
        let line = parse_command_line(long, Some(20));
        assert!(line.rewritten && line.title_in_environment);
    }

    #[test]
    fn environment_only_when_well_formed() {
        assert_eq!(
            parse_environment(b"A=1\0PATH=/bin:/usr/bin\0EMPTY=\0"),
            Some(vec![
                ("A".into(), "1".into()),
                ("PATH".into(), "/bin:/usr/bin".into()),
                ("EMPTY".into(), String::new()),
            ])
        );
        assert_eq!(parse_environment(b""), Some(vec![]));
        // Fragments of a title, NUL padding, a cut-off last entry.
        assert_eq!(parse_environment(b"p/ge/nginx/nginx.conf\0\0\0\0"), None);
        assert_eq!(parse_environment(b"A=1\0\0\0B=2\0"), None);
        assert_eq!(parse_environment(b"A=1\0B=2"), None);
        assert_eq!(parse_environment(b"=1\0"), None);
    }
}
