//! Admission of trigger events: one report in flight per process (later
//! triggers merge into it), and at most one report per process per minimum
//! interval (dropped triggers are logged).

use std::{
    collections::{HashMap, HashSet},
    sync::Mutex,
    time::{Duration, Instant},
};

/// Why a trigger did not become a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// A report for the process is queued or being made.
    Pending,
    /// The last report for the process is younger than the interval.
    TooSoon(Duration),
}

/// Which processes have a report pending, and when each last got one.
#[derive(Debug, Default)]
pub struct Admission {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    pending: HashSet<u32>,
    last_report: HashMap<u32, Instant>,
}

impl Admission {
    /// Admits a report for `pid` now, or says why not.
    pub fn admit(&self, pid: u32, min_interval: Duration, now: Instant) -> Result<(), Refusal> {
        let mut state = self.state.lock().expect("admission state");
        if state.pending.contains(&pid) {
            return Err(Refusal::Pending);
        }
        if let Some(&last) = state.last_report.get(&pid) {
            let since = now.saturating_duration_since(last);
            if since < min_interval {
                return Err(Refusal::TooSoon(since));
            }
        }
        state.pending.insert(pid);
        state.last_report.insert(pid, now);
        // Forget processes not reported for a long time, so the map stays small.
        if state.last_report.len() > 4096 {
            state
                .last_report
                .retain(|_, t| now.saturating_duration_since(*t) < min_interval);
        }
        Ok(())
    }

    /// Marks the report for `pid` done.
    pub fn finished(&self, pid: u32) {
        self.state
            .lock()
            .expect("admission state")
            .pending
            .remove(&pid);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_pending_and_rate_limits_per_process() {
        let admission = Admission::default();
        let t0 = Instant::now();
        let interval = Duration::from_secs(5);
        assert_eq!(admission.admit(1, interval, t0), Ok(()));
        assert_eq!(admission.admit(1, interval, t0), Err(Refusal::Pending));
        assert_eq!(
            admission.admit(2, interval, t0),
            Ok(()),
            "other processes are independent"
        );
        admission.finished(1);
        assert_eq!(
            admission.admit(1, interval, t0 + Duration::from_secs(2)),
            Err(Refusal::TooSoon(Duration::from_secs(2)))
        );
        assert_eq!(
            admission.admit(1, interval, t0 + Duration::from_secs(6)),
            Ok(())
        );
        admission.finished(1);
        assert_eq!(
            admission.admit(1, Duration::ZERO, t0 + Duration::from_secs(6)),
            Ok(())
        );
    }
}
