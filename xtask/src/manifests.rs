//! The validator the manifest test (`tests/tests/manifests.rs`) checks
//! `dist/kubernetes/` with: PyPI's kubernetes-validate, which carries the
//! Kubernetes JSON schemas and so validates offline, installed once into a
//! venv at `target/kubernetes-validate`.

use std::{path::PathBuf, process::Command};

use anyhow::Result;

use crate::{cmd, packages};

/// The pinned release (its schemas default to Kubernetes 1.31).
const VALIDATOR: &str = "kubernetes-validate==1.31.0";

/// The venv's directory.
fn venv() -> PathBuf {
    cmd::workspace_root().join("target/kubernetes-validate")
}

/// Installs the validator unless it is there. A failure (PyPI
/// unreachable) is printed, not returned: the manifest test then skips,
/// saying the validator is missing.
pub fn install_for_tests() {
    if let Err(e) = install() {
        eprintln!(
            "xtask: SKIP installing {VALIDATOR} into {}: {e:#}",
            venv().display()
        );
    }
}

/// Makes the venv with Debian's python3 and pip-installs the validator.
fn install() -> Result<()> {
    let venv = venv();
    if venv.join("bin/kubernetes-validate").exists() {
        return Ok(());
    }
    packages::install_missing(&["python3-venv"])?;
    cmd::run(
        Command::new("/usr/bin/python3")
            .args(["-m", "venv"])
            .arg(&venv),
    )?;
    cmd::run(Command::new(venv.join("bin/pip")).args(["install", "--quiet", VALIDATOR]))
}
