//! Turning triggers into queued jobs: which tag, which processes, and
//! whether admission lets each report through.

use std::{
    sync::{Arc, RwLock, mpsc},
    time::{Duration, Instant},
};

use super::{
    job::{Job, Reply},
    queue::{Admission, Refusal},
};
use crate::{
    config::{AgentConfig, Tag},
    model::Trigger,
    report::ReportPlan,
};

/// Queues reports for the worker.
#[derive(Clone)]
pub struct Dispatch {
    config: Arc<RwLock<Arc<AgentConfig>>>,
    admission: Arc<Admission>,
    jobs: mpsc::Sender<Job>,
}

impl Dispatch {
    /// A dispatcher feeding `jobs`.
    pub fn new(
        config: Arc<AgentConfig>,
        admission: Arc<Admission>,
        jobs: mpsc::Sender<Job>,
    ) -> Self {
        Self {
            config: Arc::new(RwLock::new(config)),
            admission,
            jobs,
        }
    }

    /// The configuration in force now.
    pub fn config(&self) -> Arc<AgentConfig> {
        self.config.read().expect("config lock").clone()
    }

    /// Puts `config` in force for triggers from now on; queued reports keep
    /// the configuration they were admitted under.
    pub fn set_config(&self, config: Arc<AgentConfig>) {
        *self.config.write().expect("config lock") = config;
    }

    /// Queues a report for `pid` of `tag`, or says (and logs) why not.
    ///
    /// # Errors
    ///
    /// When the worker is gone: the agent is stopping.
    pub fn queue(
        &self,
        tag: &Tag,
        pid: u32,
        trigger: Trigger,
        reply: Option<Reply>,
    ) -> Result<QueueOutcome, Stopping> {
        let config = self.config();
        let outcome = match self
            .admission
            .admit(pid, config.min_interval, Instant::now())
        {
            Ok(()) => {
                let job = Job {
                    pid,
                    tag: tag.name.clone(),
                    plan: ReportPlan::for_tag(tag, &config.kubelet),
                    config,
                    trigger,
                    reply,
                };
                self.jobs.send(job).map_err(|_| Stopping)?;
                return Ok(QueueOutcome::Queued);
            }
            Err(Refusal::Pending) => QueueOutcome::Merged,
            Err(Refusal::TooSoon(since)) => QueueOutcome::TooSoon {
                since,
                min_interval: config.min_interval,
            },
        };
        match &outcome {
            QueueOutcome::Merged => log::info!("{}", outcome.describe(pid)),
            _ => log::warn!("{}", outcome.describe(pid)),
        }
        Ok(outcome)
    }
}

/// What became of a trigger handed to [`Dispatch::queue`]: all three are
/// normal outcomes of admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueOutcome {
    /// A report was queued for the worker.
    Queued,
    /// A report for the process is already queued or being made; the
    /// trigger was merged into it.
    Merged,
    /// The last report for the process is younger than the minimum
    /// interval; the trigger was dropped.
    TooSoon {
        /// How long ago the last report was admitted.
        since: Duration,
        /// The configured `min_interval_seconds`.
        min_interval: Duration,
    },
}

impl QueueOutcome {
    /// What happened to the trigger for `pid`, as logged and as told to a
    /// requester.
    pub fn describe(&self, pid: u32) -> String {
        match self {
            QueueOutcome::Queued => format!("a report for {pid} was queued"),
            QueueOutcome::Merged => {
                format!("a report for {pid} is already pending; this request was merged into it")
            }
            QueueOutcome::TooSoon {
                since,
                min_interval,
            } => format!(
                "dropped: the last report for {pid} was {:.1} s ago (min_interval_seconds is {})",
                since.as_secs_f64(),
                min_interval.as_secs_f64()
            ),
        }
    }
}

/// The worker is gone, so nothing can be queued: the agent is stopping.
#[derive(Clone, Copy, Debug, thiserror::Error)]
#[error("the agent is stopping")]
pub struct Stopping;

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::QueueOutcome;

    #[test]
    fn refusals_say_what_became_of_the_trigger() {
        assert_eq!(
            QueueOutcome::Merged.describe(42),
            "a report for 42 is already pending; this request was merged into it"
        );
        let too_soon = QueueOutcome::TooSoon {
            since: Duration::from_millis(1_250),
            min_interval: Duration::from_secs(5),
        };
        assert_eq!(
            too_soon.describe(42),
            "dropped: the last report for 42 was 1.2 s ago (min_interval_seconds is 5)"
        );
    }
}
