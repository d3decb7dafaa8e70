//! Runs a fixture program and follows its stdout/stderr protocol.

mod stream;

use std::collections::HashMap;
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use crate::cgroup::TestCgroup;
use crate::fixtures::{CVariant, build_c_fixture};
use stream::Stream;

/// How long [`Fixture::spawn`] waits for the `ready` line.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// A running fixture process whose threads are all parked.
///
/// The fixture printed `ready pid=<pid> <role>=<tid> ...`; its later stdout
/// (`usr2 count=N` lines) and all of its stderr keep being collected.
/// Dropping it kills and reaps the process.
#[derive(Debug)]
pub struct Fixture {
    child: Child,
    pid: u32,
    tids: HashMap<String, u32>,
    stdout: Arc<Stream<Vec<String>>>,
    stderr: Arc<Stream<Vec<u8>>>,
}

impl Fixture {
    /// The parked C fixture built as `variant`, started with `args` in a
    /// cgroup of its own: the setup most agent tests start from.
    #[track_caller]
    pub fn parked_in_new_cgroup(variant: CVariant, args: &[&str]) -> (TestCgroup, Fixture) {
        let cgroup = TestCgroup::create();
        let fixture = Fixture::spawn(&build_c_fixture(variant), args, Some(&cgroup));
        (cgroup, fixture)
    }

    /// Starts `program` with `args` and waits up to [`READY_TIMEOUT`] for its
    /// `ready` line. With a `cgroup`, the child joins it before `exec`, so
    /// every thread it creates starts inside the group.
    #[track_caller]
    pub fn spawn(program: &Path, args: &[&str], cgroup: Option<&TestCgroup>) -> Fixture {
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(cgroup) = cgroup {
            join_cgroup_before_exec(&mut command, cgroup);
        }
        let mut child = spawn_when_not_busy(&mut command)
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        let stdout = Stream::lines(child.stdout.take().expect("stdout is piped"));
        let stderr = Stream::bytes(child.stderr.take().expect("stderr is piped"));
        let mut fixture = Fixture {
            child,
            pid: 0,
            tids: HashMap::new(),
            stdout,
            stderr,
        };

        let mut ready = None;
        fixture.stdout.wait_until(READY_TIMEOUT, |lines| {
            ready = lines.iter().find_map(|line| parse_ready(line));
            ready.is_some()
        });
        let Some((pid, tids)) = ready else {
            panic!(
                "{} printed no ready line within {READY_TIMEOUT:?}\nstdout:\n{}\nstderr:\n{}",
                program.display(),
                fixture.stdout.lock().data.join("\n"),
                fixture.stderr_contents()
            );
        };
        assert_eq!(pid, fixture.child.id(), "ready line names another pid");
        fixture.pid = pid;
        fixture.tids = tids;
        fixture
    }

    /// The fixture's process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The tid of the thread with `role` (e.g. `sleeper`); panics if the
    /// ready line did not name it.
    #[track_caller]
    pub fn tid(&self, role: &str) -> u32 {
        *self.tids.get(role).unwrap_or_else(|| {
            panic!(
                "fixture has no thread role {role:?}; it has {:?}",
                self.tids
            )
        })
    }

    /// Every thread role from the ready line, mapped to its tid.
    pub fn tids(&self) -> &HashMap<String, u32> {
        &self.tids
    }

    /// Sends signal `signal` (e.g. `libc::SIGUSR2`) to the process.
    #[track_caller]
    pub fn signal(&self, signal: libc::c_int) {
        let named = crate::syscalls::Signal::from_named_raw(signal)
            .unwrap_or_else(|| panic!("{signal} is not a named signal"));
        crate::syscalls::send_signal(self.pid, named)
            .unwrap_or_else(|e| panic!("kill({}, {signal}): {e}", self.pid));
    }

    /// The highest `usr2 count=N` the fixture has reported (0 if none).
    pub fn usr2_count(&self) -> u32 {
        latest_usr2_count(&self.stdout.lock().data)
    }

    /// Waits until the fixture reports `usr2 count=N` with `N >= count`;
    /// returns false if `timeout` passes (or the fixture exits) first.
    pub fn wait_for_usr2(&self, count: u32, timeout: Duration) -> bool {
        self.stdout
            .wait_until(timeout, |lines| latest_usr2_count(lines) >= count)
    }

    /// Every line the fixture wrote to stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.stdout.lock().data.clone()
    }

    /// Waits up to `timeout` for the process to exit and reaps it; its exit
    /// status, or `None` if it is still running.
    pub fn wait_for_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => return Some(status),
                Ok(None) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                _ => return None,
            }
        }
    }

    /// Whether the process is alive: it exists and is neither a zombie nor
    /// dead (see [`is_alive`]).
    pub fn is_alive(&self) -> bool {
        is_alive(self.pid)
    }

    /// Waits until the fixture has printed `count` stdout lines starting
    /// with `prefix` and returns the last of them; `None` if `timeout`
    /// passes (or the fixture exits) first.
    pub fn wait_for_stdout_line(
        &self,
        prefix: &str,
        count: usize,
        timeout: Duration,
    ) -> Option<String> {
        let index = count.checked_sub(1)?;
        let mut found = None;
        self.stdout.wait_until(timeout, |lines| {
            found = lines
                .iter()
                .filter(|line| line.starts_with(prefix))
                .nth(index)
                .cloned();
            found.is_some()
        });
        found
    }

    /// Everything the fixture wrote to stderr so far, decoded lossily.
    pub fn stderr_contents(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().data).into_owned()
    }

    /// Waits until the fixture's stderr contains `needle`; returns false if
    /// `timeout` passes (or stderr is closed) first.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let needle = needle.as_bytes();
        self.stderr.wait_until(timeout, |data| {
            needle.is_empty() || data.windows(needle.len()).any(|w| w == needle)
        })
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        // Errors only mean the process is already gone.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether process `pid` exists and is neither a zombie nor dead, from the
/// state letter in `/proc/PID/stat`.
pub fn is_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the parenthesized comm, which may hold spaces.
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    !matches!(state, None | Some('Z' | 'X' | 'x'))
}

/// Makes the child write `0` (itself) to the group's `cgroup.procs` between
/// fork and exec, so no instruction of the program runs outside the group.
pub fn join_cgroup_before_exec(command: &mut Command, cgroup: &TestCgroup) {
    let procs = cgroup.path().join("cgroup.procs");
    let procs = CString::new(procs.as_os_str().as_bytes()).expect("cgroup path has no NUL");
    // SAFETY: the hook only calls async-signal-safe open/write/close on
    // memory allocated before the fork.
    unsafe {
        command.pre_exec(move || {
            let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if fd < 0 {
                return Err(std::io::Error::last_os_error());
            }
            let written = libc::write(fd, b"0".as_ptr().cast(), 1);
            let result = if written == 1 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            };
            libc::close(fd);
            result
        });
    }
}

/// Parses `ready pid=<pid> <role>=<tid> ...` into the pid and the role map.
fn parse_ready(line: &str) -> Option<(u32, HashMap<String, u32>)> {
    let mut fields = line.strip_prefix("ready ")?.split_whitespace();
    let pid = fields.next()?.strip_prefix("pid=")?.parse().ok()?;
    let tids = fields
        .map(|field| {
            let (role, tid) = field.split_once('=')?;
            Some((role.to_owned(), tid.parse().ok()?))
        })
        .collect::<Option<_>>()?;
    Some((pid, tids))
}

/// The highest N among `usr2 count=N` lines, or 0.
fn latest_usr2_count(lines: &[String]) -> u32 {
    lines
        .iter()
        .filter_map(|line| line.strip_prefix("usr2 count=")?.trim().parse().ok())
        .max()
        .unwrap_or(0)
}

/// Spawns `command`, retrying for up to a second while exec fails with
/// ETXTBSY: a program file just written by a test (a copy of a fixture) can
/// still be open for writing in a child another test thread forked
/// meanwhile, until that child execs.
pub fn spawn_when_not_busy(command: &mut Command) -> std::io::Result<Child> {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                attempts += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            result => return result,
        }
    }
}

/// Resident memory of process `pid` right now, in KiB, from
/// `/proc/PID/smaps_rollup`: exact, where `VmRSS` may lag behind a large
/// free by a while. `None` when it cannot be read.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    rollup
        .lines()
        .find_map(|line| line.strip_prefix("Rss:"))
        .and_then(|v| v.trim().strip_suffix(" kB")?.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ready_line() {
        let (pid, tids) =
            parse_ready("ready pid=10 sleeper=11 reader=12 waiter=13 spinner=14 extra-0=15")
                .expect("valid ready line");
        assert_eq!(pid, 10);
        assert_eq!(tids.len(), 5);
        assert_eq!(tids["sleeper"], 11);
        assert_eq!(tids["extra-0"], 15);
        assert_eq!(parse_ready("usr2 count=1"), None);
        assert_eq!(parse_ready("ready pid=x"), None);
    }

    #[test]
    fn latest_usr2_count_takes_the_maximum() {
        let lines = ["ready pid=1", "usr2 count=1", "usr2 count=3"].map(String::from);
        assert_eq!(latest_usr2_count(&lines), 3);
        assert_eq!(latest_usr2_count(&[]), 0);
    }
}
