//! `cargo xtask test`: builds everything, installs the test tools the
//! fixtures need, and runs every test of the workspace as root.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{build, cmd, fuzz, package};

/// Seconds each fuzz target runs in the test suite; `cargo xtask fuzz`
/// runs longer.
const FUZZ_SECONDS: u64 = 15;

/// Debian packages the tests use: gcc builds the C fixtures, gdb is the
/// reference the stacks are compared with, libc6-dbg gives both sides
/// libc's full symbol names.
const TEST_PACKAGES: [&str; 3] = ["gcc", "gdb", "libc6-dbg"];

/// Runs all tests.
pub fn run() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the tests load eBPF programs and make cgroups: run them as root (sudo cargo xtask test)"
        );
    }
    let agent = build::run()?;
    install_missing_packages()?;
    cmd::run(
        Command::new("cargo")
            .current_dir(cmd::workspace_root())
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("GMR_AGENT", &agent),
    )?;
    let deb = package::run()?;
    package::check(&deb, env!("CARGO_PKG_VERSION"))?;
    if std::env::var_os("CI").is_some_and(|ci| ci == "true") {
        package::install_and_remove(&deb)?;
    }
    fuzz::run(FUZZ_SECONDS, None)
}

/// apt-get installs whichever of [`TEST_PACKAGES`] are missing.
fn install_missing_packages() -> Result<()> {
    let missing: Vec<&str> = TEST_PACKAGES
        .into_iter()
        .filter(|p| {
            !cmd::stdout(Command::new("dpkg-query").args(["-W", "-f=${Status}", p]))
                .is_some_and(|s| s.ends_with("installed"))
        })
        .collect();
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
