//! `gmr-agent`: parses flags, runs the command, prints any error once.

use std::process::ExitCode;

use anyhow::Context as _;
use clap::Parser as _;
use gmr_userspace::{
    agent,
    capture::{Capturer, StackCap},
    cli::{Cli, Command, OutputFormat, ReportArgs},
    config::{AgentConfig, Overrides, group_id},
    control::{
        client::{ask, describe},
        protocol::Request,
    },
    kernel::{
        kallsyms::KernelSymbols,
        loader::{LoadOptions, load},
    },
    model::{Requester, Trigger},
    report::{ReportPlan, Reporter},
    symbolize::Symbolizer,
    view::render,
};

fn main() -> ExitCode {
    gmr_userspace::logging::init();
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gmr-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Run(args) => {
            let overrides = Overrides {
                config: args.config,
                tags: args.tag,
                tag_units: args.tag_unit,
                tag_containers: args.tag_container,
                report_dir: args.report_dir,
                signal: args.signal,
                no_target_stderr: args.no_target_stderr,
                max_stack_bytes: args.max_stack_bytes,
            };
            let control_group = match &args.control_group {
                Some(name) => {
                    Some(group_id(name).with_context(|| format!("--control-group {name}"))?)
                }
                None => None,
            };
            agent::run(overrides, &args.socket, control_group)
        }
        Command::Report(args) => report(args),
        Command::FreezeWatchdog(args) => gmr_userspace::freeze::watchdog::run(
            &args.freeze_file,
            std::time::Duration::from_millis(args.deadline_ms),
        ),
        Command::Trigger(args) => {
            let request = Request::Trigger {
                target: args.target,
            };
            print!(
                "{}",
                describe(&ask(&args.socket, &request, CONTROL_TIMEOUT)?)?
            );
            Ok(())
        }
        Command::Check(args) => {
            let probes = gmr_userspace::cli::check::run();
            match args.output.format() {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&probes)?),
                OutputFormat::Text => print!("{}", gmr_userspace::cli::check::render_text(&probes)),
            }
            if !gmr_userspace::cli::check::reports_work(&probes) {
                anyhow::bail!("reports cannot work on this host (see the missing lines above)");
            }
            Ok(())
        }
        Command::Completions { shell } => {
            gmr_userspace::cli::write_completions(shell, &mut std::io::stdout());
            Ok(())
        }
        Command::Man { dir } => gmr_userspace::cli::write_man_pages(&dir)
            .with_context(|| format!("writing manual pages into {}", dir.display())),
        Command::List(args) => {
            let response = ask(&args.socket, &Request::List, CONTROL_TIMEOUT)?;
            match args.output.format() {
                OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&response)?),
                OutputFormat::Text => print!("{}", describe(&response)?),
            }
            Ok(())
        }
    }
}

/// How long `trigger` and `list` wait for the agent (reports included).
const CONTROL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(90);

/// `gmr-agent report --pid N`: one report on stdout.
fn report(args: ReportArgs) -> anyhow::Result<()> {
    let pid = args.pid;
    if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
        anyhow::bail!("process {pid} does not exist");
    }
    let started = std::time::Instant::now();
    let kernel_symbols = KernelSymbols::read_in_background();
    let (mut plan, stack_cap) = plan_for(pid, args.config, args.max_stack_bytes)?;
    // The programs load on a thread while this one parses the target's
    // files for the symbolizer.
    let loading = std::thread::Builder::new()
        .name("gmr-load".into())
        .spawn(move || {
            load(LoadOptions {
                trigger_signal: libc::SIGUSR2 as u32,
                stack_cap,
            })
        })
        .context("starting the eBPF loading thread")?;
    let symbolizer = Symbolizer::with_kernel_symbols(kernel_symbols);
    symbolizer.prepare(pid);
    log::debug!("files of {pid} parsed in {:.1?}", started.elapsed());
    let mut ebpf = loading
        .join()
        .map_err(|_| anyhow::anyhow!("the eBPF loading thread panicked"))??;
    let mut reporter = Reporter::with_symbolizer(Capturer::new(&mut ebpf, stack_cap)?, symbolizer);
    log::debug!("eBPF programs loaded in {:.1?}", started.elapsed());
    let me = std::process::id();
    let trigger = Trigger::Request {
        requester: Some(Requester {
            pid: me,
            uid: rustix::process::getuid().as_raw(),
            comm: gmr_userspace::proc::files::comm(me),
        }),
    };
    plan.freeze |= args.freeze;
    let report = reporter.report(pid, trigger, &plan);
    log::debug!("report stages: {}", reporter.last_stages());
    print!("{}", render(&report, args.format));
    Ok(())
}

/// The custom sections and extra files configured for `pid`'s tag, if the
/// configuration names one, and the stack cap (`--max-stack-bytes`, else
/// the configuration's); an unreadable configuration costs only those. A
/// bad `--max-stack-bytes` is an error.
fn plan_for(
    pid: u32,
    config: Option<std::path::PathBuf>,
    max_stack_bytes: Option<u64>,
) -> anyhow::Result<(ReportPlan, StackCap)> {
    let flag_cap = gmr_userspace::config::stack_cap(max_stack_bytes)
        .map_err(|e| anyhow::anyhow!("--max-stack-bytes: {e}"))?;
    Ok(
        match AgentConfig::load(&Overrides {
            config,
            max_stack_bytes,
            ..Default::default()
        }) {
            Ok(config) => (
                config
                    .tag_of_process(pid)
                    .map(|tag| ReportPlan::for_tag(tag, &config.kubelet))
                    .unwrap_or_else(|| ReportPlan {
                        kubelet: config.kubelet.clone(),
                        ..ReportPlan::default()
                    }),
                config.stack_cap,
            ),
            Err(e) => {
                log::warn!("configuration not used for this report: {e:#}");
                (ReportPlan::default(), flag_cap)
            }
        },
    )
}
