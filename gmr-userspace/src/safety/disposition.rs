//! What the trigger signal would do to a process: its default action, the
//! process's disposition for it (`SigCgt`/`SigIgn` in `/proc/PID/status`),
//! and from both, whether sending it is safe.
//!
//! Without the guard the kernel cannot refuse the signal, so a tagged
//! process that neither catches nor ignores a signal whose default action
//! terminates (or stops) it would be harmed by `kill -USR2`. The agent
//! warns about such processes and `gmr-agent list` shows them.

use serde::{Deserialize, Serialize};

use crate::safety::signal::name as signal_name;

/// What the kernel does with a signal the process left at `SIG_DFL`
/// (signal(7)).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Terminate the process.
    Terminate,
    /// Terminate the process and dump core.
    CoreDump,
    /// Stop the process.
    Stop,
    /// Nothing.
    Ignore,
    /// Continue the process if stopped.
    Continue,
}

impl DefaultAction {
    /// The default action of `signal` on Linux (real-time signals
    /// terminate).
    pub fn of(signal: u32) -> Self {
        match signal as i32 {
            libc::SIGQUIT
            | libc::SIGILL
            | libc::SIGTRAP
            | libc::SIGABRT
            | libc::SIGBUS
            | libc::SIGFPE
            | libc::SIGSEGV
            | libc::SIGXCPU
            | libc::SIGXFSZ
            | libc::SIGSYS => Self::CoreDump,
            libc::SIGSTOP | libc::SIGTSTP | libc::SIGTTIN | libc::SIGTTOU => Self::Stop,
            libc::SIGCHLD | libc::SIGURG | libc::SIGWINCH => Self::Ignore,
            libc::SIGCONT => Self::Continue,
            _ => Self::Terminate,
        }
    }

    /// True when a process that leaves the signal at its default is killed
    /// or stopped by it.
    pub fn harms(self) -> bool {
        matches!(self, Self::Terminate | Self::CoreDump | Self::Stop)
    }

    /// `kill` or `stop`: what a harmful default does to the process, for
    /// messages.
    pub fn verb(self) -> &'static str {
        match self {
            Self::Stop => "stop",
            _ => "kill",
        }
    }
}

/// A process's disposition for one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// A handler is installed (`SigCgt`).
    Caught,
    /// Set to `SIG_IGN` (`SigIgn`).
    Ignored,
    /// Left at `SIG_DFL`.
    Default,
}

impl Disposition {
    /// The disposition for `signal` given the caught and ignored masks of
    /// `/proc/PID/status` (bit `signal - 1`).
    pub fn from_masks(caught: u64, ignored: u64, signal: u32) -> Self {
        let bit = 1u64.checked_shl(signal.wrapping_sub(1)).unwrap_or(0);
        if caught & bit != 0 {
            Self::Caught
        } else if ignored & bit != 0 {
            Self::Ignored
        } else {
            Self::Default
        }
    }

    /// The disposition of process `pid` for `signal`, read from
    /// `/proc/PID/status`.
    pub fn of_process(pid: u32, signal: u32) -> Result<Self, String> {
        let status = procfs::process::Process::new(pid as i32)
            .and_then(|p| p.status())
            .map_err(|e| format!("cannot read /proc/{pid}/status: {e}"))?;
        Ok(Self::from_masks(status.sigcgt, status.sigign, signal))
    }
}

/// Whether sending the trigger signal to a process is safe, as
/// `gmr-agent list` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SignalSafety {
    /// The process catches the signal: its own handler runs too.
    Handled,
    /// The process ignores the signal.
    Ignored,
    /// The signal's default action does nothing to the process.
    Harmless,
    /// The default would harm it, but the guard refuses the signal (and
    /// the report is still made).
    Guarded,
    /// The default would kill or stop it, and nothing refuses the signal.
    Unsafe,
    /// The disposition could not be read (the process is gone).
    Unknown,
}

/// What the agent can do about the trigger signal's default action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SignalPolicy {
    /// The trigger signal.
    pub signal: u32,
    /// True when the guard is attached and refuses the signal to a process
    /// it would harm.
    pub guarded: bool,
}

impl SignalPolicy {
    /// How safe the trigger signal is for a process with `disposition`.
    pub fn safety(&self, disposition: Disposition) -> SignalSafety {
        match disposition {
            Disposition::Caught => SignalSafety::Handled,
            Disposition::Ignored => SignalSafety::Ignored,
            Disposition::Default if !DefaultAction::of(self.signal).harms() => {
                SignalSafety::Harmless
            }
            Disposition::Default if self.guarded => SignalSafety::Guarded,
            Disposition::Default => SignalSafety::Unsafe,
        }
    }

    /// [`Self::safety`] for process `pid`, with a one-line explanation.
    pub fn of_process(&self, pid: u32) -> (SignalSafety, String) {
        match Disposition::of_process(pid, self.signal) {
            Ok(disposition) => {
                let safety = self.safety(disposition);
                (safety, self.explain(safety))
            }
            Err(e) => (SignalSafety::Unknown, e),
        }
    }

    /// One line on what the trigger signal does to a process of `safety`.
    pub fn explain(&self, safety: SignalSafety) -> String {
        let name = signal_name(self.signal);
        let action = DefaultAction::of(self.signal);
        match safety {
            SignalSafety::Handled => format!("handles {name}"),
            SignalSafety::Ignored => format!("ignores {name}"),
            SignalSafety::Harmless => format!("{name} is ignored by default"),
            SignalSafety::Guarded => format!("guarded: {name} is refused and reported"),
            SignalSafety::Unsafe => format!(
                "{name} WOULD {} IT: use {}",
                action.verb().to_uppercase(),
                self.alternatives()
            ),
            SignalSafety::Unknown => "disposition unknown".to_owned(),
        }
    }

    /// The safe ways to ask for a report when the signal is unsafe.
    pub fn alternatives(&self) -> &'static str {
        "`gmr-agent trigger`, the tag's trigger file, or a trigger signal ignored by default (--signal SIGURG)"
    }
}

#[cfg(test)]
mod tests {
    use std::process::{Child, Command, Stdio};

    use super::*;

    const USR2: u32 = libc::SIGUSR2 as u32;

    #[test]
    fn default_actions_follow_signal_7() {
        assert_eq!(DefaultAction::of(USR2), DefaultAction::Terminate);
        assert_eq!(
            DefaultAction::of(libc::SIGQUIT as u32),
            DefaultAction::CoreDump
        );
        assert_eq!(DefaultAction::of(libc::SIGTSTP as u32), DefaultAction::Stop);
        assert_eq!(
            DefaultAction::of(libc::SIGURG as u32),
            DefaultAction::Ignore
        );
        assert_eq!(
            DefaultAction::of(libc::SIGCONT as u32),
            DefaultAction::Continue
        );
        assert_eq!(
            DefaultAction::of(libc::SIGRTMIN() as u32 + 3),
            DefaultAction::Terminate
        );
        assert!(DefaultAction::of(USR2).harms());
        assert!(DefaultAction::of(libc::SIGTTIN as u32).harms());
        assert!(!DefaultAction::of(libc::SIGWINCH as u32).harms());
    }

    #[test]
    fn masks_give_the_disposition_of_the_right_bit() {
        // SigCgt of a typical Python process: SIGINT (2) caught.
        let caught = 0x0000_0001_8000_0002;
        assert_eq!(
            Disposition::from_masks(caught, 0, libc::SIGINT as u32),
            Disposition::Caught
        );
        assert_eq!(
            Disposition::from_masks(caught, 0, USR2),
            Disposition::Default
        );
        assert_eq!(
            Disposition::from_masks(0, 1 << (USR2 - 1), USR2),
            Disposition::Ignored
        );
        assert_eq!(
            Disposition::from_masks(1 << (USR2 - 1), 1 << (USR2 - 1), USR2),
            Disposition::Caught,
            "a handler wins over a stale ignore bit"
        );
        assert_eq!(
            Disposition::from_masks(u64::MAX, 0, 64),
            Disposition::Caught
        );
        assert_eq!(
            Disposition::from_masks(u64::MAX, u64::MAX, 0),
            Disposition::Default,
            "signal 0 has no bit"
        );
    }

    #[test]
    fn safety_depends_on_disposition_default_action_and_guard() {
        let bare = SignalPolicy {
            signal: USR2,
            guarded: false,
        };
        let guarded = SignalPolicy {
            guarded: true,
            ..bare
        };
        let urg = SignalPolicy {
            signal: libc::SIGURG as u32,
            guarded: false,
        };
        assert_eq!(bare.safety(Disposition::Default), SignalSafety::Unsafe);
        assert_eq!(guarded.safety(Disposition::Default), SignalSafety::Guarded);
        assert_eq!(bare.safety(Disposition::Caught), SignalSafety::Handled);
        assert_eq!(guarded.safety(Disposition::Ignored), SignalSafety::Ignored);
        assert_eq!(urg.safety(Disposition::Default), SignalSafety::Harmless);
        let warning = bare.explain(SignalSafety::Unsafe);
        assert!(
            warning.starts_with("SIGUSR2 WOULD KILL IT: use `gmr-agent trigger`")
                && warning.contains("SIGURG"),
            "{warning}"
        );
        let tstp = SignalPolicy {
            signal: libc::SIGTSTP as u32,
            guarded: false,
        };
        assert!(
            tstp.explain(SignalSafety::Unsafe)
                .starts_with("SIGTSTP WOULD STOP IT")
        );
        assert_eq!(bare.explain(SignalSafety::Handled), "handles SIGUSR2");
    }

    /// A shell that sets its SIGUSR2 disposition with `trap`, then waits.
    fn shell_with_trap(trap: &str) -> Child {
        Command::new("sh")
            .args(["-c", &format!("{trap} echo ready; read _")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("sh")
    }

    /// Waits until the child printed its first line.
    fn wait_ready(child: &mut Child) {
        use std::io::BufRead as _;
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.as_mut().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert_eq!(line, "ready\n");
    }

    #[test]
    fn reads_live_processes_dispositions() {
        let bare = SignalPolicy {
            signal: USR2,
            guarded: false,
        };
        for (trap, expected) in [
            ("", SignalSafety::Unsafe),
            ("trap '' USR2;", SignalSafety::Ignored),
            ("trap 'echo got' USR2;", SignalSafety::Handled),
        ] {
            let mut child = shell_with_trap(trap);
            wait_ready(&mut child);
            let (safety, note) = bare.of_process(child.id());
            assert_eq!(safety, expected, "{trap:?}: {note}");
            drop(child.stdin.take());
            child.wait().unwrap();
        }
        let (safety, note) = bare.of_process(u32::MAX - 1);
        assert_eq!(safety, SignalSafety::Unknown);
        assert!(note.contains("cannot read /proc/"), "{note}");
    }
}
