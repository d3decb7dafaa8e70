//! What the worker does between reports: hand a report's freed memory back
//! once a burst of reports is over, and drop the report caches once no
//! report came for `cache_idle_seconds`.
//!
//! Trimming right after every report made the next report of a burst fault
//! all its buffers in again (about 15 % of a 2,000-thread report's time),
//! so the trim waits for a pause instead.

use std::time::{Duration, Instant};

use crate::report::Reporter;

/// The pause after a report that ends a burst: its freed memory is handed
/// back then.
pub const TRIM_AFTER: Duration = Duration::from_secs(1);

/// The idle work still due, with when it is due.
#[derive(Debug, Default)]
pub struct IdleWork {
    trim_at: Option<Instant>,
    drop_caches_at: Option<Instant>,
}

impl IdleWork {
    /// Schedules the work after a report that ended at `now`, with caches
    /// kept for `cache_idle`.
    pub fn after_report(&mut self, now: Instant, cache_idle: Duration) {
        self.trim_at = Some(now + TRIM_AFTER.min(cache_idle));
        self.drop_caches_at = Some(now + cache_idle);
    }

    /// How long the worker may wait for a job before some work is due;
    /// `None` when nothing is left to do.
    pub fn wait(&self, now: Instant) -> Option<Duration> {
        [self.trim_at, self.drop_caches_at]
            .into_iter()
            .flatten()
            .min()
            .map(|at| at.saturating_duration_since(now))
    }

    /// Does the work due at `now`: drops `reporter`'s caches, hands freed
    /// memory back. Returns what it did, for the log.
    pub fn run_due(&mut self, now: Instant, reporter: &mut Reporter) -> Done {
        let drop_caches = self.drop_caches_at.is_some_and(|at| at <= now);
        let trim = drop_caches || self.trim_at.is_some_and(|at| at <= now);
        if drop_caches {
            reporter.drop_caches();
            self.drop_caches_at = None;
        }
        if trim {
            release_freed_memory();
            self.trim_at = None;
        }
        match (drop_caches, trim) {
            (true, _) => Done::DroppedCaches,
            (false, true) => Done::Trimmed,
            (false, false) => Done::Nothing,
        }
    }
}

/// What [`IdleWork::run_due`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Done {
    /// Nothing was due yet.
    Nothing,
    /// Freed memory was handed back.
    Trimmed,
    /// The caches were dropped and their memory handed back.
    DroppedCaches,
}

/// Hands freed heap memory back to the system: a report on thousands of
/// threads holds hundreds of MiB of stack copies for a moment, and loading
/// the programs parses the kernel's BTF (about 25 MiB freed at start);
/// without this the idle agent would keep that much resident.
pub fn release_freed_memory() {
    #[cfg(target_env = "gnu")]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_after_a_pause_then_drops_caches_after_the_idle_time() {
        let start = Instant::now();
        let mut idle = IdleWork::default();
        assert_eq!(idle.wait(start), None, "nothing before a report");
        idle.after_report(start, Duration::from_secs(60));
        assert_eq!(idle.wait(start), Some(TRIM_AFTER));
        idle.trim_at = None;
        assert_eq!(idle.wait(start), Some(Duration::from_secs(60)));
        let later = start + Duration::from_secs(61);
        assert_eq!(idle.wait(later), Some(Duration::ZERO), "overdue is due now");

        idle.after_report(start, Duration::ZERO);
        assert_eq!(
            idle.wait(start),
            Some(Duration::ZERO),
            "cache_idle_seconds 0: everything at once after each report"
        );
    }
}
