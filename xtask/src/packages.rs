//! Debian packages on the host: installs the ones a task needs when missing.

use std::process::Command;

use anyhow::Result;

use crate::cmd;

/// apt-get installs whichever of `packages` are missing.
pub fn install_missing(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    cmd::run(&mut apt_get(&["update"]))?;
    cmd::run(apt_get(&["install", "-y", "--no-install-recommends"]).args(&missing))
}

/// apt's option to wait (up to 5 minutes) for the dpkg frontend lock
/// another apt or dpkg holds, instead of failing at once with "dpkg frontend
/// lock was locked by another process": a host's unattended upgrade must not
/// fail the tests.
const WAIT_FOR_LOCKS: [&str; 2] = ["-o", "DPkg::Lock::Timeout=300"];

/// `apt-get ARGS…`, non-interactive, waiting for the package locks.
pub fn apt_get(args: &[&str]) -> Command {
    let mut command = Command::new("apt-get");
    command
        .args(WAIT_FOR_LOCKS)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive");
    command
}

/// True when dpkg says `package` is installed.
fn installed(package: &str) -> bool {
    cmd::stdout(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|s| s.ends_with("installed"))
}
