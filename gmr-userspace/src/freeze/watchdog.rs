//! The freeze watchdog: a separate process that thaws a frozen cgroup when
//! the agent does not say it is done in time, or dies before it does.
//!
//! The agent re-executes its own binary (`/proc/self/exe freeze-watchdog`)
//! in a process group of its own, so a terminal's Ctrl-C or a signal to the
//! agent's group does not take it along. The two talk over the child's
//! stdin and stdout:
//!
//! - the watchdog opens `cgroup.freeze`, then writes `r` (ready);
//! - the agent freezes, captures, thaws, then writes `d` (done);
//! - the watchdog exits at once on `d`; on end of file (the agent died, even
//!   by SIGKILL) it thaws at once; at its deadline it thaws, writes `t`
//!   (thawed) and exits.

use std::{
    fs::OpenOptions,
    io::{self, Write as _},
    os::{
        fd::{AsFd as _, BorrowedFd},
        unix::process::CommandExt as _,
    },
    path::Path,
    process::{Child, ChildStdin, ChildStdout, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};
use rustix::{
    event::{PollFd, PollFlags, Timespec},
    io::Errno,
};

/// The hidden subcommand that runs [`run`].
pub const SUBCOMMAND: &str = "freeze-watchdog";

/// How long a finished watchdog may take to exit.
const EXIT_TIMEOUT: Duration = Duration::from_secs(1);

/// The watchdog holds `cgroup.freeze` open and waits.
const READY: u8 = b'r';
/// The agent has thawed the cgroup itself.
const DONE: u8 = b'd';
/// The deadline passed and the watchdog thawed the cgroup.
const THAWED: u8 = b't';

/// How long the agent waits for a new watchdog to be ready.
const START_TIMEOUT: Duration = Duration::from_secs(2);

/// A running watchdog, seen from the agent.
pub struct Watchdog {
    child: Child,
    done: Option<ChildStdin>,
    answers: ChildStdout,
}

impl Watchdog {
    /// Starts a watchdog that writes `0` to `freeze_file` `deadline` from
    /// now, or as soon as this process goes away; returns once it is ready.
    pub fn start(freeze_file: &Path, deadline: Duration) -> Result<Self> {
        let mut child = Command::new("/proc/self/exe")
            .arg0("gmr-agent")
            .arg(SUBCOMMAND)
            .arg("--freeze-file")
            .arg(freeze_file)
            .arg("--deadline-ms")
            .arg(deadline.as_millis().to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .process_group(0)
            .spawn()
            .context("cannot start the freeze watchdog (/proc/self/exe)")?;
        let done = child.stdin.take();
        let answers = child.stdout.take().expect("stdout is piped");
        let mut watchdog = Self {
            child,
            done,
            answers,
        };
        match read_byte(watchdog.answers.as_fd(), START_TIMEOUT) {
            Ok(Some(READY)) => Ok(watchdog),
            Ok(_) => {
                let status = watchdog.child.wait()?;
                bail!("the freeze watchdog exited before it was ready ({status})")
            }
            Err(e) => {
                let _ = watchdog.child.kill();
                Err(e).context("the freeze watchdog did not become ready")
            }
        }
    }

    /// Tells the watchdog the cgroup is thawed and waits for it to exit;
    /// returns true when it had already thawed it at its deadline.
    pub fn finish(mut self) -> bool {
        if let Some(mut done) = self.done.take() {
            let _ = done.write_all(&[DONE]);
        }
        let mut thawed = false;
        while let Ok(Some(byte)) = read_byte(self.answers.as_fd(), EXIT_TIMEOUT) {
            thawed |= byte == THAWED;
        }
        thawed
    }
}

impl Drop for Watchdog {
    /// Closing its stdin unfinished makes the watchdog thaw at once; then it
    /// is reaped.
    fn drop(&mut self) {
        self.done.take();
        let until = Instant::now() + EXIT_TIMEOUT;
        while matches!(self.child.try_wait(), Ok(None)) {
            if Instant::now() >= until {
                // Stuck (stopped by someone?): do not hang the agent on it.
                let _ = self.child.kill();
                let _ = self.child.wait();
                return;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

/// The watchdog process: holds `freeze_file` open, says it is ready, and
/// thaws the cgroup at `deadline` or when its stdin closes without the
/// agent's done byte.
pub fn run(freeze_file: &Path, deadline: Duration) -> Result<()> {
    let started = Instant::now();
    for signal in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGPIPE] {
        // SAFETY: setting a disposition to SIG_IGN is always sound. The
        // watchdog lives at most `deadline` and must outlive a stopped agent.
        unsafe { libc::signal(signal, libc::SIG_IGN) };
    }
    let mut freeze = OpenOptions::new()
        .write(true)
        .open(freeze_file)
        .with_context(|| format!("cannot open {} for writing", freeze_file.display()))?;
    let mut stdout = io::stdout().lock();
    stdout.write_all(&[READY])?;
    stdout.flush()?;
    let stdin = io::stdin();
    let why = match read_byte(stdin.as_fd(), deadline.saturating_sub(started.elapsed())) {
        Ok(Some(DONE)) => return Ok(()),
        Ok(Some(byte)) => format!("the agent sent {byte:#04x} instead of done"),
        Ok(None) => "the agent went away while the cgroup was frozen".to_owned(),
        Err(e) if e.kind() == io::ErrorKind::TimedOut => {
            format!("the deadline of {} ms passed", deadline.as_millis())
        }
        Err(e) => format!("reading from the agent failed: {e}"),
    };
    freeze
        .write_all(b"0")
        .with_context(|| format!("{why}, and thawing {} failed", freeze_file.display()))?;
    log::warn!("freeze watchdog: {why}; thawed {}", freeze_file.display());
    // The agent may be gone (EPIPE, ignored): the thaw is what matters.
    let _ = stdout.write_all(&[THAWED]).and_then(|()| stdout.flush());
    Ok(())
}

/// Reads one byte from `fd` within `timeout`: `None` at end of file, a
/// `TimedOut` error when nothing came.
fn read_byte(fd: BorrowedFd<'_>, timeout: Duration) -> io::Result<Option<u8>> {
    let until = Instant::now() + timeout;
    loop {
        let left = until.saturating_duration_since(Instant::now());
        let mut poll = [PollFd::new(&fd, PollFlags::IN)];
        let wait = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        match rustix::event::poll(&mut poll, Some(&wait)) {
            Ok(0) => return Err(io::ErrorKind::TimedOut.into()),
            Ok(_) => {
                let mut byte = [0u8];
                match rustix::io::read(fd, &mut byte) {
                    Ok(1) => return Ok(Some(byte[0])),
                    Ok(_) => return Ok(None),
                    Err(Errno::INTR) => {}
                    Err(errno) => return Err(errno.into()),
                }
            }
            Err(Errno::INTR) => {}
            Err(errno) => return Err(errno.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_byte_sees_bytes_end_of_file_and_silence() {
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        let silent = read_byte(reader.as_fd(), Duration::from_millis(20)).unwrap_err();
        assert_eq!(silent.kind(), io::ErrorKind::TimedOut);
        assert_eq!(rustix::io::write(&writer, &[DONE]).unwrap(), 1);
        assert_eq!(
            read_byte(reader.as_fd(), Duration::from_secs(1)).unwrap(),
            Some(DONE)
        );
        drop(writer);
        assert_eq!(
            read_byte(reader.as_fd(), Duration::from_secs(1)).unwrap(),
            None
        );
    }
}
