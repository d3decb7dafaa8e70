//! The few syscalls tests make themselves (signals to their own children,
//! "touch"), through rustix so no test needs `unsafe` for them.

use std::{io, path::Path};

pub use rustix::process::Signal;
use rustix::{
    fs::{AtFlags, CWD, Timespec, Timestamps, UTIME_NOW},
    process::{Pid, kill_process},
};

/// Sends `signal` to process `pid` (a child the test started).
pub fn send_signal(pid: u32, signal: Signal) -> io::Result<()> {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("no pid {pid}")))?;
    Ok(kill_process(pid, signal)?)
}

/// Sets `path`'s access and modification times to now, as `touch` does
/// (which changes its ctime, the file trigger's event).
pub fn touch_now(path: &Path) -> io::Result<()> {
    let now = Timespec {
        tv_sec: 0,
        tv_nsec: UTIME_NOW,
    };
    let times = Timestamps {
        last_access: now,
        last_modification: now,
    };
    Ok(rustix::fs::utimensat(CWD, path, &times, AtFlags::empty())?)
}
