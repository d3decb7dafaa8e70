//! The target-stderr sink: write a report to the reported process's own
//! stderr, where oslo.reports puts it, without ever hanging the agent.
//!
//! The agent borrows the target's fd 2 with `pidfd_getfd`, which hands back
//! a new descriptor for the *same* open file description. File status flags
//! such as `O_NONBLOCK` live on that description, so setting them would
//! change the target's own stderr under its feet; this module never does.
//! Instead each kind of file gets a way to write that cannot block past the
//! deadline:
//!
//! * sockets: `send` with `MSG_DONTWAIT` (a per-call flag) and `poll`;
//! * pipes, FIFOs and terminals: reopen the file through `/proc/self/fd` to
//!   get a private description that may be non-blocking, falling back to
//!   `poll` + writes of at most `PIPE_BUF` bytes, which POSIX says do not
//!   block on a pipe that polled writable (only a racing writer in the
//!   target can fill the pipe between the two calls);
//! * other character devices: `poll` + `PIPE_BUF`-sized writes;
//! * regular files and anything else: plain writes, which do not wait on a
//!   reader.
//!
//! Text goes out in chunks of at most `PIPE_BUF` bytes, cut after a newline
//! where possible, so that lines the target writes at the same time do not
//! land in the middle of a report line.

use std::fs::{File, OpenOptions};
use std::io::{self, IsTerminal as _};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt as _;
use std::time::{Duration, Instant};

use rustix::{
    event::{PollFd, PollFlags, Timespec},
    io::Errno,
    net::SendFlags,
};

use crate::proc::pidfd;

/// Largest write POSIX guarantees atomic (and non-blocking once a pipe
/// polls writable).
const PIPE_BUF: usize = libc::PIPE_BUF;

/// Longest deadline honoured; keeps `Instant` arithmetic from overflowing.
const MAX_DEADLINE: Duration = Duration::from_secs(24 * 60 * 60);

/// How much of the text reached the target's stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StderrOutcome {
    /// Bytes written.
    pub written: usize,
    /// Bytes in the text; more than `written` when the deadline passed first.
    pub total: usize,
}

impl StderrOutcome {
    /// True when the whole text was written before the deadline.
    pub fn is_complete(&self) -> bool {
        self.written == self.total
    }
}

/// Why the text could not be written to the target's stderr.
#[derive(Debug, thiserror::Error)]
pub enum StderrError {
    /// The process is gone (or is a zombie) so it has no stderr to write to.
    #[error("process {pid} has exited")]
    Exited {
        /// The target's pid.
        pid: u32,
    },
    /// `pidfd_open` failed for a reason other than the process being gone.
    #[error("pidfd_open({pid}): {source}")]
    PidfdOpen {
        /// The target's pid.
        pid: u32,
        /// The system call's error.
        source: io::Error,
    },
    /// The process has closed its fd 2.
    #[error("process {pid} has no stderr (fd 2 is closed)")]
    NoStderr {
        /// The target's pid.
        pid: u32,
    },
    /// `pidfd_getfd` was refused: the agent lacks ptrace access to the target.
    #[error("pidfd_getfd({pid}, 2): not permitted (needs ptrace access to the process)")]
    NotPermitted {
        /// The target's pid.
        pid: u32,
    },
    /// `pidfd_getfd` failed for another reason.
    #[error("pidfd_getfd({pid}, 2): {source}")]
    GetFd {
        /// The target's pid.
        pid: u32,
        /// The system call's error.
        source: io::Error,
    },
    /// The borrowed descriptor could not be examined.
    #[error("fstat on stderr of process {pid}: {source}")]
    Stat {
        /// The target's pid.
        pid: u32,
        /// The system call's error.
        source: io::Error,
    },
    /// Writing failed part way, e.g. with `EPIPE` when nobody reads the pipe.
    #[error("writing to stderr of process {pid} failed after {written} of {total} bytes: {source}")]
    Write {
        /// The target's pid.
        pid: u32,
        /// Bytes written before the failure.
        written: usize,
        /// Bytes in the text.
        total: usize,
        /// The system call's error.
        source: io::Error,
    },
}

/// Writes `text` to the stderr of process `pid`, giving up at `deadline`.
///
/// Never blocks much longer than `deadline` on a pipe, FIFO, terminal or
/// socket, whatever its reader does, and never changes the file status flags
/// the target sees. Returns how many bytes went out; fewer than the text's
/// length means the deadline passed. `EPIPE` from a pipe nobody reads raises
/// `SIGPIPE`, which the agent ignores.
pub fn write_to_target_stderr(
    pid: u32,
    text: &str,
    deadline: Duration,
) -> Result<StderrOutcome, StderrError> {
    let deadline = Instant::now() + deadline.min(MAX_DEADLINE);
    let pidfd = pidfd_open(pid)?;
    let stderr = pidfd_getfd(pid, pidfd.as_fd())?;
    let bytes = text.as_bytes();
    let mode = file_type(stderr.as_fd()).map_err(|source| StderrError::Stat { pid, source })?;
    let result = match mode {
        libc::S_IFSOCK => write_nonblocking(stderr.as_fd(), bytes, deadline, send_dontwait),
        libc::S_IFIFO => write_reopened(stderr.as_fd(), bytes, deadline),
        libc::S_IFCHR if is_terminal(stderr.as_fd()) => {
            write_reopened(stderr.as_fd(), bytes, deadline)
        }
        libc::S_IFCHR => write_polled(stderr.as_fd(), bytes, deadline),
        _ => write_plain(stderr.as_fd(), bytes),
    };
    match result {
        Ok(written) => Ok(StderrOutcome {
            written,
            total: bytes.len(),
        }),
        Err(failure) => Err(StderrError::Write {
            pid,
            written: failure.written,
            total: bytes.len(),
            source: failure.source,
        }),
    }
}

/// A write that failed after `written` bytes had gone out.
#[derive(Debug)]
struct WriteFailure {
    written: usize,
    source: io::Error,
}

/// Bytes written before the deadline, or the failure that stopped writing.
type WriteResult = Result<usize, WriteFailure>;

/// Opens a pidfd for `pid`, mapping "no such process" to [`StderrError::Exited`].
fn pidfd_open(pid: u32) -> Result<OwnedFd, StderrError> {
    pidfd::open(pid).map_err(|source| match source.raw_os_error() {
        Some(libc::ESRCH) => StderrError::Exited { pid },
        _ => StderrError::PidfdOpen { pid, source },
    })
}

/// Duplicates fd 2 of the process behind `pidfd` into this process.
fn pidfd_getfd(pid: u32, pidfd: BorrowedFd<'_>) -> Result<OwnedFd, StderrError> {
    let source = match pidfd::copy_fd(pidfd, 2) {
        Ok(fd) => return Ok(fd),
        Err(source) => source,
    };
    // A zombie still has a pid but no file table, so it reports EBADF (or
    // EPERM once its credentials are gone) rather than ESRCH.
    if source.raw_os_error() == Some(libc::ESRCH) || pidfd::has_exited(pidfd, Duration::ZERO) {
        return Err(StderrError::Exited { pid });
    }
    Err(match source.raw_os_error() {
        Some(libc::EBADF) => StderrError::NoStderr { pid },
        Some(libc::EPERM) => StderrError::NotPermitted { pid },
        _ => StderrError::GetFd { pid, source },
    })
}

/// The `S_IFMT` bits of the file behind `fd`.
fn file_type(fd: BorrowedFd<'_>) -> io::Result<libc::mode_t> {
    Ok(rustix::fs::fstat(fd)?.st_mode & libc::S_IFMT)
}

/// True when `fd` is a terminal.
fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    fd.is_terminal()
}

/// Writes through a private non-blocking description of the same pipe or
/// terminal, or with poll + `PIPE_BUF` writes if reopening is refused.
fn write_reopened(fd: BorrowedFd<'_>, bytes: &[u8], deadline: Instant) -> WriteResult {
    match reopen_nonblocking(fd) {
        Ok(file) => write_nonblocking(file.as_fd(), bytes, deadline, write_once),
        Err(error) => {
            log::debug!("cannot reopen target stderr non-blocking ({error}); polling instead");
            write_polled(fd, bytes, deadline)
        }
    }
}

/// Opens the pipe or terminal behind `fd` again, write-only and non-blocking.
fn reopen_nonblocking(fd: BorrowedFd<'_>) -> io::Result<File> {
    // Opening /proc/self/fd/N for a pipe or tty opens the object afresh
    // (a new open file description) instead of duplicating the descriptor,
    // so O_NONBLOCK here stays ours. O_NOCTTY: a daemon must not acquire the
    // target's terminal as its controlling terminal.
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(format!("/proc/self/fd/{}", fd.as_raw_fd()))
}

/// Writes on a descriptor whose writes never block (non-blocking
/// description, or `send` with `MSG_DONTWAIT`), waiting in `poll` for room.
fn write_nonblocking(
    fd: BorrowedFd<'_>,
    bytes: &[u8],
    deadline: Instant,
    write: fn(BorrowedFd<'_>, &[u8]) -> io::Result<usize>,
) -> WriteResult {
    let mut written = 0;
    while written < bytes.len() {
        let rest = &bytes[written..];
        match write(fd, &rest[..chunk_len(rest)]) {
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                if !wait_writable(fd, deadline)
                    .map_err(|source| WriteFailure { written, source })?
                {
                    break;
                }
            }
            Err(source) => return Err(WriteFailure { written, source }),
        }
    }
    Ok(written)
}

/// Writes on a blocking descriptor shared with the target: waits in `poll`
/// until it is writable, then writes at most `PIPE_BUF` bytes, which a pipe
/// that polled writable takes without blocking.
fn write_polled(fd: BorrowedFd<'_>, bytes: &[u8], deadline: Instant) -> WriteResult {
    let mut written = 0;
    while written < bytes.len() {
        if !wait_writable(fd, deadline).map_err(|source| WriteFailure { written, source })? {
            break;
        }
        let rest = &bytes[written..];
        match write_once(fd, &rest[..chunk_len(rest)]) {
            Ok(n) => written += n,
            Err(error)
                if matches!(
                    error.kind(),
                    io::ErrorKind::Interrupted | io::ErrorKind::WouldBlock
                ) => {}
            Err(source) => return Err(WriteFailure { written, source }),
        }
    }
    Ok(written)
}

/// Writes everything with ordinary writes; for files that never wait on a
/// reader, such as regular files.
fn write_plain(fd: BorrowedFd<'_>, bytes: &[u8]) -> WriteResult {
    let mut written = 0;
    while written < bytes.len() {
        let rest = &bytes[written..];
        match write_once(fd, &rest[..chunk_len(rest)]) {
            Ok(n) => written += n,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(source) => return Err(WriteFailure { written, source }),
        }
    }
    Ok(written)
}

/// Length of the next chunk: at most `PIPE_BUF`, ending after the last
/// newline in that window when there is one, so lines stay whole.
fn chunk_len(rest: &[u8]) -> usize {
    if rest.len() <= PIPE_BUF {
        return rest.len();
    }
    match rest[..PIPE_BUF].iter().rposition(|&b| b == b'\n') {
        Some(newline) => newline + 1,
        None => PIPE_BUF,
    }
}

/// Waits until `fd` polls writable (or in error, which the next write will
/// report). Returns false when the deadline passes first.
fn wait_writable(fd: BorrowedFd<'_>, deadline: Instant) -> io::Result<bool> {
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Ok(false);
        }
        let timeout = Timespec::try_from(remaining).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::from_borrowed_fd(fd, PollFlags::OUT)];
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => {}
            Ok(_) => return Ok(true),
            Err(error) => return Err(error.into()),
        }
    }
}

/// One `write(2)`; a zero-byte write of a non-empty buffer is an error.
fn write_once(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    nonzero(rustix::io::write(fd, buf))
}

/// One `send(2)` that neither blocks nor raises `SIGPIPE`.
fn send_dontwait(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    nonzero(rustix::net::send(
        fd,
        buf,
        SendFlags::DONTWAIT | SendFlags::NOSIGNAL,
    ))
}

/// A write/send's byte count, with zero bytes written as an error.
fn nonzero(written: rustix::io::Result<usize>) -> io::Result<usize> {
    match written? {
        0 => Err(io::ErrorKind::WriteZero.into()),
        n => Ok(n),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader, Read as _};
    use std::os::unix::ffi::OsStrExt as _;
    use std::os::unix::net::UnixStream;
    use std::process::{Command, Stdio};

    use crate::test_support::Reaped;

    /// Runs `sleep 30` with `stderr` as its fd 2. The command (and with it
    /// the test's copy of `stderr`) is dropped once the child runs.
    fn sleeper(stderr: impl Into<Stdio>) -> Reaped {
        let child = Command::new("sleep")
            .arg("30")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn sleep");
        Reaped(child)
    }

    /// A close-on-exec pipe as (read end, write end).
    fn pipe() -> (File, File) {
        let (read_end, write_end) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).expect("pipe2");
        (File::from(read_end), File::from(write_end))
    }

    fn status_flags(fd: BorrowedFd<'_>) -> rustix::fs::OFlags {
        rustix::fs::fcntl_getfl(fd).expect("F_GETFL")
    }

    fn set_status_flags(fd: BorrowedFd<'_>, flags: rustix::fs::OFlags) {
        rustix::fs::fcntl_setfl(fd, flags).expect("F_SETFL");
    }

    /// Fills the pipe behind `write_end` so no byte more fits, leaving the
    /// description blocking as it was.
    fn fill_pipe(write_end: &File) {
        let flags = status_flags(write_end.as_fd());
        set_status_flags(write_end.as_fd(), flags | rustix::fs::OFlags::NONBLOCK);
        let block = [b'x'; 4096];
        while write_once(write_end.as_fd(), &block).is_ok() {}
        while write_once(write_end.as_fd(), b"x").is_ok() {}
        set_status_flags(write_end.as_fd(), flags);
    }

    fn report_text(len: usize) -> String {
        let line = "Guru Meditation report line, quite like the ones in a real report\n";
        line.repeat(len / line.len() + 1)[..len].to_owned()
    }

    #[test]
    fn writes_to_a_pipe() {
        let (mut read_end, write_end) = pipe();
        let child = sleeper(write_end);
        let text = report_text(10_000);
        let outcome =
            write_to_target_stderr(child.0.id(), &text, Duration::from_secs(5)).expect("write");
        assert_eq!(
            outcome,
            StderrOutcome {
                written: text.len(),
                total: text.len()
            }
        );
        assert!(outcome.is_complete());
        let mut received = vec![0; text.len()];
        read_end.read_exact(&mut received).expect("read");
        assert_eq!(received, text.as_bytes());
    }

    #[test]
    fn writes_more_than_a_pipe_holds_to_a_reader() {
        let (mut read_end, write_end) = pipe();
        let child = sleeper(write_end);
        let text = report_text(300_000);
        let expected = text.len();
        let reader = std::thread::spawn(move || {
            let mut received = vec![0; expected];
            read_end.read_exact(&mut received).map(|()| received)
        });
        let outcome =
            write_to_target_stderr(child.0.id(), &text, Duration::from_secs(10)).expect("write");
        assert!(outcome.is_complete());
        let received = reader.join().expect("reader thread").expect("read");
        assert_eq!(received, text.as_bytes());
    }

    #[test]
    fn full_pipe_times_out_without_blocking_or_changing_flags() {
        let (_read_end, write_end) = pipe();
        fill_pipe(&write_end);
        let shared = write_end.try_clone().expect("dup");
        let child = sleeper(write_end);
        let started = Instant::now();
        let outcome = write_to_target_stderr(
            child.0.id(),
            &report_text(20_000),
            Duration::from_millis(200),
        )
        .expect("write");
        let elapsed = started.elapsed();
        assert_eq!(outcome.written, 0);
        assert_eq!(outcome.total, 20_000);
        assert!(!outcome.is_complete());
        assert!(elapsed >= Duration::from_millis(190), "{elapsed:?}");
        assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
        assert!(!status_flags(shared.as_fd()).contains(rustix::fs::OFlags::NONBLOCK));
    }

    #[test]
    fn nearly_full_pipe_gets_a_partial_write() {
        let (mut read_end, write_end) = pipe();
        fill_pipe(&write_end);
        let mut drained = vec![0; 3 * 4096];
        read_end.read_exact(&mut drained).expect("drain");
        let child = sleeper(write_end);
        let text = report_text(200_000);
        let outcome =
            write_to_target_stderr(child.0.id(), &text, Duration::from_millis(200)).expect("write");
        assert!(
            outcome.written > 0 && outcome.written < text.len(),
            "{outcome:?}"
        );
        // What did get through is a prefix of the text, after the filler.
        set_status_flags(read_end.as_fd(), rustix::fs::OFlags::NONBLOCK);
        let mut pipe_contents = Vec::new();
        let _ = read_end.read_to_end(&mut pipe_contents);
        assert!(pipe_contents.ends_with(&text.as_bytes()[..outcome.written]));
    }

    #[test]
    fn polled_fallback_on_a_shared_blocking_pipe_honours_the_deadline() {
        let (_read_end, write_end) = pipe();
        fill_pipe(&write_end);
        let started = Instant::now();
        let written = write_polled(
            write_end.as_fd(),
            b"hello\n",
            Instant::now() + Duration::from_millis(100),
        )
        .expect("no error");
        assert_eq!(written, 0);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn polled_fallback_writes_when_there_is_room() {
        let (mut read_end, write_end) = pipe();
        let text = report_text(9_000);
        let written = write_polled(
            write_end.as_fd(),
            text.as_bytes(),
            Instant::now() + Duration::from_secs(5),
        )
        .expect("write");
        assert_eq!(written, text.len());
        let mut received = vec![0; text.len()];
        read_end.read_exact(&mut received).expect("read");
        assert_eq!(received, text.as_bytes());
    }

    #[test]
    fn reopening_gives_a_private_description() {
        let (_read_end, write_end) = pipe();
        let reopened = reopen_nonblocking(write_end.as_fd()).expect("reopen pipe");
        assert!(status_flags(reopened.as_fd()).contains(rustix::fs::OFlags::NONBLOCK));
        assert!(!status_flags(write_end.as_fd()).contains(rustix::fs::OFlags::NONBLOCK));
    }

    #[test]
    fn writes_to_a_terminal() {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .expect("posix_openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let mut master = File::from(master);
        let slave = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(std::ffi::OsStr::from_bytes(name.as_bytes()))
            .expect("open pty slave");
        let child = sleeper(slave);
        let outcome =
            write_to_target_stderr(child.0.id(), "hello\n", Duration::from_secs(5)).expect("write");
        assert!(outcome.is_complete());
        // The line discipline turns "\n" into "\r\n" on the way out.
        let mut received = [0; 7];
        master.read_exact(&mut received).expect("read pty");
        assert_eq!(&received, b"hello\r\n");
    }

    #[test]
    fn writes_to_a_socket() {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        let child = sleeper(OwnedFd::from(theirs));
        let text = report_text(5_000);
        let outcome =
            write_to_target_stderr(child.0.id(), &text, Duration::from_secs(5)).expect("write");
        assert!(outcome.is_complete());
        let mut received = vec![0; text.len()];
        (&ours).read_exact(&mut received).expect("read");
        assert_eq!(received, text.as_bytes());
    }

    #[test]
    fn full_socket_times_out_without_changing_flags() {
        let (_ours, theirs) = UnixStream::pair().expect("socketpair");
        while send_dontwait(theirs.as_fd(), &[b'x'; 4096]).is_ok() {}
        let shared = theirs.try_clone().expect("dup");
        let child = sleeper(OwnedFd::from(theirs));
        let started = Instant::now();
        let outcome = write_to_target_stderr(child.0.id(), "hello\n", Duration::from_millis(200))
            .expect("write");
        assert_eq!(outcome.written, 0);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!status_flags(shared.as_fd()).contains(rustix::fs::OFlags::NONBLOCK));
    }

    #[test]
    fn closed_stderr_is_a_clear_error() {
        // The shell closes its own fd 2 and then waits on stdin, so there is
        // no exec (and no dynamic loader briefly reusing fd 2) after "ready".
        let mut child = Command::new("sh")
            .args(["-c", "exec 2>&-; echo ready; read line"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn sh");
        let mut ready = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut ready)
            .expect("read ready");
        assert_eq!(ready, "ready\n");
        let pid = child.id();
        let _child = Reaped(child);
        let error = write_to_target_stderr(pid, "hello\n", Duration::from_secs(1))
            .expect_err("fd 2 is closed");
        assert!(
            matches!(error, StderrError::NoStderr { pid: p } if p == pid),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            format!("process {pid} has no stderr (fd 2 is closed)")
        );
    }

    #[test]
    fn exited_process_is_a_clear_error() {
        let mut child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        child.wait().expect("wait");
        let error = write_to_target_stderr(pid, "hello\n", Duration::from_secs(1))
            .expect_err("process is gone");
        assert!(matches!(error, StderrError::Exited { .. }), "{error:?}");
        assert_eq!(error.to_string(), format!("process {pid} has exited"));
    }

    #[test]
    fn zombie_process_counts_as_exited() {
        let child = Command::new("true").spawn().expect("spawn true");
        let pid = child.id();
        let _child = Reaped(child);
        let stat_path = format!("/proc/{pid}/stat");
        let became_zombie = (0..500).any(|_| {
            let state = std::fs::read_to_string(&stat_path).unwrap_or_default();
            let zombie = state
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z'));
            if !zombie {
                std::thread::sleep(Duration::from_millis(10));
            }
            zombie
        });
        assert!(became_zombie);
        let error = write_to_target_stderr(pid, "hello\n", Duration::from_secs(1))
            .expect_err("zombie has no files");
        assert!(matches!(error, StderrError::Exited { .. }), "{error:?}");
    }

    #[test]
    fn impossible_pid_is_exited() {
        let error = write_to_target_stderr(u32::MAX, "x", Duration::from_millis(10))
            .expect_err("no such pid");
        assert!(matches!(error, StderrError::Exited { pid: u32::MAX }));
    }

    #[test]
    fn chunks_end_after_newlines() {
        let mut text = vec![b'a'; 5000];
        text[99] = b'\n';
        text[4000] = b'\n';
        assert_eq!(chunk_len(&text), 4001);
        assert_eq!(chunk_len(&text[..300]), 300);
        assert_eq!(chunk_len(&[b'a'; 5000]), PIPE_BUF);
    }

    #[test]
    fn empty_text_is_complete() {
        let (_read_end, write_end) = pipe();
        let child = sleeper(write_end);
        let outcome =
            write_to_target_stderr(child.0.id(), "", Duration::from_millis(10)).expect("write");
        assert!(outcome.is_complete());
    }
}
