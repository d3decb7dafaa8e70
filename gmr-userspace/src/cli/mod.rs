//! Command-line flags. Parsed here, validated by `config`.

pub mod check;

use std::{io, path::Path, path::PathBuf};

use clap::{CommandFactory as _, Parser, Subcommand, ValueEnum};
use clap_complete::Shell;

use crate::{
    control::DEFAULT_SOCKET,
    targets::{ContainerId, UnitName},
    view::Format,
};

/// Guru Meditation Reports for any process, without changing it.
#[derive(Debug, Parser)]
#[command(name = "gmr-agent", version = env!("GMR_VERSION"), about)]
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
    /// Ask the running agent for reports on a pid, tag, or cgroup path; print the files written.
    Trigger(TriggerArgs),
    /// Show the running agent's tags, their processes, trigger files and last reports.
    List(ListArgs),
    /// Probe what this kernel and host allow; exits non-zero if reports cannot work.
    Check(CheckArgs),
    /// Internal: thaws a cgroup the agent froze if the agent dies or overruns.
    #[command(name = crate::freeze::watchdog::SUBCOMMAND, hide = true)]
    FreezeWatchdog(FreezeWatchdogArgs),
    /// Print a shell completion script (bash, zsh, fish, …) on stdout.
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: Shell,
    },
    /// Write the manual pages (gmr-agent.1, gmr-agent-run.1, …) into DIR.
    #[command(hide = true)]
    Man {
        /// Directory to write the pages into.
        dir: PathBuf,
    },
}

/// Flags of the hidden `gmr-agent freeze-watchdog`.
#[derive(Debug, clap::Args)]
pub struct FreezeWatchdogArgs {
    /// The `cgroup.freeze` file to write `0` to.
    #[arg(long, value_name = "FILE")]
    pub freeze_file: PathBuf,
    /// Milliseconds after which it thaws even if the agent is alive.
    #[arg(long, value_name = "MS")]
    pub deadline_ms: u64,
}

/// Writes `shell`'s completion script for gmr-agent to `out`.
pub fn write_completions(shell: Shell, out: &mut dyn io::Write) {
    clap_complete::generate(shell, &mut Cli::command(), "gmr-agent", out);
}

/// Writes a manual page for gmr-agent and one per visible subcommand into `dir`.
pub fn write_man_pages(dir: &Path) -> io::Result<()> {
    clap_mangen::generate_to(Cli::command(), dir)
}

/// How `check` and `list` print what they found: the same `--format`
/// flag as `report`, without YAML.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Lines for people.
    #[default]
    Text,
    /// One pretty-printed JSON document for scripts.
    Json,
}

/// `--format text|json`, with `--json` kept as a hidden alias of
/// `--format json` for one release (the flag `check` and `list` had before).
#[derive(Debug, clap::Args)]
pub struct OutputArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    format: OutputFormat,
    /// Deprecated spelling of `--format json`.
    #[arg(long, hide = true, conflicts_with = "format")]
    json: bool,
}

impl OutputArgs {
    /// The format asked for, by either spelling.
    pub fn format(&self) -> OutputFormat {
        if self.json {
            OutputFormat::Json
        } else {
            self.format
        }
    }
}

/// Flags of `gmr-agent check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// How to print the probes.
    #[command(flatten)]
    pub output: OutputArgs,
}

/// Flags of `gmr-agent trigger`.
#[derive(Debug, clap::Args)]
pub struct TriggerArgs {
    /// A pid, a tag name, or a cgroup path (absolute or relative to the cgroup2 mount).
    pub target: String,
    /// The agent's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
}

/// Flags of `gmr-agent list`.
#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// The agent's control socket.
    #[arg(long, value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// How to print the agent's answer.
    #[command(flatten)]
    pub output: OutputArgs,
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
    /// Tag a systemd unit's cgroup, e.g. nova-api.service; repeatable.
    #[arg(long, value_name = "UNIT")]
    pub tag_unit: Vec<UnitName>,
    /// Tag a container's cgroup by id (full, or a unique prefix of 12+ hex digits); repeatable.
    #[arg(long, value_name = "ID")]
    pub tag_container: Vec<ContainerId>,
    /// Directory for report files [default: /var/lib/gmr/reports].
    #[arg(long, value_name = "DIR")]
    pub report_dir: Option<PathBuf>,
    /// Trigger signal, e.g. SIGUSR2, USR2 or 12 [default: SIGUSR2].
    #[arg(long, value_name = "SIGNAL")]
    pub signal: Option<String>,
    /// Do not write reports to the target's own stderr.
    #[arg(long)]
    pub no_target_stderr: bool,
    /// Most user-stack bytes copied per thread, 32 KiB to 64 MiB [default: 8388608].
    #[arg(long, value_name = "BYTES")]
    pub max_stack_bytes: Option<u64>,
    /// Control socket for `gmr-agent trigger` and `list` (`--control-socket`
    /// is a hidden alias kept for one release).
    #[arg(long, alias = "control-socket", value_name = "PATH", default_value = DEFAULT_SOCKET)]
    pub socket: PathBuf,
    /// Group whose members may use the control socket (mode 0660) [default: root only].
    #[arg(long, value_name = "GROUP")]
    pub control_group: Option<String>,
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
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Freeze the process's cgroup while its threads are captured (exact
    /// registers for running threads), as the tag setting `freeze: true` does.
    #[arg(long)]
    pub freeze: bool,
    /// Most user-stack bytes copied per thread, 32 KiB to 64 MiB [default:
    /// the configuration's max_stack_bytes, else 8388608].
    #[arg(long, value_name = "BYTES")]
    pub max_stack_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_and_man_pages_come_from_the_flags() {
        Cli::command().debug_assert();
        for (shell, expected) in [
            (Shell::Bash, "--tag-unit"),
            (Shell::Zsh, "--tag-unit"),
            (Shell::Fish, "tag-unit"),
        ] {
            let mut script = Vec::new();
            write_completions(shell, &mut script);
            let script = String::from_utf8(script).expect("UTF-8");
            assert!(script.contains(expected), "{shell}: {script}");
            assert!(script.contains("trigger"), "{shell}: {script}");
        }
        let dir = std::env::temp_dir().join(format!("gmr-man-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        write_man_pages(&dir).expect("man pages");
        let run = std::fs::read_to_string(dir.join("gmr-agent-run.1")).expect("run's page");
        assert!(run.contains("tag\\-unit"), "{run}");
        let main = std::fs::read_to_string(dir.join("gmr-agent.1")).expect("main page");
        assert!(main.contains("gmr\\-agent\\-trigger(1)"), "{main}");
        assert!(!dir.join("gmr-agent-completions.1").exists());
        assert!(!dir.join("gmr-agent-man.1").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn one_vocabulary_with_the_old_spellings_as_hidden_aliases() {
        let parse = |words: &[&str]| Cli::try_parse_from(words).map(|cli| cli.command);
        for command in ["check", "list"] {
            let format = |words: &[&str]| match parse(words).unwrap() {
                Command::Check(args) => args.output.format(),
                Command::List(args) => args.output.format(),
                other => panic!("{other:?}"),
            };
            assert_eq!(format(&["gmr-agent", command]), OutputFormat::Text);
            assert_eq!(
                format(&["gmr-agent", command, "--format", "json"]),
                OutputFormat::Json
            );
            assert_eq!(
                format(&["gmr-agent", command, "--json"]),
                OutputFormat::Json
            );
            assert!(parse(&["gmr-agent", command, "--format", "yaml"]).is_err());
            assert!(parse(&["gmr-agent", command, "--json", "--format", "text"]).is_err());
        }
        for flag in ["--socket", "--control-socket"] {
            match parse(&["gmr-agent", "run", flag, "/tmp/s.sock"]).unwrap() {
                Command::Run(args) => assert_eq!(args.socket, Path::new("/tmp/s.sock")),
                other => panic!("{other:?}"),
            }
        }
        match parse(&["gmr-agent", "report", "--pid", "1", "--format", "yaml"]).unwrap() {
            Command::Report(args) => assert_eq!(args.format, Format::Yaml),
            other => panic!("{other:?}"),
        }
        let mut help = Vec::new();
        Cli::command()
            .find_subcommand_mut("run")
            .unwrap()
            .write_long_help(&mut help)
            .unwrap();
        let help = String::from_utf8(help).unwrap();
        assert!(
            help.contains("--socket") && !help.contains("--control-socket <"),
            "{help}"
        );
    }
}
