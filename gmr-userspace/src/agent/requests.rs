//! Serving control requests: `trigger TARGET` queues reports and answers
//! with the files written; `list` describes the tags.

use std::{path::Path, sync::Arc, time::Duration};

use tokio::net::UnixStream;

use super::{
    dispatch::{Dispatch, QueueOutcome},
    worker::LastReports,
};
use crate::{
    config::Tag,
    control::{
        protocol::{Outcome, ProcessStatus, Request, Response, TagStatus},
        server::{peer, read_request, write_response},
    },
    model::{Requester, Trigger},
    proc,
    safety::disposition::SignalPolicy,
    targets::cgroup::{cgroup2_mount, processes_below},
};

/// How long a `trigger` request waits for its reports.
const REPLY_TIMEOUT: Duration = Duration::from_secs(60);

/// Answers one client.
pub async fn serve(
    mut stream: UnixStream,
    dispatch: Dispatch,
    last_reports: Arc<LastReports>,
    policy: SignalPolicy,
) {
    let response = match (peer(&stream), read_request(&mut stream).await) {
        (Ok(requester), Ok(Request::Trigger { target })) => {
            trigger(&dispatch, &target, requester).await
        }
        (Ok(_), Ok(Request::List)) => list(&dispatch, &last_reports, &policy),
        (Err(e), _) | (_, Err(e)) => Response::Error {
            message: format!("{e:#}"),
        },
    };
    if let Err(e) = write_response(&mut stream, &response).await {
        log::warn!("control client went away before its answer: {e:#}");
    }
}

/// Queues a report for every process of `target` and waits for the files.
async fn trigger(dispatch: &Dispatch, target: &str, requester: Requester) -> Response {
    log::info!(
        "control request from {} (uid {}, {}): trigger {target}",
        requester.pid,
        requester.uid,
        requester.comm
    );
    let (tag, pids) = match resolve(dispatch, target) {
        Ok(found) => found,
        Err(message) => return Response::Error { message },
    };
    let (reply, mut replies) = tokio::sync::mpsc::unbounded_channel();
    let mut outcomes = Vec::new();
    let mut waiting = 0;
    for pid in pids {
        let trigger = Trigger::Request {
            requester: Some(requester.clone()),
        };
        let note = match dispatch.queue(&tag, pid, trigger, Some(reply.clone())) {
            Ok(QueueOutcome::Queued) => {
                waiting += 1;
                continue;
            }
            Ok(refused) => refused.describe(pid),
            Err(stopping) => stopping.to_string(),
        };
        outcomes.push(Outcome {
            pid,
            files: Vec::new(),
            note: Some(note),
        });
    }
    drop(reply);
    let deadline = tokio::time::Instant::now() + REPLY_TIMEOUT;
    while waiting > 0 {
        match tokio::time::timeout_at(deadline, replies.recv()).await {
            Ok(Some((pid, files))) => {
                waiting -= 1;
                let note = files
                    .is_empty()
                    .then(|| "the report could not be written (see the agent's log)".to_owned());
                outcomes.push(Outcome { pid, files, note });
            }
            Ok(None) | Err(_) => break,
        }
    }
    if waiting > 0 {
        outcomes.push(Outcome {
            pid: 0,
            files: Vec::new(),
            note: Some(format!(
                "{waiting} report(s) still in progress after {REPLY_TIMEOUT:?}"
            )),
        });
    }
    outcomes.sort_by_key(|o| o.pid);
    Response::Triggered { outcomes }
}

/// A pid, a tag name or a cgroup path → its tag and processes.
fn resolve(dispatch: &Dispatch, target: &str) -> Result<(Tag, Vec<u32>), String> {
    let config = dispatch.config();
    if let Ok(pid) = target.parse::<u32>() {
        let tag = config.tag_of_process(pid).ok_or_else(|| {
            format!("process {pid} is not in a tagged cgroup (use `gmr-agent report --pid {pid}` for any process)")
        })?;
        return Ok((tag.clone(), vec![pid]));
    }
    if let Some(tag) = config.tags.iter().find(|t| t.name == target) {
        return Ok((tag.clone(), tag.processes()));
    }
    if target.contains('/') {
        let mount = cgroup2_mount().map_err(|e| format!("{e:#}"))?;
        let path = Path::new(target);
        let path = if path.is_absolute() {
            path.to_path_buf()
        } else {
            mount.join(path)
        };
        let tag = config
            .tags
            .iter()
            .find(|t| t.covers(&path))
            .ok_or_else(|| {
                format!(
                    "cgroup {} is not tagged nor below a tagged cgroup",
                    path.display()
                )
            })?;
        if !path.is_dir() {
            return Err(format!("cgroup {} does not exist", path.display()));
        }
        return Ok((tag.clone(), processes_below(&path)));
    }
    let names: Vec<&str> = config.tags.iter().map(|t| t.name.as_str()).collect();
    Err(format!(
        "no tag, pid or cgroup path {target:?}; tags: {}",
        names.join(", ")
    ))
}

/// Every tag with its processes (and whether the trigger signal is safe for
/// each under `policy`), trigger file and newest report.
fn list(dispatch: &Dispatch, last_reports: &LastReports, policy: &SignalPolicy) -> Response {
    let last = last_reports.lock().expect("last reports");
    let tags = dispatch
        .config()
        .tags
        .iter()
        .map(|tag| TagStatus {
            name: tag.name.clone(),
            cgroups: tag.cgroups.iter().map(|c| c.path.clone()).collect(),
            processes: tag
                .processes()
                .into_iter()
                .map(|pid| {
                    let (signal_safety, signal_note) = policy.of_process(pid);
                    ProcessStatus {
                        pid,
                        comm: proc::files::comm(pid),
                        signal_safety,
                        signal_note,
                    }
                })
                .collect(),
            trigger_file: tag.trigger_file.as_ref().map(|f| f.path.clone()),
            last_report: last.get(&tag.name).cloned(),
        })
        .collect();
    Response::Listing { tags }
}
