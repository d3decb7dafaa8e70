//! Running commands with clear errors.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use anyhow::{Context as _, Result, bail};

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    root.canonicalize().unwrap_or(root)
}

/// Runs `command`, failing if it does not succeed.
pub fn run(command: &mut Command) -> Result<()> {
    eprintln!("xtask: running {command:?}");
    let status = command
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed: {status}");
    }
    Ok(())
}

/// Runs `command` quietly and returns its output, or `None` if it cannot start.
pub fn output(command: &mut Command) -> Option<Output> {
    command.output().ok()
}

/// True when `command` starts and exits successfully.
pub fn succeeds(command: &mut Command) -> bool {
    output(command).is_some_and(|out| out.status.success())
}

/// The trimmed stdout of a successful `command`.
pub fn stdout(command: &mut Command) -> Option<String> {
    let out = output(command)?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}
