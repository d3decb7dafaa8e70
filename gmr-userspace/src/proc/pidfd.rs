//! pidfds: a handle on another process that outlives a reused pid, polls
//! readable once the process has exited, and lends its file descriptors.
//! Opened through `rustix`, so no raw syscall is spelled out here.

use std::{
    io,
    os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd},
    time::Duration,
};

use rustix::{
    event::{PollFd, PollFlags, Timespec},
    process::{Pid, PidfdFlags, PidfdGetfdFlags},
};

/// A pidfd on process `pid`. A process that does not exist fails with
/// `ESRCH`, as does a pid that cannot name one (0 or beyond `pid_t`).
///
/// # Errors
///
/// What `pidfd_open` says (`ENOSYS` before Linux 5.3).
pub fn open(pid: u32) -> io::Result<OwnedFd> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ESRCH))?;
    Ok(rustix::process::pidfd_open(pid, PidfdFlags::empty())?)
}

/// A close-on-exec copy, in this process, of file descriptor `fd` of the
/// process behind `pidfd`.
///
/// # Errors
///
/// What `pidfd_getfd` says: `EBADF` when the process has no such fd,
/// `EPERM` when ptrace access is refused, `ESRCH` when it has exited.
pub fn copy_fd(pidfd: BorrowedFd<'_>, fd: RawFd) -> io::Result<OwnedFd> {
    Ok(rustix::process::pidfd_getfd(
        pidfd,
        fd,
        PidfdGetfdFlags::empty(),
    )?)
}

/// True when the process behind `pidfd` has exited (its pidfd polls
/// readable), waiting up to `wait` for it to.
pub fn has_exited(pidfd: impl AsFd, wait: Duration) -> bool {
    let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
    let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
        tv_sec: i64::MAX,
        tv_nsec: 0,
    });
    rustix::event::poll(&mut fds, Some(&timeout))
        .is_ok_and(|ready| ready > 0 && fds[0].revents().contains(PollFlags::IN))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sees_a_child_exit_and_refuses_a_pid_that_names_none() {
        let mut child = std::process::Command::new("sleep")
            .arg("0.2")
            .spawn()
            .unwrap();
        let pidfd = open(child.id()).unwrap();
        assert!(!has_exited(&pidfd, Duration::ZERO), "sleep is running");
        assert!(has_exited(&pidfd, Duration::from_secs(5)), "sleep ends");
        child.wait().unwrap();
        for pid in [0, u32::MAX] {
            let error = open(pid).unwrap_err();
            assert_eq!(error.raw_os_error(), Some(libc::ESRCH), "pid {pid}");
        }
        let own = open(std::process::id()).unwrap();
        let copy = copy_fd(own.as_fd(), 2).unwrap();
        assert!(rustix::fs::fstat(&copy).is_ok());
    }
}
