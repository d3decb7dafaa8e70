//! A queued report, as the dispatcher hands it to the worker: the one home
//! of the types both sides share, so neither imports the other.

use std::{path::PathBuf, sync::Arc};

use crate::{config::AgentConfig, model::Trigger, report::ReportPlan};

/// Where the worker says which files a report went to.
pub type Reply = tokio::sync::mpsc::UnboundedSender<(u32, Vec<PathBuf>)>;

/// One report to make.
pub struct Job {
    /// The process.
    pub pid: u32,
    /// Its tag's name (the report subdirectory).
    pub tag: String,
    /// What the report holds beyond the standard sections.
    pub plan: ReportPlan,
    /// The configuration in force when the trigger was admitted.
    pub config: Arc<AgentConfig>,
    /// What asked for it.
    pub trigger: Trigger,
    /// Where to say which files were written (control requests wait for it).
    pub reply: Option<Reply>,
}
