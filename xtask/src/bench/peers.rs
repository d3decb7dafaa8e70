//! The tools gmr is compared with, each taking every thread's backtrace of
//! a running process: gdb (ptrace, stops the process) and eu-stack
//! (elfutils, ptrace too).

use std::{process::Command, time::Duration};

use anyhow::Result;

use super::timing::run_timed;

/// A peer tool.
#[derive(Clone, Copy, Debug)]
pub enum Peer {
    /// `gdb -batch -ex 'thread apply all bt' -p PID`.
    Gdb,
    /// `eu-stack -p PID`.
    EuStack,
}

impl Peer {
    /// Every peer, in table order.
    pub const ALL: [Peer; 2] = [Peer::Gdb, Peer::EuStack];

    /// The name in the table.
    pub fn name(self) -> &'static str {
        match self {
            Peer::Gdb => "gdb",
            Peer::EuStack => "eu-stack",
        }
    }

    /// Takes every thread's backtrace of `pid` once; `None` on timeout.
    pub fn backtraces(self, pid: u32, timeout: Duration) -> Result<Option<Duration>> {
        let pid = pid.to_string();
        let mut command = match self {
            Peer::Gdb => {
                let mut gdb = Command::new("gdb");
                gdb.args(["-nx", "-batch", "-iex", "set debuginfod enabled off"])
                    .args(["-ex", "thread apply all bt", "-p", &pid]);
                gdb
            }
            Peer::EuStack => {
                let mut eu_stack = Command::new("eu-stack");
                eu_stack.args(["-p", &pid]);
                eu_stack
            }
        };
        // No network lookups of debug info in either tool.
        command.env_remove("DEBUGINFOD_URLS");
        run_timed(&mut command, timeout)
    }
}
