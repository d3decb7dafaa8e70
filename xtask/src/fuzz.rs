//! `cargo xtask fuzz [--seconds N] [TARGET]`: runs the cargo-fuzz targets
//! in `fuzz/` for N seconds each and prints what each did.
//!
//! Each target starts from its committed seeds (`fuzz/seeds/TARGET`) and
//! keeps what it finds in `fuzz/corpus/TARGET` (not committed), so later
//! runs go on from there. Builds use the nightly toolchain, debug
//! assertions and overflow checks as `fuzz/Cargo.toml`'s profile sets them
//! (an overflow is a crash), and no sanitizer: the code under test is safe
//! Rust but for length-checked unaligned reads. A crash leaves its input in
//! `fuzz/artifacts/TARGET/` and fails the run.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// The cargo-fuzz version installed when missing (builds on rustc 1.95).
const CARGO_FUZZ_VERSION: &str = "0.13.2";
/// Seconds per target when not given.
pub const DEFAULT_SECONDS: u64 = 20;
/// Largest input tried, by target; libFuzzer's guess from the seeds
/// otherwise. The unwinder's input holds up to 8 stack pages.
const MAX_LEN: &[(&str, usize)] = &[("unwind", 8 * 4096 + 177)];

/// What one target's run did.
struct RunStats {
    target: String,
    executions: u64,
    per_second: u64,
    corpus: usize,
}

/// Builds every target, then runs `only` (or all) for `seconds` each.
pub fn run(seconds: u64, only: Option<&str>) -> Result<()> {
    ensure_cargo_fuzz()?;
    let fuzz_dir = cmd::workspace_root().join("fuzz");
    let mut targets = targets(&fuzz_dir)?;
    if let Some(only) = only {
        if !targets.iter().any(|t| t == only) {
            bail!(
                "no fuzz target {only}; the targets are {}",
                targets.join(", ")
            );
        }
        targets.retain(|t| t == only);
    }
    let started = Instant::now();
    cmd::run(fuzz_command().args(["build", "-s", "none"]))?;
    eprintln!(
        "xtask: fuzz targets built in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    let logs = fuzz_dir.join("target/logs");
    fs::create_dir_all(&logs)?;
    let mut stats = Vec::new();
    let mut crashed = Vec::new();
    for target in &targets {
        match run_target(&fuzz_dir, &logs, target, seconds) {
            Ok(run) => stats.push(run),
            Err(e) => {
                eprintln!("xtask: {e:#}");
                crashed.push(target.clone());
            }
        }
    }
    eprintln!("xtask: fuzzing, {seconds} s per target:");
    eprintln!(
        "  {:<20} {:>12} {:>10} {:>8}",
        "target", "executions", "per s", "corpus"
    );
    for run in &stats {
        eprintln!(
            "  {:<20} {:>12} {:>10} {:>8}",
            run.target, run.executions, run.per_second, run.corpus
        );
    }
    if !crashed.is_empty() {
        bail!(
            "fuzz targets failed: {} (inputs in fuzz/artifacts/; reproduce with \
             `cargo +nightly fuzz run -s none TARGET fuzz/artifacts/TARGET/crash-…`)",
            crashed.join(", ")
        );
    }
    Ok(())
}

/// Runs one target; its libFuzzer output goes to `logs/TARGET.log`.
fn run_target(fuzz_dir: &Path, logs: &Path, target: &str, seconds: u64) -> Result<RunStats> {
    let corpus = fuzz_dir.join("corpus").join(target);
    let seeds = fuzz_dir.join("seeds").join(target);
    fs::create_dir_all(&corpus)?;
    let log_path = logs.join(format!("{target}.log"));
    let log = fs::File::create(&log_path)?;
    let mut command = fuzz_command();
    command
        .args(["run", "-s", "none", target])
        .arg(&corpus)
        .arg(&seeds)
        .arg("--")
        .arg(format!("-max_total_time={seconds}"))
        .args(["-timeout=10", "-rss_limit_mb=4096", "-print_final_stats=1"]);
    if let Some((_, len)) = MAX_LEN.iter().find(|(name, _)| *name == target) {
        command.arg(format!("-max_len={len}"));
    }
    eprintln!(
        "xtask: fuzzing {target} for {seconds} s (log: {})",
        log_path.display()
    );
    let status = command
        .stdout(log.try_clone()?)
        .stderr(log)
        .status()
        .with_context(|| format!("cannot start {command:?}"))?;
    let output = fs::read_to_string(&log_path).unwrap_or_default();
    if !status.success() {
        let tail: Vec<&str> = output.lines().rev().take(40).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        bail!(
            "fuzz target {target} failed ({status}):\n{}",
            tail.join("\n")
        );
    }
    Ok(RunStats {
        target: target.to_owned(),
        executions: final_stat(&output, "number_of_executed_units").unwrap_or(0),
        per_second: final_stat(&output, "average_exec_per_sec").unwrap_or(0),
        corpus: fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0),
    })
}

/// `stat::NAME: N` from libFuzzer's final statistics.
fn final_stat(output: &str, name: &str) -> Option<u64> {
    let prefix = format!("stat::{name}:");
    output
        .lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|value| value.trim().parse().ok())
}

/// The targets: one file each in `fuzz/fuzz_targets/`.
fn targets(fuzz_dir: &Path) -> Result<Vec<String>> {
    let dir = fuzz_dir.join("fuzz_targets");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let path: PathBuf = entry.path();
            (path.extension()? == "rs").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    Ok(names)
}

/// `cargo +nightly fuzz` in the workspace root.
fn fuzz_command() -> Command {
    let mut command = Command::new("cargo");
    command
        .current_dir(cmd::workspace_root())
        .args(["+nightly", "fuzz"]);
    command
}

/// Installs cargo-fuzz when missing; checks that the nightly is there.
fn ensure_cargo_fuzz() -> Result<()> {
    if !cmd::succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "-V"])) {
        bail!(
            "fuzzing needs the nightly toolchain (libFuzzer's instrumentation): rustup toolchain install nightly"
        );
    }
    let version =
        cmd::stdout(Command::new("cargo").args(["fuzz", "--version"])).unwrap_or_default();
    if version.contains(CARGO_FUZZ_VERSION) {
        return Ok(());
    }
    cmd::run(Command::new("cargo").args([
        "install",
        "cargo-fuzz",
        "--version",
        CARGO_FUZZ_VERSION,
        "--locked",
    ]))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_libfuzzer_final_stats() {
        let output = "#1024\tDONE   cov: 10\nstat::number_of_executed_units: 123456\n\
                      stat::average_exec_per_sec:     6172\nstat::peak_rss_mb: 60\n";
        assert_eq!(
            super::final_stat(output, "number_of_executed_units"),
            Some(123456)
        );
        assert_eq!(
            super::final_stat(output, "average_exec_per_sec"),
            Some(6172)
        );
        assert_eq!(super::final_stat(output, "new_units_added"), None);
    }
}
