//! The fixture's latency probe: a thread ticking every millisecond that,
//! on SIGUSR1, prints the largest gap between its ticks since the last
//! SIGUSR1. A gap far above a millisecond means the process was stalled.

use std::time::Duration;

use anyhow::{Context as _, Result};
use gmr_tests::Fixture;

/// How long the probe may take to answer (it answers on its next tick,
/// unless the process is still stopped).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);
/// The probe's answer line.
const PREFIX: &str = "probe max_gap_us=";

/// Reads the probe of one fixture started with `--probe`.
pub struct Probe<'a> {
    fixture: &'a Fixture,
    answers: usize,
}

impl<'a> Probe<'a> {
    /// The probe of `fixture`.
    pub fn new(fixture: &'a Fixture) -> Self {
        Self {
            fixture,
            answers: 0,
        }
    }

    /// Runs `work` and returns what it returned with the largest stall of
    /// the target while it ran.
    pub fn during<T>(&mut self, work: impl FnOnce() -> Result<T>) -> Result<(T, Duration)> {
        self.max_gap()?;
        let out = work()?;
        // A peer stopped at its timeout may leave the target stopped.
        self.fixture.signal(libc::SIGCONT);
        Ok((out, self.max_gap()?))
    }

    /// The largest stall of the target while nothing is asked of it for
    /// `window`: the machine's noise, to read the other stalls against.
    pub fn noise(&mut self, window: Duration) -> Result<Duration> {
        let ((), gap) = self.during(|| {
            std::thread::sleep(window);
            Ok(())
        })?;
        Ok(gap)
    }

    /// The largest gap since the previous call (or the probe's start).
    fn max_gap(&mut self) -> Result<Duration> {
        self.fixture.signal(libc::SIGUSR1);
        self.answers += 1;
        let line = self
            .fixture
            .wait_for_stdout_line(PREFIX, self.answers, ANSWER_TIMEOUT)
            .with_context(|| {
                format!(
                    "fixture {} did not answer the probe request within {ANSWER_TIMEOUT:?}",
                    self.fixture.pid()
                )
            })?;
        parse_gap(&line).with_context(|| format!("bad probe line {line:?}"))
    }
}

/// The gap of `probe max_gap_us=<us> ticks=<n>`.
fn parse_gap(line: &str) -> Option<Duration> {
    let micros = line.strip_prefix(PREFIX)?.split_whitespace().next()?;
    Some(Duration::from_micros(micros.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_probe_line() {
        assert_eq!(
            parse_gap("probe max_gap_us=1234 ticks=99"),
            Some(Duration::from_micros(1234))
        );
        assert_eq!(parse_gap("usr2 count=1"), None);
        assert_eq!(parse_gap("probe max_gap_us=x ticks=1"), None);
    }
}
