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
    cmd::run(Command::new("apt-get").arg("update"))?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y", "--no-install-recommends"])
            .args(&missing)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// True when dpkg says `package` is installed.
fn installed(package: &str) -> bool {
    cmd::stdout(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|s| s.ends_with("installed"))
}
