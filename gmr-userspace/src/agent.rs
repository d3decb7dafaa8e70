//! The daemon: waits for trigger events and writes a report for each.
//!
//! The async side only receives events and queues jobs; one worker thread
//! owns the [`Reporter`] and makes reports one at a time. A process that
//! already has a report queued or in progress gets no second one: triggers
//! that arrive meanwhile are merged into it.

use std::{
    collections::HashSet,
    sync::{Arc, Mutex, mpsc},
    thread,
    time::{Duration, Instant, SystemTime},
};

use anyhow::{Context as _, Result};
use gmr_common::TriggerEvent;
use tokio::signal::unix::{SignalKind, signal};

use crate::{
    capture::Capturer,
    capture::decode::comm_string,
    config::{AgentConfig, require_tags},
    kernel::loader::{LoadOptions, load},
    model::{Requester, Trigger, TriggerKind},
    report::{ReportPlan, Reporter},
    signal::name as signal_name,
    sink::{report_dir::write_report_file, target_stderr::write_to_target_stderr},
    trigger::{SignalTrigger, delivery_name},
    view::{Format, render, render_text},
};

/// How long a report may take to reach a target's stderr.
const STDERR_DEADLINE: Duration = Duration::from_secs(2);

/// One report to make.
struct Job {
    pid: u32,
    tag: String,
    plan: ReportPlan,
    trigger: Trigger,
}

/// Runs until SIGINT or SIGTERM.
pub fn run(config: AgentConfig) -> Result<()> {
    require_tags(&config)?;
    ignore_sigpipe();
    let mut ebpf = load(LoadOptions {
        trigger_signal: config.signal,
    })?;
    let capturer = Capturer::new(&mut ebpf)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut trigger = SignalTrigger::attach(&mut ebpf, &config.tags)?;
        let in_flight = Arc::new(Mutex::new(HashSet::new()));
        let (jobs, queue) = mpsc::channel();
        let worker = {
            let (config, in_flight) = (config.clone(), in_flight.clone());
            thread::Builder::new()
                .name("gmr-reporter".into())
                .spawn(move || work(Reporter::new(capturer), queue, &config, &in_flight))?
        };
        log::info!(
            "agent ready: {} tag(s), trigger {}, reports in {}",
            config.tags.len(),
            signal_name(config.signal),
            config.report_dir.display()
        );
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        loop {
            tokio::select! {
                events = trigger.next_events() => {
                    for event in events? {
                        queue_job(&config, &in_flight, &jobs, &event);
                    }
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        log::info!("stopping");
        drop(jobs);
        let _ = worker.join();
        Ok(())
    })
}

/// Queues a report for the event's process unless one is already pending.
fn queue_job(
    config: &AgentConfig,
    in_flight: &Mutex<HashSet<u32>>,
    jobs: &mpsc::Sender<Job>,
    event: &TriggerEvent,
) {
    let pid = event.target_tgid;
    let sender = comm_string(&event.sender_comm);
    let signal = signal_name(event.signal);
    log::info!(
        "{signal} for {pid} ({}) from {} ({sender}, uid {}): {}",
        comm_string(&event.target_comm),
        event.sender_tgid,
        event.sender_uid,
        delivery_name(event.result)
    );
    let Some(tag) = config.tag_by_cgroup_id(event.tagged_cgroup_id) else {
        log::warn!("event for untagged cgroup id {}", event.tagged_cgroup_id);
        return;
    };
    if !in_flight.lock().expect("in-flight set").insert(pid) {
        log::info!("a report for {pid} is already pending; merging this trigger into it");
        return;
    }
    let trigger = Trigger {
        kind: TriggerKind::Signal,
        signal: Some(signal),
        requester: Some(Requester {
            pid: event.sender_tgid,
            uid: event.sender_uid,
            comm: sender,
        }),
    };
    let _ = jobs.send(Job {
        pid,
        tag: tag.name.clone(),
        plan: ReportPlan::for_tag(tag),
        trigger,
    });
}

/// The worker: makes and delivers reports until the queue closes.
fn work(
    mut reporter: Reporter,
    queue: mpsc::Receiver<Job>,
    config: &AgentConfig,
    in_flight: &Mutex<HashSet<u32>>,
) {
    for job in queue {
        let started = Instant::now();
        let report = reporter.report(job.pid, job.trigger, &job.plan);
        let made_in = started.elapsed();
        in_flight.lock().expect("in-flight set").remove(&job.pid);
        let text = render_text(&report);
        let at = SystemTime::now();
        for &format in &config.formats {
            let contents = match format {
                Format::Text => text.clone(),
                other => render(&report, other),
            };
            let ext = format.extension();
            match write_report_file(&config.report_dir, &job.tag, job.pid, at, ext, &contents) {
                Ok(path) => log::info!(
                    "report for {} made in {:.1} ms, written to {}",
                    job.pid,
                    made_in.as_secs_f64() * 1e3,
                    path.display()
                ),
                Err(e) => log::error!(
                    "cannot write the report for {} under {}: {e}",
                    job.pid,
                    config.report_dir.display()
                ),
            }
        }
        if config.target_stderr {
            match write_to_target_stderr(job.pid, &text, STDERR_DEADLINE) {
                Ok(outcome) if outcome.is_complete() => {}
                Ok(outcome) => log::warn!(
                    "stderr of {} took only {} of {} bytes within {STDERR_DEADLINE:?}",
                    job.pid,
                    outcome.written,
                    outcome.total
                ),
                Err(e) => log::warn!("report not written to the target's stderr: {e}"),
            }
        }
    }
}

/// Writing to a target's closed pipe must fail with EPIPE, not kill us.
fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_IGN is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}
