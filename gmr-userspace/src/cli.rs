//! Command-line flags. Parsed here, validated by `config`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::view::Format;

/// Guru Meditation Reports for any process, without changing it.
#[derive(Debug, Parser)]
#[command(name = "gmr-agent", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The agent's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the agent: report on tagged processes when they get the trigger signal.
    Run(RunArgs),
    /// Print one report for a process now, and exit.
    Report(ReportArgs),
}

/// Flags of `gmr-agent run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file [default: /etc/gmr/agent.yaml, if present].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Tag a cgroup v2 directory (absolute, or relative to the cgroup2 mount); repeatable.
    #[arg(long, value_name = "CGROUP")]
    pub tag: Vec<PathBuf>,
    /// Directory for report files [default: /var/lib/gmr/reports].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Trigger signal, e.g. SIGUSR2, USR2 or 12 [default: SIGUSR2].
    #[arg(long, value_name = "SIGNAL")]
    pub signal: Option<String>,
    /// Do not write reports to the target's own stderr.
    #[arg(long)]
    pub no_target_stderr: bool,
}

/// Flags of `gmr-agent report`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The process to report on.
    #[arg(long)]
    pub pid: u32,
    /// Configuration file whose tag covering PID adds custom sections
    /// [default: /etc/gmr/agent.yaml, if present].
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(long, default_value = "text")]
    pub format: Format,
}
