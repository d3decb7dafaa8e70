//! What a loaded agent costs everyone else: the hot paths its hooks sit on
//! (signal generation, inode ctime updates) timed without any hook, with
//! an empty eBPF program on the same tracepoints (the floor any eBPF tool
//! pays there, see [`super::floor`]) and with the agent, each program's
//! own time per run as the kernel counts it (the empty one's and gmr's),
//! and the agent's own CPU and memory while idle.

use std::{
    ffi::CString,
    os::unix::ffi::OsStrExt as _,
    path::Path,
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

use super::{
    floor::{FloorPrograms, ProgramRuns, RunTimeStats, runs_of_programs},
    timing::median,
};

/// Calls per timing.
const ITERATIONS: u32 = 100_000;
/// Rounds, each timing the loops without the agent, then with a freshly
/// started one, so slow drifts of the machine's load hit both alike; the
/// overhead is the median of the rounds' own overheads.
const ROUNDS: usize = 9;
/// Timings per loop and phase of a round.
const TIMINGS: usize = 3;

/// A hot path one of the agent's hooks sits on.
#[derive(Clone, Copy, Debug)]
pub enum HotPath {
    /// `kill(self, SIGURG)`: a signal gmr does not trigger on (ignored by
    /// default) still passes the `signal_generate` tracepoint.
    Signal,
    /// `utimensat(file, NULL)`: changes the file's ctime, which passes the
    /// timestamp tracepoints the file trigger watches.
    Ctime,
}

impl HotPath {
    /// Both, in table order.
    pub const ALL: [HotPath; 2] = [HotPath::Signal, HotPath::Ctime];

    /// The tracepoints the agent's hooks for this path sit on.
    pub fn tracepoints(self) -> &'static [&'static str] {
        match self {
            HotPath::Signal => &["signal_generate"],
            HotPath::Ctime => &["ctime_ns_xchg", "ctime_xchg_skip", "inode_set_ctime_to_ts"],
        }
    }

    /// gmr's programs on those tracepoints (`gmr-ebpf/src/program/`).
    pub fn programs(self) -> &'static [&'static str] {
        match self {
            HotPath::Signal => &["signal_generate"],
            HotPath::Ctime => &[
                "file_ctime_ns_xchg",
                "file_ctime_xchg_skip",
                "file_inode_set_ctime_to_ts",
            ],
        }
    }

    /// The row label.
    pub fn label(self) -> &'static str {
        match self {
            HotPath::Signal => "kill(self, SIGURG)",
            HotPath::Ctime => "utimensat(file, NULL)",
        }
    }
}

/// One hot path's time per call without any hook, with the empty program
/// and with the agent.
pub struct HookCost {
    /// The path.
    pub path: HotPath,
    /// Median per call with no hook.
    pub without: Duration,
    /// Median per call with the empty program on the same tracepoints.
    pub floor: Duration,
    /// Median per call with the agent running.
    pub with: Duration,
    /// Each round's overhead in percent: its median with the agent against
    /// its own median without, sorted.
    pub round_overheads: Vec<f64>,
    /// Median of the rounds' own added time per call, in ns: the empty
    /// program's and the agent's.
    pub added_ns: (f64, f64),
    /// The programs' own runs during the timings over all rounds, as the
    /// kernel counts them: the empty program's and gmr's on this path
    /// (every event on the host while the loop ran, the loop's included).
    pub program_runs: (ProgramRuns, ProgramRuns),
}

impl HookCost {
    /// The agent's overhead in percent: the median of the rounds'.
    pub fn overhead_percent(&self) -> f64 {
        middle(&self.round_overheads)
    }

    /// The agent's added time per call over the empty program's.
    pub fn floor_ratio(&self) -> f64 {
        self.added_ns.1 / self.added_ns.0
    }

    /// gmr's programs' own time per run over the empty program's, if both
    /// ran.
    pub fn program_ratio(&self) -> Option<f64> {
        Some(self.program_runs.1.ns_per_run()? / self.program_runs.0.ns_per_run()?)
    }
}

/// The middle of sorted `values` (NaN when empty).
fn middle(values: &[f64]) -> f64 {
    values
        .get(values.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}

/// One round's timings of one path.
#[derive(Default)]
struct Round {
    without: Vec<Duration>,
    floor: Vec<Duration>,
    with: Vec<Duration>,
    floor_runs: ProgramRuns,
    agent_runs: ProgramRuns,
}

impl Round {
    /// The agent's overhead in this round, in percent.
    fn overhead_percent(&self) -> Option<f64> {
        let (without, with) = (median(&self.without)?, median(&self.with)?);
        Some((with.as_secs_f64() / without.as_secs_f64() - 1.0) * 100.0)
    }

    /// The time per call the empty program and the agent add in this round,
    /// in ns.
    fn added_ns(&self) -> Option<(f64, f64)> {
        let without = median(&self.without)?.as_secs_f64();
        let added = |timings: &[Duration]| Some((median(timings)?.as_secs_f64() - without) * 1e9);
        Some((added(&self.floor)?, added(&self.with)?))
    }
}

/// Times each hot path without any hook, with the empty program on its
/// tracepoints and with the agent, alternating over [`ROUNDS`];
/// `start_agent` starts it and returns a guard that stops it when dropped
/// and its pid. The kernel's run-time statistics are on meanwhile.
pub fn hook_costs<G>(
    scratch: &Path,
    mut start_agent: impl FnMut() -> Result<(G, u32)>,
) -> Result<Vec<HookCost>> {
    let _stats = RunTimeStats::enable()?;
    let file = scratch.join("utime-target");
    std::fs::write(&file, b"gmr bench\n").with_context(|| format!("create {}", file.display()))?;
    let file = CString::new(file.as_os_str().as_bytes())?;
    for path in HotPath::ALL {
        hot_loop(path, &file)?;
    }
    let mut rounds = Vec::new();
    for _ in 0..ROUNDS {
        let mut round = HotPath::ALL.map(|_| Round::default());
        for (path, timed) in HotPath::ALL.into_iter().zip(&mut round) {
            timed.without = timings(path, &file)?;
        }
        for (path, timed) in HotPath::ALL.into_iter().zip(&mut round) {
            let floor = FloorPrograms::attach(path.tracepoints())?;
            let before = floor.runs()?;
            timed.floor = timings(path, &file)?;
            timed.floor_runs = floor.runs()? - before;
        }
        let (_agent, agent) = start_agent()?;
        for (path, timed) in HotPath::ALL.into_iter().zip(&mut round) {
            let before = runs_of_programs(agent, path.programs())?;
            timed.with = timings(path, &file)?;
            timed.agent_runs = runs_of_programs(agent, path.programs())? - before;
        }
        rounds.push(round);
    }
    HotPath::ALL
        .into_iter()
        .enumerate()
        .map(|(index, path)| {
            let of_path = || rounds.iter().map(move |round| &round[index]);
            let all = |pick: fn(&Round) -> &Vec<Duration>| {
                of_path().flat_map(pick).copied().collect::<Vec<_>>()
            };
            let mut round_overheads = of_path()
                .filter_map(Round::overhead_percent)
                .collect::<Vec<_>>();
            round_overheads.sort_by(f64::total_cmp);
            let (mut floor_added, mut agent_added): (Vec<f64>, Vec<f64>) =
                of_path().filter_map(Round::added_ns).unzip();
            floor_added.sort_by(f64::total_cmp);
            agent_added.sort_by(f64::total_cmp);
            let program_runs = of_path().fold(Default::default(), |(floor, agent), round| {
                (floor + round.floor_runs, agent + round.agent_runs)
            });
            Ok(HookCost {
                path,
                without: median(&all(|r| &r.without)).context("no timings")?,
                floor: median(&all(|r| &r.floor)).context("no timings")?,
                with: median(&all(|r| &r.with)).context("no timings")?,
                round_overheads,
                added_ns: (middle(&floor_added), middle(&agent_added)),
                program_runs,
            })
        })
        .collect()
}

/// [`TIMINGS`] timings of one hot loop, per call.
fn timings(path: HotPath, file: &CString) -> Result<Vec<Duration>> {
    (0..TIMINGS).map(|_| hot_loop(path, file)).collect()
}

/// [`ITERATIONS`] calls on `path`; returns the time per call.
fn hot_loop(path: HotPath, file: &CString) -> Result<Duration> {
    // SAFETY: getpid has no preconditions.
    let me = unsafe { libc::getpid() };
    let started = Instant::now();
    for _ in 0..ITERATIONS {
        // SAFETY: SIGURG is ignored by default; file is a valid C string.
        let rc = unsafe {
            match path {
                HotPath::Signal => libc::kill(me, libc::SIGURG),
                HotPath::Ctime => {
                    libc::utimensat(libc::AT_FDCWD, file.as_ptr(), std::ptr::null(), 0)
                }
            }
        };
        if rc != 0 {
            bail!("{}: {}", path.label(), std::io::Error::last_os_error());
        }
    }
    Ok(started.elapsed() / ITERATIONS)
}

/// An idle process's CPU use and memory.
pub struct Idle {
    /// CPU time over wall time, in percent.
    pub cpu_percent: f64,
    /// Resident memory at the end, in KiB.
    pub rss_kib: u64,
}

/// Watches process `pid` for `window`.
pub fn idle(pid: u32, window: Duration) -> Result<Idle> {
    let before = cpu_ticks(pid)?;
    std::thread::sleep(window);
    let ticks = cpu_ticks(pid)? - before;
    Ok(Idle {
        cpu_percent: ticks_to_duration(ticks).as_secs_f64() / window.as_secs_f64() * 100.0,
        rss_kib: rss_kib(pid)?,
    })
}

/// utime + stime of `pid`, in clock ticks.
pub fn cpu_ticks(pid: u32) -> Result<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the parenthesised comm; utime and stime are 14 and 15.
    let after_comm = stat.rsplit_once(')').context("bad /proc/PID/stat")?.1;
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    let field = |n: usize| -> Result<u64> {
        Ok(fields.get(n - 3).context("short /proc/PID/stat")?.parse()?)
    };
    Ok(field(14)? + field(15)?)
}

/// Resident memory of `pid` right now, in KiB, from `smaps_rollup`: exact,
/// where `VmRSS` may lag behind a large free by a while.
pub fn rss_kib(pid: u32) -> Result<u64> {
    gmr_tests::process::rss_kib(pid).with_context(|| format!("no Rss in /proc/{pid}/smaps_rollup"))
}

/// `ticks` clock ticks as a duration.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Duration::from_secs_f64(ticks as f64 / per_second)
}

/// A `Vm*` line of `/proc/PID/status` (e.g. `VmHWM`), in KiB.
pub fn memory_kib(pid: u32, key: &str) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix(" kB")?.trim().parse().ok())
        .with_context(|| format!("no {key} in /proc/{pid}/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_our_own_cpu_and_memory() {
        let me = std::process::id();
        assert!(rss_kib(me).expect("Rss") > 0);
        assert!(memory_kib(me, "VmHWM").expect("VmHWM") > 0);
        cpu_ticks(me).expect("cpu ticks");
        assert!(memory_kib(me, "NoSuchKey").is_err());
    }

    #[test]
    fn overhead_is_the_median_of_each_rounds_own() {
        let ns = |n| Duration::from_nanos(n);
        let round = |without: u64, with: u64| Round {
            without: vec![ns(without), ns(without + 500), ns(without - 1)],
            floor: vec![ns(without + 5), ns(without + 505), ns(without + 4)],
            with: vec![ns(with), ns(with + 500), ns(with - 1)],
            ..Round::default()
        };
        // The machine slows down between rounds; each round's agent costs
        // 1 %, 2 % and 10 % of that round's own time.
        let rounds = [round(1000, 1010), round(2000, 2040), round(1000, 1100)];
        let overheads = rounds
            .iter()
            .map(|r| r.overhead_percent().unwrap())
            .collect::<Vec<_>>();
        for (got, want) in overheads.iter().zip([1.0, 2.0, 10.0]) {
            assert!((got - want).abs() < 1e-9, "{got} vs {want}");
        }
        // The empty program adds 5 ns in every round, the agent 10, 40 and
        // 100 ns.
        let added = rounds
            .iter()
            .map(|r| r.added_ns().unwrap())
            .collect::<Vec<_>>();
        for (got, want) in added.iter().zip([(5.0, 10.0), (5.0, 40.0), (5.0, 100.0)]) {
            assert!(
                (got.0 - want.0).abs() < 1e-6 && (got.1 - want.1).abs() < 1e-6,
                "{got:?}"
            );
        }
        let cost = HookCost {
            path: HotPath::Signal,
            without: ns(1000),
            floor: ns(1005),
            with: ns(1100),
            round_overheads: overheads,
            added_ns: (5.0, 40.0),
            program_runs: (
                ProgramRuns {
                    run_time_ns: 2_000,
                    runs: 200,
                },
                ProgramRuns {
                    run_time_ns: 3_000,
                    runs: 200,
                },
            ),
        };
        assert!((cost.overhead_percent() - 2.0).abs() < 1e-9);
        assert!((cost.floor_ratio() - 8.0).abs() < 1e-9);
        assert_eq!(cost.program_ratio(), Some(1.5));
        assert_eq!(Round::default().overhead_percent(), None);
        assert_eq!(Round::default().added_ns(), None);
    }
}
