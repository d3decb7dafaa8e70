//! Boots one kernel in QEMU (TCG: no KVM needed) with the initramfs and
//! collects the serial console, each line stamped with when it arrived.

use std::{
    fs,
    io::{BufRead as _, BufReader},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

/// The QEMU binary.
pub const QEMU: &str = "qemu-system-x86_64";

/// The kernel command line: the console on the serial port, the BPF LSM
/// enabled after Debian's default ones, and a panic ends the VM at once.
const CMDLINE: &str =
    "console=ttyS0 quiet lsm=lockdown,capability,landlock,yama,apparmor,bpf panic=-1";

/// One line of the guest's console and when it arrived.
#[derive(Clone, Debug)]
pub struct Line {
    /// Time since QEMU started.
    pub at: Duration,
    /// The line, without its line ending.
    pub text: String,
}

/// What one boot printed.
#[derive(Debug)]
pub struct Console {
    /// Every line, in order.
    pub lines: Vec<Line>,
    /// True when the host stopped QEMU because it ran past the timeout.
    pub timed_out: bool,
}

/// Boots `vmlinuz` with `initramfs`, waits up to `timeout` for it to power
/// off, and writes the console to `log`.
pub fn boot(vmlinuz: &Path, initramfs: &Path, timeout: Duration, log: &Path) -> Result<Console> {
    let start = Instant::now();
    let mut child = Command::new(QEMU)
        .args(["-accel", "tcg", "-cpu", "max", "-m", "1G", "-smp", "1"])
        .args([
            "-nodefaults",
            "-display",
            "none",
            "-serial",
            "stdio",
            "-no-reboot",
        ])
        .arg("-kernel")
        .arg(vmlinuz)
        .arg("-initrd")
        .arg(initramfs)
        .args(["-append", CMDLINE])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .with_context(|| format!("cannot start {QEMU}"))?;
    let stdout = child.stdout.take().context("qemu stdout")?;
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).split(b'\n').map_while(Result::ok) {
            let text = String::from_utf8_lossy(&line)
                .trim_end_matches('\r')
                .to_owned();
            if tx
                .send(Line {
                    at: start.elapsed(),
                    text,
                })
                .is_err()
            {
                break;
            }
        }
    });
    let mut lines = Vec::new();
    let mut timed_out = false;
    loop {
        let left = timeout.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) => lines.push(line),
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                timed_out = true;
                let _ = child.kill();
                break;
            }
        }
    }
    let _ = child.wait();
    let text: String = lines
        .iter()
        .map(|l| format!("[{:7.3}] {}\n", l.at.as_secs_f64(), l.text))
        .collect();
    fs::write(log, text).with_context(|| format!("writing {}", log.display()))?;
    Ok(Console { lines, timed_out })
}

/// True when QEMU runs on this machine.
pub fn available() -> bool {
    crate::cmd::succeeds(Command::new(QEMU).arg("--version"))
}
