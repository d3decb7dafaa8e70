//! A frozen cgroup as a value: freezing writes `1` to its `cgroup.freeze`,
//! thawing (explicitly, or on drop: error paths, panics) writes `0`, then
//! dismisses the watchdog that covers the agent dying in between.

use std::{
    fs::File,
    io::Write as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{Context as _, Result};

use super::watchdog::Watchdog;

/// How often the frozen state is re-read while waiting for it. kernfs
/// rate-limits `cgroup.events` notifications to one per 10 ms, so polling
/// the file for a change would add up to 10 ms of freeze; re-reading it is
/// a few microseconds.
const SETTLE_POLL: Duration = Duration::from_micros(100);

/// A cgroup this process froze; thawed when dropped.
pub struct FrozenCgroup {
    freeze: File,
    events: PathBuf,
    since: Instant,
    watchdog: Option<Watchdog>,
}

/// What thawing found.
#[derive(Debug)]
pub struct Thawed {
    /// From the freeze write to the end of the thaw write.
    pub frozen_for: Duration,
    /// The watchdog thawed the cgroup: its deadline passed first, or this
    /// process could not.
    pub by_watchdog: bool,
    /// Why writing `0` failed, if it did.
    pub error: Option<String>,
}

impl FrozenCgroup {
    /// Freezes the cgroup at `dir` through `freeze` (its `cgroup.freeze`,
    /// open for writing), with `watchdog` standing by.
    pub fn freeze(dir: &Path, mut freeze: File, watchdog: Watchdog) -> Result<Self> {
        let since = Instant::now();
        if let Err(e) = freeze.write_all(b"1") {
            // Nothing to thaw: dismiss the watchdog, or it would thaw anyway.
            watchdog.finish();
            return Err(e)
                .with_context(|| format!("cannot write 1 to {}/cgroup.freeze", dir.display()));
        }
        Ok(Self {
            freeze,
            events: dir.join("cgroup.events"),
            since,
            watchdog: Some(watchdog),
        })
    }

    /// Waits up to `timeout` for `cgroup.events` to say `frozen 1`;
    /// returns how long after the freeze write it did, or `None`.
    pub fn wait_settled(&self, timeout: Duration) -> Option<Duration> {
        let until = Instant::now() + timeout;
        loop {
            if std::fs::read_to_string(&self.events).is_ok_and(|e| events_frozen(&e)) {
                return Some(self.since.elapsed());
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(SETTLE_POLL);
        }
    }

    /// Writes `0` and dismisses the watchdog.
    pub fn thaw(mut self) -> Thawed {
        self.thaw_now()
    }

    fn thaw_now(&mut self) -> Thawed {
        let error = self
            .freeze
            .write_all(b"0")
            .err()
            .map(|e| format!("cannot write 0 to cgroup.freeze: {e}"));
        let frozen_for = self.since.elapsed();
        let by_watchdog = match (self.watchdog.take(), &error) {
            (Some(watchdog), None) => watchdog.finish(),
            // Dismissed without its done byte, it tries the thaw at once.
            (Some(_), Some(_)) => true,
            (None, _) => false,
        };
        Thawed {
            frozen_for,
            by_watchdog,
            error,
        }
    }
}

impl Drop for FrozenCgroup {
    /// Thaws a cgroup that [`FrozenCgroup::thaw`] did not: an error or a
    /// panic left the capture early.
    fn drop(&mut self) {
        if self.watchdog.is_some() {
            let thawed = self.thaw_now();
            if let Some(error) = thawed.error {
                log::error!("{error} (the freeze watchdog thaws it at its deadline)");
            }
        }
    }
}

/// Whether a `cgroup.events` text says `frozen 1`.
pub fn events_frozen(events: &str) -> bool {
    events
        .lines()
        .any(|line| line.split_whitespace().eq(["frozen", "1"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_frozen_flag() {
        assert!(events_frozen("populated 1\nfrozen 1\n"));
        assert!(!events_frozen("populated 1\nfrozen 0\n"));
        assert!(!events_frozen("populated 1\n"));
        assert!(!events_frozen("frozen 10\n"));
    }
}
