//! Turning triggers into queued jobs: which tag, which processes, and
//! whether admission lets each report through.

use std::{
    sync::{Arc, RwLock, mpsc},
    time::Instant,
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
    pub fn queue(
        &self,
        tag: &Tag,
        pid: u32,
        trigger: Trigger,
        reply: Option<Reply>,
    ) -> Result<(), String> {
        let config = self.config();
        match self
            .admission
            .admit(pid, config.min_interval, Instant::now())
        {
            Ok(()) => {
                let job = Job {
                    pid,
                    tag: tag.name.clone(),
                    plan: ReportPlan::for_tag(tag),
                    config,
                    trigger,
                    reply,
                };
                self.jobs
                    .send(job)
                    .map_err(|_| "the agent is stopping".to_owned())
            }
            Err(Refusal::Pending) => {
                let note = format!(
                    "a report for {pid} is already pending; this request was merged into it"
                );
                log::info!("{note}");
                Err(note)
            }
            Err(Refusal::TooSoon(since)) => {
                let note = format!(
                    "dropped: the last report for {pid} was {:.1} s ago (min_interval_seconds is {})",
                    since.as_secs_f64(),
                    config.min_interval.as_secs_f64()
                );
                log::warn!("{note}");
                Err(note)
            }
        }
    }
}
