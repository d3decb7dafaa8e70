//! `cargo xtask vm-test`: the kernel matrix. Boots Debian's cloud kernels
//! (6.1 from bookworm, 6.12 from trixie, the newest of each, cached under
//! `target/vm/`) in QEMU with the BPF LSM enabled, runs `gmr-agent check`
//! and the signal guard tests inside (`init.sh`), and prints a table per
//! kernel. Each guest's console is kept in `target/vm/<package>.log`.

mod cpio;
mod debian;
mod initramfs;
mod kernels;
mod qemu;
mod results;

use std::{path::Path, time::Duration};

use anyhow::{Result, bail};

use crate::{build, cmd, packages};
use results::KernelRun;

/// How long one guest may take to boot, test and power off (a run takes
/// about 15 s; TCG on a busy machine can be several times slower).
const GUEST_TIMEOUT: Duration = Duration::from_secs(300);

/// Debian packages the matrix needs on the host: QEMU, and objcopy to
/// strip the agent's debug sections.
const HOST_PACKAGES: [&str; 2] = ["qemu-system-x86", "binutils"];

/// Whether the matrix ran, and how its tests went.
pub enum Outcome {
    /// QEMU cannot run here, for the reason given.
    Skipped(String),
    /// Every kernel was booted.
    Ran {
        /// Guard tests, over all kernels, that failed or did not run.
        failed: usize,
    },
}

/// Builds the agent and runs the matrix; fails when a test fails or QEMU cannot run.
pub fn run() -> Result<()> {
    let agent = build::run()?;
    match matrix(&agent)? {
        Outcome::Skipped(reason) => bail!("cannot run the kernel matrix: {reason}"),
        Outcome::Ran { failed: 0 } => Ok(()),
        Outcome::Ran { failed } => bail!("{failed} kernel matrix test(s) failed"),
    }
}

/// Runs the matrix with the agent at `agent`, installing QEMU when missing.
pub fn matrix(agent: &Path) -> Result<Outcome> {
    if let Err(e) = packages::install_missing(&HOST_PACKAGES) {
        return Ok(Outcome::Skipped(format!(
            "cannot install {HOST_PACKAGES:?}: {e:#}"
        )));
    }
    if !qemu::available() {
        return Ok(Outcome::Skipped(format!("{} does not run", qemu::QEMU)));
    }
    let vm_dir = cmd::workspace_root().join("target/vm");
    std::fs::create_dir_all(&vm_dir)?;
    let initramfs = initramfs::build(&vm_dir, agent)?;
    let mut runs = Vec::new();
    for series in kernels::MATRIX {
        let kernel = kernels::resolve(series, &vm_dir)?;
        let log = vm_dir.join(format!("{}.log", kernel.package));
        eprintln!(
            "xtask: booting {} in QEMU (console in {})",
            kernel.package,
            log.display()
        );
        let console = qemu::boot(&kernel.vmlinuz, &initramfs, GUEST_TIMEOUT, &log)?;
        runs.push((kernel.package, KernelRun::parse(&console)));
    }
    let passed: usize = runs.iter().map(|(_, run)| run.passed_count()).sum();
    let failed = runs.len() * results::TESTS.len() - passed;
    println!("kernel matrix (QEMU TCG):\n{}", results::table(&runs));
    println!("vm-test: {passed} passed, {failed} failed");
    Ok(Outcome::Ran { failed })
}
