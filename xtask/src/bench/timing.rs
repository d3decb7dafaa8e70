//! Wall-clock timing of commands, with a timeout, and series of repeats.

use std::{
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result, bail};

/// How long a timed-out command gets to quit after SIGTERM before SIGKILL.
const GRACE: Duration = Duration::from_secs(5);

/// Repeated measurements of one thing.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Durations of the runs that finished.
    pub samples: Vec<Duration>,
    /// Set when a run was stopped at this timeout (no more runs followed).
    pub timed_out: Option<Duration>,
}

impl Series {
    /// The median of the finished runs, unless a run timed out.
    pub fn median(&self) -> Option<Duration> {
        if self.timed_out.is_some() {
            return None;
        }
        median(&self.samples)
    }

    /// The median as a table cell: `12.3 ms`, `>60 s (timeout)` or `-`.
    pub fn cell(&self) -> String {
        match (self.timed_out, self.median()) {
            (Some(limit), _) => format!(">{} s (timeout)", limit.as_secs()),
            (None, Some(median)) => format_duration(median),
            (None, None) => "-".to_owned(),
        }
    }
}

/// The median of `samples` (the lower middle one for an even count).
pub fn median(samples: &[Duration]) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted.get(sorted.len().saturating_sub(1) / 2).copied()
}

/// `842 µs`, `12.3 ms` or `2.41 s`.
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        format!("{secs:.2} s")
    } else if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        format!("{:.0} µs", secs * 1e6)
    }
}

/// Runs `once` up to `reps` times, but stops early once `budget` is spent
/// (after at least one run) or a run times out (`once` returns `None`).
pub fn series(
    reps: usize,
    budget: Duration,
    timeout: Duration,
    mut once: impl FnMut() -> Result<Option<Duration>>,
) -> Result<Series> {
    let started = Instant::now();
    let mut series = Series::default();
    for _ in 0..reps {
        match once()? {
            Some(took) => series.samples.push(took),
            None => {
                series.timed_out = Some(timeout);
                break;
            }
        }
        if started.elapsed() >= budget {
            break;
        }
    }
    Ok(series)
}

/// Runs `command` with its output discarded and returns its wall time, or
/// `None` if it ran past `timeout` (it is then stopped: SIGTERM, SIGKILL).
/// Fails if it cannot start or exits unsuccessfully.
pub fn run_timed(command: &mut Command, timeout: Duration) -> Result<Option<Duration>> {
    let started = Instant::now();
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("cannot start {command:?}"))?;
    let stderr = drain_stderr(&mut child);
    while started.elapsed() < timeout {
        if let Some(status) = child.try_wait()? {
            let took = started.elapsed();
            if !status.success() {
                let stderr = stderr.join().unwrap_or_default();
                bail!("{command:?} failed ({status}): {}", stderr.trim());
            }
            return Ok(Some(took));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    stop(&mut child);
    Ok(None)
}

/// Reads the child's stderr on a thread so it never blocks on a full pipe.
fn drain_stderr(child: &mut Child) -> std::thread::JoinHandle<String> {
    let stderr = child.stderr.take();
    std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stderr) = stderr {
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
        }
        text
    })
}

/// SIGTERM (gdb detaches on it), then SIGKILL after [`GRACE`].
fn stop(child: &mut Child) {
    // SAFETY: signalling our own child.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
    let started = Instant::now();
    while started.elapsed() < GRACE {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_takes_the_lower_middle() {
        let ms = Duration::from_millis;
        assert_eq!(median(&[ms(3), ms(1), ms(2)]), Some(ms(2)));
        assert_eq!(median(&[ms(4), ms(1), ms(3), ms(2)]), Some(ms(2)));
        assert_eq!(median(&[]), None);
    }

    #[test]
    fn a_timed_out_series_has_no_median() {
        let series = Series {
            samples: vec![Duration::from_secs(1)],
            timed_out: Some(Duration::from_secs(60)),
        };
        assert_eq!(series.median(), None);
        assert_eq!(series.cell(), ">60 s (timeout)");
    }

    #[test]
    fn run_timed_stops_a_slow_command() {
        let took = run_timed(Command::new("sleep").arg("10"), Duration::from_millis(100))
            .expect("sleep starts");
        assert_eq!(took, None);
        let took = run_timed(&mut Command::new("true"), Duration::from_secs(10))
            .expect("true runs")
            .expect("true finishes in time");
        assert!(took < Duration::from_secs(10));
        assert!(run_timed(&mut Command::new("false"), Duration::from_secs(10)).is_err());
    }

    #[test]
    fn durations_read_in_the_right_unit() {
        assert_eq!(format_duration(Duration::from_micros(842)), "842 µs");
        assert_eq!(format_duration(Duration::from_micros(12_340)), "12.3 ms");
        assert_eq!(format_duration(Duration::from_millis(2_410)), "2.41 s");
    }
}
