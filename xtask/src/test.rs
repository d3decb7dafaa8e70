//! `cargo xtask test`: builds everything, installs the test tools the
//! fixtures need, runs the kernel matrix in QEMU when this machine can,
//! then every test of the workspace as root.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{build, cmd, packages, vm};

/// Debian packages the tests use: gcc builds the C fixtures, gdb is the
/// reference the stacks are compared with, libc6-dbg gives both sides
/// libc's full symbol names.
const TEST_PACKAGES: [&str; 3] = ["gcc", "gdb", "libc6-dbg"];

/// Runs all tests; the cargo tests run even when the kernel matrix fails.
pub fn run() -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!(
            "the tests load eBPF programs and make cgroups: run them as root (sudo cargo xtask test)"
        );
    }
    let agent = build::run()?;
    packages::install_missing(&TEST_PACKAGES)?;
    let matrix = match vm::matrix(&agent) {
        Ok(vm::Outcome::Skipped(reason)) => {
            eprintln!("xtask: SKIP the kernel matrix: {reason}");
            Ok(())
        }
        Ok(vm::Outcome::Ran { failed: 0 }) => Ok(()),
        Ok(vm::Outcome::Ran { failed }) => Err(anyhow::anyhow!(
            "{failed} kernel matrix test(s) failed (consoles in target/vm/)"
        )),
        Err(e) => Err(e.context("the kernel matrix could not run")),
    };
    let cargo = cmd::run(
        Command::new("cargo")
            .current_dir(cmd::workspace_root())
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("GMR_AGENT", &agent),
    );
    match (matrix, cargo) {
        (Ok(()), cargo) => cargo,
        (Err(e), Ok(())) => Err(e),
        (Err(e), Err(cargo)) => Err(e.context(format!("and {cargo:#}"))),
    }
}
