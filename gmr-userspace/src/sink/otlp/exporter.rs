//! The exporter thread: takes encoded reports from the bounded queue and
//! POSTs them, retrying with exponential backoff.

use std::{
    io,
    sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
    thread,
    time::{Duration, Instant},
};

use ureq::Agent;

use super::{
    queue::{BoundedQueue, Dropped, Entry},
    record::{self, Origin},
    settings::OtlpSettings,
};
use crate::model::Report;

/// First wait before a retry; each failure doubles it.
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
/// Longest wait between two tries.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Sends reports to one collector from a thread of its own; dropping it
/// stops the thread after its current request (what still waits is
/// dropped and logged).
pub struct OtlpExporter {
    settings: OtlpSettings,
    host: String,
    shared: Arc<Shared>,
}

/// What the worker and the exporter thread share.
struct Shared {
    state: Mutex<State>,
    wake: Condvar,
}

struct State {
    queue: BoundedQueue,
    closed: bool,
    dropped_reports: u64,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl OtlpExporter {
    /// Starts the exporter thread for `settings`.
    pub fn start(settings: OtlpSettings) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                queue: BoundedQueue::new(settings.max_queue_reports, settings.max_queue_bytes),
                closed: false,
                dropped_reports: 0,
            }),
            wake: Condvar::new(),
        });
        let sender = Sender::new(&settings, shared.clone());
        thread::Builder::new()
            .name("gmr-otlp".into())
            .spawn(move || sender.run())?;
        log::info!(
            "otlp: sending reports to {} (timeout {:?}, queue up to {} report(s), {} bytes)",
            settings.shown_endpoint(),
            settings.timeout,
            settings.max_queue_reports,
            settings.max_queue_bytes
        );
        Ok(Self {
            settings,
            host: host_name(),
            shared,
        })
    }

    /// The settings this exporter runs with.
    pub fn settings(&self) -> &OtlpSettings {
        &self.settings
    }

    /// Queues `report` of tag `tag` and returns at once.
    pub fn submit(&self, report: &Report, tag: &str) {
        let origin = Origin {
            host: &self.host,
            tag,
        };
        let entry = Entry {
            label: format!("pid {} ({tag})", report.target.pid),
            bytes: record::encode(report, &origin),
        };
        let mut state = self.shared.lock();
        let dropped = state.queue.push(entry);
        if !dropped.labels.is_empty() {
            state.dropped_reports += dropped.labels.len() as u64;
            log::warn!(
                "otlp: queue full ({} report(s), {} bytes at most): dropped {}; {} report(s) dropped so far",
                self.settings.max_queue_reports,
                self.settings.max_queue_bytes,
                describe(&dropped),
                state.dropped_reports
            );
        }
        drop(state);
        self.shared.wake.notify_one();
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_all();
    }
}

/// `the reports for pid 1 (a), pid 2 (a) (N bytes)`.
fn describe(dropped: &Dropped) -> String {
    format!(
        "the report(s) for {} ({} bytes)",
        dropped.labels.join(", "),
        dropped.bytes
    )
}

/// This host's name, as `hostname` prints it.
fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|name| name.trim().to_owned())
        .unwrap_or_default()
}

/// How one try went.
enum Outcome {
    Delivered,
    /// Worth trying again (down, slow, busy), with what happened.
    Retry(String),
    /// Will not change on retry.
    Refused(String),
}

/// The exporter thread's side.
struct Sender {
    agent: Agent,
    settings: OtlpSettings,
    shared: Arc<Shared>,
}

impl Sender {
    fn new(settings: &OtlpSettings, shared: Arc<Shared>) -> Self {
        let agent = Agent::config_builder()
            .timeout_global(Some(settings.timeout))
            .http_status_as_error(false)
            .build()
            .into();
        Self {
            agent,
            settings: settings.clone(),
            shared,
        }
    }

    /// Sends queued reports until the exporter is dropped.
    fn run(self) {
        while let Some(entry) = self.next() {
            if !self.deliver(&entry) {
                return;
            }
        }
    }

    /// The next report to send; `None` once closed (logging what waits).
    fn next(&self) -> Option<Entry> {
        let mut state = self.shared.lock();
        loop {
            if state.closed {
                if !state.queue.is_empty() {
                    log::warn!(
                        "otlp: stopping with {} report(s) unsent ({} bytes)",
                        state.queue.len(),
                        state.queue.bytes()
                    );
                }
                return None;
            }
            if let Some(entry) = state.queue.pop() {
                return Some(entry);
            }
            state = self
                .shared
                .wake
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Sends `entry` until the collector takes or refuses it; `false` when
    /// the exporter was dropped meanwhile.
    fn deliver(&self, entry: &Entry) -> bool {
        let endpoint = self.settings.shown_endpoint();
        let mut backoff = FIRST_BACKOFF;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let started = Instant::now();
            match self.post(&entry.bytes) {
                Outcome::Delivered => {
                    log::info!(
                        "otlp: report for {} delivered to {endpoint} in {:.1} ms{}",
                        entry.label,
                        started.elapsed().as_secs_f64() * 1e3,
                        if attempt > 1 {
                            format!(" (attempt {attempt})")
                        } else {
                            String::new()
                        }
                    );
                    return true;
                }
                Outcome::Refused(why) => {
                    log::error!(
                        "otlp: {endpoint} refused the report for {}: {why}; dropped",
                        entry.label
                    );
                    return true;
                }
                Outcome::Retry(why) => {
                    let waiting = self.shared.lock().queue.len();
                    log::warn!(
                        "otlp: sending the report for {} to {endpoint} failed (attempt {attempt}): {why}; retrying in {backoff:?}, {waiting} more waiting",
                        entry.label
                    );
                    if self.wait_unless_closed(backoff) {
                        log::warn!("otlp: stopping; the report for {} is unsent", entry.label);
                        return false;
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// One POST of an encoded request.
    fn post(&self, body: &[u8]) -> Outcome {
        let mut request = self
            .agent
            .post(&self.settings.endpoint)
            .header("content-type", "application/x-protobuf");
        for (name, value) in self.settings.header_values() {
            request = request.header(name, value);
        }
        match request.send(body) {
            Ok(response) => {
                let status = response.status();
                match status.as_u16() {
                    200..=299 => Outcome::Delivered,
                    429 | 502 | 503 | 504 => Outcome::Retry(format!("HTTP {status}")),
                    _ => Outcome::Refused(format!("HTTP {status}")),
                }
            }
            // ureq's errors name the host and what failed, never a header.
            Err(error) => Outcome::Retry(error.to_string()),
        }
    }

    /// Waits `pause`; `true` when the exporter was dropped meanwhile.
    fn wait_unless_closed(&self, pause: Duration) -> bool {
        let state = self.shared.lock();
        let (state, _) = self
            .shared
            .wake
            .wait_timeout_while(state, pause, |state| !state.closed)
            .unwrap_or_else(PoisonError::into_inner);
        state.closed
    }
}
