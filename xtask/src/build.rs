//! `cargo xtask build`: setup, then the release agent with its eBPF embedded.

use std::{path::PathBuf, process::Command};

use anyhow::Result;

use crate::{cmd, setup};

/// Builds and returns the path of `target/release/gmr-agent`.
pub fn run() -> Result<PathBuf> {
    setup::run()?;
    cmd::run(
        Command::new("cargo")
            .current_dir(cmd::workspace_root())
            .args([
                "build",
                "--release",
                "-p",
                "gmr-userspace",
                "--bin",
                "gmr-agent",
            ]),
    )?;
    Ok(agent_path())
}

/// Where the release agent is built.
pub fn agent_path() -> PathBuf {
    cmd::workspace_root().join("target/release/gmr-agent")
}
