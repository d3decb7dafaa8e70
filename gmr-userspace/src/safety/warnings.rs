//! Warns about tagged processes that the trigger signal would kill: once per
//! process, at start and after each reload.

use std::collections::HashSet;

use crate::{
    config::AgentConfig,
    proc,
    safety::disposition::{DefaultAction, SignalPolicy, SignalSafety},
    safety::signal::name as signal_name,
};

/// The processes already warned about.
pub struct UnsafeTargets {
    policy: SignalPolicy,
    warned: HashSet<u32>,
}

impl UnsafeTargets {
    /// Nobody warned about yet.
    pub fn new(policy: SignalPolicy) -> Self {
        Self {
            policy,
            warned: HashSet::new(),
        }
    }

    /// Logs a warning for every process of `config`'s tags that use the
    /// signal trigger, not warned about before, whose disposition leaves the
    /// trigger signal harmful and unguarded; says how to ask for its report
    /// safely.
    pub fn warn_new(&mut self, config: &AgentConfig) {
        let name = signal_name(self.policy.signal);
        let verb = DefaultAction::of(self.policy.signal).verb();
        for tag in config.tags.iter().filter(|tag| tag.signal_trigger) {
            for pid in tag.processes() {
                if self.warned.contains(&pid)
                    || self.policy.of_process(pid).0 != SignalSafety::Unsafe
                {
                    continue;
                }
                let file = match &tag.trigger_file {
                    Some(file) => format!("touch {}", file.path.display()),
                    None => "a trigger file for the tag".to_owned(),
                };
                log::warn!(
                    "process {pid} ({}) of tag {} does not handle {name}: {name} would {verb} it; \
                     ask for its report with `gmr-agent trigger {pid}`, {file}, or a trigger signal ignored by default (--signal SIGURG)",
                    proc::files::comm(pid),
                    tag.name,
                );
                self.warned.insert(pid);
            }
        }
    }
}
