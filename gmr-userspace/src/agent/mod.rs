//! The daemon: waits for triggers (the signal, trigger files) and writes a
//! report for each process they name.
//!
//! The async side only receives events and queues jobs; one worker thread
//! owns the [`Reporter`] and makes reports one at a time. [`queue`] decides
//! which triggers become reports.

mod dispatch;
mod idle;
mod job;
mod queue;
mod requests;
mod worker;

use std::{
    path::Path,
    sync::{Arc, mpsc},
    thread,
};

use anyhow::{Context as _, Result};
use aya::Ebpf;
use gmr_common::TriggerEvent;
use tokio::signal::unix::{SignalKind, signal};

use self::{
    dispatch::Dispatch,
    queue::Admission,
    worker::{LastReports, work},
};
use crate::{
    capture::{Capturer, decode::comm_string},
    config::{AgentConfig, Overrides, TriggerScope, require_tags},
    control::server::ControlSocket,
    kernel::{
        kallsyms::KernelSymbols,
        loader::{LoadOptions, load_object},
    },
    model::{Requester, Trigger},
    report::Reporter,
    safety::{
        disposition::SignalPolicy,
        guard::{GuardState, attach_guard, unguarded_warning},
        signal::name as signal_name,
        warnings::UnsafeTargets,
    },
    targets::{cgroup::main_process, kubernetes::RESCAN_INTERVAL},
    trigger::{FileHook, FileTriggerEvent, TriggerFileSpec, Triggered, Triggers, delivery_name},
};

/// Runs until SIGINT or SIGTERM with the configuration `overrides` make;
/// SIGHUP reloads it. `control_socket`: where `gmr-agent trigger` and `list`
/// reach this agent, root only or also `control_group`.
pub fn run(overrides: Overrides, control_socket: &Path, control_group: Option<u32>) -> Result<()> {
    let config = AgentConfig::load(&overrides)?;
    require_tags(&config)?;
    ignore_sigpipe();
    let kernel_symbols = KernelSymbols::read_in_background();
    let loaded = load_object(LoadOptions {
        trigger_signal: config.signal,
        stack_cap: config.stack_cap,
    })?;
    let mut ebpf = loaded.ebpf;
    let guard = attach_guard(&mut ebpf, config.signal, &loaded.guard_layout);
    match &guard {
        GuardState::Active => log::info!(
            "signal guard active: {} is refused (and reported) for tagged processes it would kill",
            signal_name(config.signal)
        ),
        GuardState::NotNeeded => {}
        GuardState::Unavailable(reason) => {
            log::warn!("{}", unguarded_warning(config.signal, reason))
        }
    }
    let policy = SignalPolicy {
        signal: config.signal,
        guarded: guard.is_active(),
    };
    let mut unsafe_targets = UnsafeTargets::new(policy);
    let capturer = Capturer::new(&mut ebpf, config.stack_cap)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let files = trigger_files(&config);
        let mut triggers =
            Triggers::attach(&mut ebpf, &config.tags, &files, FileHook::Tracepoints)?;
        unsafe_targets.warn_new(&config);
        let listener = ControlSocket::bind(control_socket, control_group)?;
        let admission = Arc::new(Admission::default());
        let last_reports = Arc::new(LastReports::default());
        let (jobs, queue) = mpsc::channel();
        let worker = {
            let (admission, last) = (admission.clone(), last_reports.clone());
            thread::Builder::new()
                .name("gmr-reporter".into())
                .spawn(move || {
                    work(
                        Reporter::new(capturer, kernel_symbols),
                        queue,
                        &admission,
                        &last,
                    )
                })?
        };
        let dispatch = Dispatch::new(Arc::new(config.clone()), admission, jobs);
        log::info!(
            "agent ready: {} tag(s), trigger {}, {} trigger file(s) ({:?}), kernel hooks: {}, reports in {}, control socket {}",
            config.tags.len(),
            signal_name(config.signal),
            files.len(),
            triggers.files().hook(),
            triggers.attached_hooks(),
            config.report_dir.display(),
            control_socket.display()
        );
        idle::release_freed_memory();
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let mut hup = signal(SignalKind::hangup())?;
        let mut rescan = tokio::time::interval(RESCAN_INTERVAL);
        rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                events = triggers.next_events() => {
                    for event in events? {
                        match event {
                            Triggered::Signal(e) => on_signal(&dispatch, &e),
                            Triggered::File(e) => on_file(&dispatch, &e),
                        }
                    }
                }
                client = listener.accept() => match client {
                    Ok(stream) => {
                        tokio::spawn(requests::serve(stream, dispatch.clone(), last_reports.clone(), policy));
                    }
                    Err(e) => log::warn!("control socket: {e:#}"),
                },
                _ = hup.recv() => {
                    reload(&overrides, &dispatch, &mut ebpf, &mut triggers);
                    unsafe_targets.warn_new(&dispatch.config());
                }
                _ = rescan.tick() => {
                    rescan_pods(&dispatch, &mut ebpf, &mut triggers);
                    unsafe_targets.warn_new(&dispatch.config());
                }
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        }
        log::info!("stopping");
        drop(dispatch);
        let _ = worker.join();
        Ok(())
    })
}

/// The trigger files of the tags that have one; the index is the tag's.
fn trigger_files(config: &AgentConfig) -> Vec<TriggerFileSpec> {
    config
        .tags
        .iter()
        .enumerate()
        .filter_map(|(index, tag)| {
            let file = tag.trigger_file.as_ref()?;
            Some(TriggerFileSpec::new(
                index as u32,
                file.path.clone(),
                file.group,
            ))
        })
        .collect()
}

/// The trigger signal was generated for a tagged process.
fn on_signal(dispatch: &Dispatch, event: &TriggerEvent) {
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
    let config = dispatch.config();
    let Some(tag) = config.tag_by_cgroup_id(event.tagged_cgroup_id) else {
        log::warn!("event for untagged cgroup id {}", event.tagged_cgroup_id);
        return;
    };
    let trigger = Trigger::Signal {
        signal,
        delivery: Some(delivery_name(event.result).to_owned()),
        requester: Requester {
            pid: event.sender_tgid,
            uid: event.sender_uid,
            comm: sender,
        },
    };
    let _ = dispatch.queue(tag, pid, trigger, None);
}

/// A tag's trigger file was touched: every process of the tag gets a report.
fn on_file(dispatch: &Dispatch, event: &FileTriggerEvent) {
    let config = dispatch.config();
    let Some(tag) = config.tags.get(event.tag_index as usize) else {
        log::warn!("event for unknown trigger file {}", event.path.display());
        return;
    };
    let requester = event.requester.as_ref().map(|r| Requester {
        pid: r.pid,
        uid: r.uid,
        comm: r.comm.clone(),
    });
    match &requester {
        Some(r) => log::info!(
            "{} touched by {} ({}, uid {})",
            event.path.display(),
            r.pid,
            r.comm,
            r.uid
        ),
        None => log::info!(
            "{} touched (requester unknown: inotify fallback)",
            event.path.display()
        ),
    }
    let scope = tag
        .trigger_file
        .as_ref()
        .map(|f| f.scope)
        .unwrap_or_default();
    let pids = match scope {
        TriggerScope::All => tag.processes(),
        TriggerScope::Main => tag
            .cgroups
            .iter()
            .filter_map(|c| main_process(&c.path))
            .collect(),
    };
    if pids.is_empty() {
        log::info!("tag {} has no processes to report on", tag.name);
    }
    for pid in pids {
        let trigger = Trigger::File {
            file: event.path.display().to_string(),
            requester: requester.clone(),
        };
        let _ = dispatch.queue(tag, pid, trigger, None);
    }
}

/// SIGHUP: reads the configuration again and puts it in force, re-tagging
/// cgroups and re-arming trigger files while the programs stay attached. A
/// configuration that does not load, or does not arm, changes nothing.
fn reload(overrides: &Overrides, dispatch: &Dispatch, ebpf: &mut Ebpf, triggers: &mut Triggers) {
    let old = dispatch.config();
    let mut new = match AgentConfig::load(overrides).and_then(|c| require_tags(&c).map(|()| c)) {
        Ok(config) => config,
        Err(e) => {
            log::error!("reload failed, keeping the running configuration: {e:#}");
            return;
        }
    };
    if new.signal != old.signal {
        log::warn!(
            "reload: the trigger signal is compiled into the loaded programs; keeping {} until a restart",
            signal_name(old.signal)
        );
        new.signal = old.signal;
    }
    if new.stack_cap != old.stack_cap {
        log::warn!(
            "reload: max_stack_bytes sizes the loaded programs' ring buffer; keeping {} until a restart",
            old.stack_cap
        );
        new.stack_cap = old.stack_cap;
    }
    let files = trigger_files(&new);
    if let Err(e) = triggers.reconfigure(ebpf, &new.tags, &files) {
        log::error!("reload failed, keeping the running configuration: {e:#}");
        return;
    }
    log::info!(
        "reloaded: {} tag(s), {} trigger file(s), kernel hooks: {}",
        new.tags.len(),
        files.len(),
        triggers.attached_hooks()
    );
    dispatch.set_config(Arc::new(new));
}

/// Resolves pod and namespace tags again and tags the cgroups of pods
/// that started or stopped since; the rest of the configuration stays.
fn rescan_pods(dispatch: &Dispatch, ebpf: &mut Ebpf, triggers: &mut Triggers) {
    let new = match dispatch.config().with_pods_rescanned() {
        Ok(Some(new)) => new,
        Ok(None) => return,
        Err(e) => {
            log::warn!("pod tags not rescanned, keeping their cgroups: {e:#}");
            return;
        }
    };
    if let Err(e) = triggers.retag(ebpf, &new.tags) {
        log::error!("pod tags not retagged, keeping their cgroups: {e:#}");
        return;
    }
    for tag in new.tags.iter().filter(|t| t.target.follows_pods()) {
        log::info!(
            "{}: {} cgroup(s) after the pod rescan",
            tag.name,
            tag.cgroups.len()
        );
    }
    dispatch.set_config(Arc::new(new));
}

/// Writing to a target's closed pipe must fail with EPIPE, not kill us.
fn ignore_sigpipe() {
    // SAFETY: setting a signal disposition to SIG_IGN is always sound.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}
