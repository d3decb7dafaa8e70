//! `cargo xtask bench`: gmr against gdb and eu-stack on the same processes
//! in the same run: report time (cold and warm), how long the target is
//! stalled, what the agent's hooks cost other processes, the agent's idle
//! CPU and memory, where a report's time goes, and an agent at the scale
//! of a real host (50 services of 20 processes), and how long a Go
//! process is stalled while gmr reads its goroutines. Prints Markdown
//! tables.

mod floor;
mod gmr;
mod go;
mod hooks;
mod peers;
mod probe;
mod scale;
mod table;
mod timing;

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Result, bail};
use gmr_tests::{CVariant, Fixture, TestCgroup, build_c_fixture};

use crate::{build, cmd, packages};
use gmr::{AgentTimes, Daemon};
use peers::Peer;
use probe::Probe;
use timing::{Series, series};

/// Debian packages the bench runs: gcc builds the fixture, gdb and
/// elfutils (eu-stack) are the peers, libc6-dbg gives all of them libc's
/// debug info.
const BENCH_PACKAGES: [&str; 4] = ["gcc", "gdb", "elfutils", "libc6-dbg"];
/// Threads the fixture has besides its `--threads` extras: main, probe,
/// sleeper, reader, waiter, spinner.
const BASE_THREADS: usize = 6;
/// Most time one series of repeats may take before it stops repeating.
const SERIES_BUDGET: Duration = Duration::from_secs(20);
/// How long gmr may take for one report.
const GMR_TIMEOUT: Duration = Duration::from_secs(90);
/// How long the probe watches an idle target for the noise level.
const NOISE_WINDOW: Duration = Duration::from_secs(3);
/// How long the agent gets to free a report's memory before it is measured.
const SETTLE: Duration = Duration::from_secs(2);
/// How long the idle agent is watched.
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// Most repeats with an empty page cache per tool: each first empties it.
const EMPTY_CACHE_REPS: usize = 3;

/// Flags of `cargo xtask bench`.
#[derive(clap::Args)]
pub struct Args {
    /// Fixture sizes, in threads.
    #[arg(long, value_delimiter = ',', default_values_t = [10, 200, 2_000, 10_000])]
    threads: Vec<usize>,
    /// Repeats per measurement (fewer when a series passes 20 s).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Seconds gdb or eu-stack may take for one run before it is stopped.
    #[arg(long, default_value_t = 60)]
    peer_timeout: u64,
    /// Measure only the hook overhead (no fixtures, peers or idle agent).
    #[arg(long)]
    hooks_only: bool,
    /// Measure only the agent at scale (50 services of 20 processes).
    #[arg(long)]
    scale_only: bool,
    /// Measure only a Go process' stall while gmr reads its goroutines.
    #[arg(long)]
    go_only: bool,
}

/// Everything measured on one fixture.
pub struct Row {
    /// Threads in the fixture.
    pub threads: usize,
    /// `gmr-agent report --pid`, end to end.
    pub cold: Series,
    /// The running agent's first report on the process.
    pub first_warm: Duration,
    /// `gmr-agent trigger` on a running agent, end to end.
    pub warm: Series,
    /// The agent's CPU time (user + system) per warm report: what the
    /// report costs whatever the machine's load.
    pub warm_cpu: Duration,
    /// The agent's account of each warm report.
    pub agent: Vec<AgentTimes>,
    /// Each peer's runs.
    pub peers: Vec<(Peer, Series)>,
    /// The target's largest stall per tool.
    pub stalls: Stalls,
    /// The agent's resident memory after the warm reports, in KiB.
    pub agent_rss_kib: u64,
    /// The agent's peak resident memory, in KiB.
    pub agent_peak_kib: u64,
    /// The agent's resident memory once it dropped its caches, in KiB.
    pub agent_idle_rss_kib: u64,
    /// Each tool's runs right after the kernel's page cache was emptied
    /// (gmr's is `report --pid`), in `"gmr"`, [`Peer::ALL`] order.
    pub empty_cache: Vec<(&'static str, Series)>,
}

/// The largest gap between the target's probe ticks.
pub struct Stalls {
    /// With nothing looking at the target: the noise level.
    pub idle: Duration,
    /// While cold gmr reports ran.
    pub cold: Duration,
    /// While warm gmr reports ran.
    pub warm: Duration,
    /// While one CPU was kept busy as long as the warm reports took: the
    /// gap that CPU contention alone causes, to tell it from a stall.
    pub hog: Duration,
    /// While each peer ran, in [`Peer::ALL`] order.
    pub peers: Vec<Duration>,
}

/// Runs the bench.
pub fn run(args: &Args) -> Result<()> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        bail!("the bench loads eBPF programs and ptraces: run it as root (sudo cargo xtask bench)");
    }
    let agent = build::run()?;
    if args.hooks_only {
        let load_before = load_average();
        let hooks = hook_costs()?;
        print_machine(&load_before);
        table::print_hooks(&hooks);
        let _ = std::fs::remove_dir_all(scratch_dir());
        return Ok(());
    }
    if args.scale_only {
        let load_before = load_average();
        let scale = scale::measure(&scratch_dir())?;
        print_machine(&load_before);
        table::print_scale(&scale);
        let _ = std::fs::remove_dir_all(scratch_dir());
        return Ok(());
    }
    if args.go_only {
        let load_before = load_average();
        let go = go::measure(&agent, args.reps, &scratch_dir())?;
        print_machine(&load_before);
        table::print_go(&go);
        let _ = std::fs::remove_dir_all(scratch_dir());
        return Ok(());
    }
    packages::install_missing(&BENCH_PACKAGES)?;
    let fixture = build_c_fixture(CVariant::NoFramePointer);
    let scratch = scratch_dir();
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let load_before = load_average();
    let mut rows = Vec::new();
    for &threads in &args.threads {
        eprintln!("xtask: bench on {threads} threads");
        rows.push(measure(&agent, &fixture, threads, args, &scratch)?);
    }
    let hooks = hook_costs()?;
    let hook_group = TestCgroup::create();
    let idle = {
        let daemon = Daemon::start(hook_group.path(), &scratch.join("reports-idle"))?;
        std::thread::sleep(Duration::from_secs(1));
        hooks::idle(daemon.pid(), IDLE_WINDOW)?
    };
    let scale = scale::measure(&scratch)?;
    let go = go::measure(&agent, args.reps, &scratch)?;
    print_machine(&load_before);
    table::print(&rows, &hooks, &idle);
    table::print_scale(&scale);
    table::print_go(&go);
    let _ = std::fs::remove_dir_all(&scratch);
    Ok(())
}

/// Times the hot paths the agent's hooks sit on, without and with an agent
/// tagging a cgroup of its own (and so arming its trigger file).
fn hook_costs() -> Result<Vec<hooks::HookCost>> {
    eprintln!("xtask: bench of the hooks");
    let scratch = scratch_dir();
    std::fs::create_dir_all(&scratch)?;
    let hook_group = TestCgroup::create();
    hooks::hook_costs(&scratch, || {
        let daemon = Daemon::start(hook_group.path(), &scratch.join("reports-hooks"))?;
        let pid = daemon.pid();
        Ok((daemon, pid))
    })
}

/// Measures every tool on a fresh fixture of `threads` threads.
fn measure(
    agent: &Path,
    binary: &Path,
    threads: usize,
    args: &Args,
    scratch: &Path,
) -> Result<Row> {
    let cgroup = TestCgroup::create();
    let extra = threads.saturating_sub(BASE_THREADS).to_string();
    let fixture = Fixture::spawn(binary, &["--probe", "--threads", &extra], Some(&cgroup));
    let pid = fixture.pid();
    let mut probe = Probe::new(&fixture);
    let idle = probe.noise(NOISE_WINDOW)?;
    let (cold, cold_stall) = probe.during(|| {
        series(args.reps, SERIES_BUDGET, GMR_TIMEOUT, || {
            gmr::cold(agent, pid, GMR_TIMEOUT)
        })
    })?;
    let mut daemon = Daemon::start(cgroup.path(), &scratch.join(format!("reports-{threads}")))?;
    let (first_warm, _) = daemon.report(pid, GMR_TIMEOUT)?;
    let mut agent_times = Vec::new();
    let cpu_before = hooks::cpu_ticks(daemon.pid())?;
    let (warm, warm_stall) = probe.during(|| {
        series(args.reps, SERIES_BUDGET, GMR_TIMEOUT, || {
            let (took, times) = daemon.report(pid, GMR_TIMEOUT)?;
            agent_times.push(times);
            Ok(Some(took))
        })
    })?;
    let ((), hog) = probe.during(|| {
        busy(warm.samples.iter().sum());
        Ok(())
    })?;
    let warm_cpu = hooks::ticks_to_duration(hooks::cpu_ticks(daemon.pid())? - cpu_before)
        / u32::try_from(warm.samples.len().max(1))?;
    // The agent frees a report's memory after answering.
    std::thread::sleep(SETTLE);
    let agent_rss_kib = hooks::rss_kib(daemon.pid())?;
    let agent_peak_kib = hooks::memory_kib(daemon.pid(), "VmHWM")?;
    daemon.wait_for_dropped_caches()?;
    let agent_idle_rss_kib = hooks::rss_kib(daemon.pid())?;
    drop(daemon);
    let timeout = Duration::from_secs(args.peer_timeout);
    let mut peers = Vec::new();
    let mut peer_stalls = Vec::new();
    for peer in Peer::ALL {
        let (runs, stall) = probe.during(|| {
            series(args.reps, SERIES_BUDGET, timeout, || {
                peer.backtraces(pid, timeout)
            })
        })?;
        peers.push((peer, runs));
        peer_stalls.push(stall);
    }
    let reps = args.reps.min(EMPTY_CACHE_REPS);
    let mut empty_cache = vec![(
        "gmr",
        series(reps, SERIES_BUDGET, GMR_TIMEOUT, || {
            empty_page_cache()?;
            gmr::cold(agent, pid, GMR_TIMEOUT)
        })?,
    )];
    for peer in Peer::ALL {
        let runs = series(reps, SERIES_BUDGET, timeout, || {
            empty_page_cache()?;
            peer.backtraces(pid, timeout)
        })?;
        empty_cache.push((peer.name(), runs));
    }
    Ok(Row {
        threads,
        cold,
        first_warm,
        warm,
        warm_cpu,
        agent: agent_times,
        peers,
        stalls: Stalls {
            idle,
            cold: cold_stall,
            warm: warm_stall,
            hog,
            peers: peer_stalls,
        },
        agent_rss_kib,
        agent_peak_kib,
        agent_idle_rss_kib,
        empty_cache,
    })
}

/// Writes dirty pages back and empties the kernel's page cache (and its
/// dentry and inode caches), so the next run reads every file from disk.
fn empty_page_cache() -> Result<()> {
    // SAFETY: sync has no preconditions.
    unsafe { libc::sync() };
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .map_err(|e| anyhow::anyhow!("emptying the page cache (/proc/sys/vm/drop_caches): {e}"))
}

/// Keeps this thread's CPU busy for `span`.
fn busy(span: Duration) {
    let end = Instant::now() + span;
    while Instant::now() < end {
        std::hint::spin_loop();
    }
}

/// `/proc/loadavg`'s first three fields.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The machine the numbers come from.
fn print_machine(load_before: &str) {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")?
                    .split_once(':')
                    .map(|(_, m)| m.trim().to_owned())
            })
        })
        .unwrap_or_default();
    let kernel = cmd::stdout(Command::new("uname").arg("-r")).unwrap_or_default();
    let tool = |name: &str, arg: &str| {
        cmd::stdout(Command::new(name).arg(arg))
            .and_then(|v| v.lines().next().map(str::to_owned))
            .unwrap_or_else(|| format!("{name} ?"))
    };
    println!("\n### Machine\n");
    println!(
        "{} CPUs ({cpu}), {} MiB RAM, kernel {kernel}; load average {load_before} before, {} after; {}; {}",
        std::thread::available_parallelism().map_or(0, usize::from),
        total_memory_mib(),
        load_average(),
        tool("gdb", "--version"),
        tool("eu-stack", "--version"),
    );
}

/// MemTotal, in MiB.
fn total_memory_mib() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            let kib = m
                .lines()
                .next()?
                .strip_prefix("MemTotal:")?
                .trim()
                .strip_suffix(" kB")?;
            kib.trim().parse::<u64>().ok()
        })
        .map_or(0, |kib| kib / 1024)
}

/// Where the bench writes its scratch files.
fn scratch_dir() -> PathBuf {
    cmd::workspace_root().join("target/bench")
}
