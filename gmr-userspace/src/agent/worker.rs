//! The worker: makes each queued report and delivers it to the report
//! directory (every configured format, then retention), then to the
//! pipeline sinks (stdout JSON lines, the OTLP exporter's queue) and to the
//! target's stderr.

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{
        Mutex,
        mpsc::{self, RecvTimeoutError},
    },
    time::{Duration, Instant, SystemTime},
};

use super::{
    idle::{Done, IdleWork, release_freed_memory},
    job::Job,
    queue::Admission,
};
use crate::{
    config::AgentConfig,
    model::Report,
    report::Reporter,
    sink::{
        otlp::{OtlpExporter, OtlpSettings},
        report_dir::{sanitize_name, write_report_file},
        retention::prune,
        stdout_json::write_json_line,
        target_stderr::write_to_target_stderr,
    },
    view::{Format, render, render_text},
};

/// How long a report may take to reach a target's stderr.
const STDERR_DEADLINE: Duration = Duration::from_secs(2);

/// The newest report file per tag, for `gmr-agent list`.
pub type LastReports = Mutex<HashMap<String, PathBuf>>;

/// Makes and delivers reports until the queue closes. Between reports it
/// does the [`IdleWork`] due: memory handed back after a burst, caches
/// dropped after `cache_idle_seconds` without a report.
pub fn work(
    mut reporter: Reporter,
    queue: mpsc::Receiver<Job>,
    admission: &Admission,
    last_reports: &LastReports,
) {
    // The kernel's symbols stay for the agent's life: read them now and
    // hand back the memory their reading freed before the agent idles.
    reporter.load_kernel_symbols();
    release_freed_memory();
    let mut idle = IdleWork::default();
    let mut cache_idle = Duration::ZERO;
    let mut otlp: Option<OtlpExporter> = None;
    loop {
        let next = match idle.wait(Instant::now()) {
            Some(wait) => queue.recv_timeout(wait),
            None => queue.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        let job = match next {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                if idle.run_due(Instant::now(), &mut reporter) == Done::DroppedCaches {
                    log::info!("no report for {cache_idle:?}: caches dropped");
                }
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        cache_idle = job.config.cache_idle;
        let config = job.config.as_ref();
        let started = Instant::now();
        let report = reporter.report(job.pid, job.trigger, &job.plan);
        let made_in = started.elapsed();
        admission.finished(job.pid);
        let text = render_text(&report);
        let files = write_files(config, &job.tag, job.pid, |format| match format {
            Format::Text => text.clone(),
            other => render(&report, other),
        });
        log::info!(
            "report for {} made in {:.1} ms ({}), rendered and written in {:.1} ms",
            job.pid,
            made_in.as_secs_f64() * 1e3,
            reporter.last_stages(),
            (started.elapsed() - made_in).as_secs_f64() * 1e3
        );
        if let Some(first) = files.first() {
            last_reports
                .lock()
                .expect("last reports")
                .insert(job.tag.clone(), first.clone());
        }
        if let Some(reply) = &job.reply {
            let _ = reply.send((job.pid, files));
        }
        to_pipeline(config, &mut otlp, &report, &job.tag);
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
        drop((report, text));
        idle.after_report(Instant::now(), cache_idle);
    }
}

/// Hands the report to the pipeline sinks the configuration names: a JSON
/// line on stdout, the OTLP exporter's queue (started, restarted or
/// stopped here when a reload changed `otlp:`). Neither waits on a
/// collector.
fn to_pipeline(config: &AgentConfig, otlp: &mut Option<OtlpExporter>, report: &Report, tag: &str) {
    if config.stdout_json
        && let Err(e) = write_json_line(report)
    {
        log::warn!(
            "report for {} not written to stdout: {e}",
            report.target.pid
        );
    }
    sync_exporter(otlp, config.otlp.as_ref());
    if let Some(exporter) = otlp {
        exporter.submit(report, tag);
    }
}

/// Makes `exporter` run with `settings`: kept when they are unchanged,
/// replaced when they changed, stopped when they are gone.
fn sync_exporter(exporter: &mut Option<OtlpExporter>, settings: Option<&OtlpSettings>) {
    if exporter.as_ref().map(OtlpExporter::settings) == settings {
        return;
    }
    *exporter = settings.and_then(|settings| {
        OtlpExporter::start(settings.clone())
            .inspect_err(|e| log::error!("otlp: cannot start the exporter thread: {e}"))
            .ok()
    });
}

/// Writes the report in every configured format, then prunes the tag's
/// directory to its retention limits; returns the files written.
fn write_files(
    config: &AgentConfig,
    tag: &str,
    pid: u32,
    rendered: impl Fn(Format) -> String,
) -> Vec<PathBuf> {
    let at = SystemTime::now();
    let mut written = Vec::new();
    for &format in &config.formats {
        let ext = format.extension();
        match write_report_file(&config.report_dir, tag, pid, at, ext, &rendered(format)) {
            Ok(path) => {
                log::info!("report for {} written to {}", pid, path.display());
                written.push(path);
            }
            Err(e) => log::error!(
                "cannot write the report for {} under {}: {e}",
                pid,
                config.report_dir.display()
            ),
        }
    }
    let dir = config.report_dir.join(sanitize_name(tag));
    match prune(&dir, config.retention) {
        Ok(pruned) if pruned.reports > 0 => log::info!(
            "retention: removed {} old report(s), {} bytes, from {}",
            pruned.reports,
            pruned.bytes,
            dir.display()
        ),
        Ok(_) => {}
        Err(e) => log::warn!("retention: cannot prune {}: {e}", dir.display()),
    }
    written
}
