//! Exact snapshots: freezes the target's cgroup v2 directory (its
//! `cgroup.freeze`) for the capture only, so threads that were running
//! hold still and their saved registers are exact.
//!
//! The freeze is bounded and always undone: the capture waits at most
//! [`SETTLE_TIMEOUT`] for every task to stop, [`guard::FrozenCgroup`] thaws
//! on every path out (errors and panics included), and a
//! [`watchdog`] process thaws at [`DEADLINE`] or as soon as the agent dies,
//! even by SIGKILL. A cgroup that holds the agent, the root cgroup, and a
//! cgroup someone else froze are left alone; the report says why.

pub mod guard;
pub mod watchdog;

use std::{
    fs::OpenOptions,
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{Context as _, Result};

use self::{
    guard::{FrozenCgroup, Thawed, events_frozen},
    watchdog::Watchdog,
};
use crate::{
    model::{
        Freeze, FreezeStatus,
        FreezeStatus::{AlreadyFrozen, Frozen, NotFrozen, Partly},
    },
    targets::cgroup::{cgroup_of_process, cgroup2_mount},
};

/// How long the capture waits for every task of the cgroup to stop.
pub const SETTLE_TIMEOUT: Duration = Duration::from_millis(500);

/// The longest a cgroup stays frozen: the watchdog thaws it then.
pub const DEADLINE: Duration = Duration::from_secs(2);

/// Runs `capture` with `pid`'s cgroup frozen, and says how that went. The
/// capture runs in any case: unfrozen when the freeze is refused or fails.
pub fn frozen_capture<T>(pid: u32, capture: impl FnOnce() -> T) -> (T, Freeze) {
    let dir = match freezable_cgroup(pid) {
        Ok(dir) => dir,
        Err((dir, why)) => return (capture(), untouched(NotFrozen, dir.as_deref(), why)),
    };
    if let Some(why) = frozen_by_others(&dir) {
        return (capture(), untouched(AlreadyFrozen, Some(&dir), why));
    }
    let frozen = match freeze(&dir) {
        Ok(frozen) => frozen,
        Err(e) => {
            return (
                capture(),
                untouched(NotFrozen, Some(&dir), format!("{e:#}")),
            );
        }
    };
    let settled = frozen.wait_settled(SETTLE_TIMEOUT);
    let value = capture();
    let thawed = frozen.thaw();
    let freeze = statement(&dir, settled, &thawed);
    if let Some(note) = &freeze.note {
        log::warn!("freezing {} for {pid}: {note}", dir.display());
    }
    (value, freeze)
}

/// Starts a watchdog for the cgroup at `dir`, then freezes it.
fn freeze(dir: &Path) -> Result<FrozenCgroup> {
    let freeze_file = dir.join("cgroup.freeze");
    let file = OpenOptions::new()
        .write(true)
        .open(&freeze_file)
        .with_context(|| format!("cannot open {} for writing", freeze_file.display()))?;
    let watchdog = Watchdog::start(&freeze_file, DEADLINE)?;
    FrozenCgroup::freeze(dir, file, watchdog)
}

/// The statement about a cgroup this agent froze and thawed.
fn statement(dir: &Path, settled: Option<Duration>, thawed: &Thawed) -> Freeze {
    let mut notes = Vec::new();
    if settled.is_none() {
        notes.push(format!(
            "not every task had stopped after {} ms; captured anyway",
            SETTLE_TIMEOUT.as_millis()
        ));
    }
    if thawed.by_watchdog {
        notes.push(format!(
            "the watchdog thawed the cgroup after at most {} ms, before the capture ended",
            DEADLINE.as_millis()
        ));
    }
    notes.extend(thawed.error.clone());
    Freeze {
        status: if notes.is_empty() { Frozen } else { Partly },
        cgroup: Some(dir.display().to_string()),
        frozen_ms: Some(millis(thawed.frozen_for)),
        settled_ms: settled.map(millis),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    }
}

/// The statement about a cgroup this agent did not freeze, and why.
fn untouched(status: FreezeStatus, dir: Option<&Path>, why: String) -> Freeze {
    Freeze {
        status,
        cgroup: dir.map(|d| d.display().to_string()),
        frozen_ms: None,
        settled_ms: None,
        note: Some(why),
    }
}

/// `pid`'s cgroup v2 directory if freezing it is allowed; otherwise the
/// directory (when known) and why not.
fn freezable_cgroup(pid: u32) -> Result<PathBuf, (Option<PathBuf>, String)> {
    let unknown = |e: anyhow::Error| (None, format!("{e:#}"));
    let dir = cgroup_of_process(pid).map_err(unknown)?;
    let mount = cgroup2_mount().map_err(unknown)?;
    let agent = cgroup_of_process(std::process::id()).map_err(unknown)?;
    match refusal(&dir, &mount, &agent) {
        Some(why) => Err((Some(dir), why)),
        None => Ok(dir),
    }
}

/// Why the cgroup at `dir` must not be frozen by an agent living in the
/// cgroup `agent`, under the cgroup2 mount `mount`; `None` if it may.
fn refusal(dir: &Path, mount: &Path, agent: &Path) -> Option<String> {
    if dir == mount {
        return Some("the target is in the root cgroup, which cannot be frozen".to_owned());
    }
    if agent.starts_with(dir) {
        return Some(format!(
            "cgroup {} holds the agent itself (in {}): freezing it would stop the capture",
            dir.display(),
            agent.display()
        ));
    }
    if !dir.join("cgroup.freeze").exists() {
        return Some(format!(
            "cgroup {} has no cgroup.freeze (the cgroup v2 freezer needs Linux 5.2)",
            dir.display()
        ));
    }
    None
}

/// Why the cgroup at `dir` is frozen already, if someone else froze it or
/// one of its ancestors.
fn frozen_by_others(dir: &Path) -> Option<String> {
    let asked = std::fs::read_to_string(dir.join("cgroup.freeze")).is_ok_and(|f| f.trim() == "1");
    if asked {
        return Some(
            "someone else froze this cgroup before; captured frozen and left it frozen".to_owned(),
        );
    }
    let events = std::fs::read_to_string(dir.join("cgroup.events")).unwrap_or_default();
    events_frozen(&events)
        .then(|| "an ancestor cgroup is frozen; captured frozen and left it as it was".to_owned())
}

/// A duration in milliseconds, to the microsecond.
fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_the_root_and_the_agents_own_cgroup() {
        let mount = Path::new("/sys/fs/cgroup");
        let root = refusal(
            mount,
            mount,
            Path::new("/sys/fs/cgroup/system.slice/gmr.service"),
        );
        assert!(root.is_some_and(|r| r.contains("root cgroup")));
        let service = Path::new("/sys/fs/cgroup/system.slice/nova.service");
        let own = refusal(service, mount, service).unwrap();
        assert!(own.contains("holds the agent itself"), "{own}");
        let parent = refusal(
            Path::new("/sys/fs/cgroup/system.slice"),
            mount,
            Path::new("/sys/fs/cgroup/system.slice/gmr.service"),
        )
        .unwrap();
        assert!(parent.contains("holds the agent itself"), "{parent}");
        let sibling_prefix = refusal(
            Path::new("/sys/fs/cgroup/no-such-gmr"),
            mount,
            Path::new("/sys/fs/cgroup/no-such-gmr-agent"),
        )
        .unwrap();
        assert!(
            sibling_prefix.contains("has no cgroup.freeze"),
            "a name prefix is not an ancestor: {sibling_prefix}"
        );
    }

    #[test]
    fn millis_keep_microseconds() {
        assert_eq!(millis(Duration::from_micros(1234)), 1.234);
        assert_eq!(millis(Duration::from_nanos(1_500_400)), 1.5);
    }
}
