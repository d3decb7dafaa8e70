//! Section generators run on their own threads with a deadline: one that
//! hangs (a stuck NFS read in /proc, a slow command) becomes a failed
//! section instead of holding the whole report, and independent sections
//! are made at the same time.

use std::{
    sync::{Arc, mpsc},
    thread,
    time::{Duration, Instant},
};

use super::{context::ReportContext, section};
use crate::model::{Section, SectionData};

/// A section being made on its own thread.
pub struct PendingSection {
    title: String,
    deadline: Instant,
    budget: Duration,
    outcome: Result<mpsc::Receiver<Section>, String>,
}

/// Starts `generate` now on its own thread, with the report's shared
/// `context`; [`PendingSection::finish`] waits for it at most `budget`
/// from now. The one way a report runs a section beside the others.
pub fn spawn_section<F>(
    title: &str,
    budget: Duration,
    context: &Arc<ReportContext>,
    generate: F,
) -> PendingSection
where
    F: FnOnce(&ReportContext) -> Result<SectionData, String> + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let owned_title = title.to_owned();
    let context = Arc::clone(context);
    let spawned = thread::Builder::new()
        .name("gmr-section".into())
        .spawn(move || {
            // The receiver may be gone after a timeout; nothing to do then.
            let _ = tx.send(section(&owned_title, || generate(&context)));
        });
    PendingSection {
        title: title.to_owned(),
        deadline: Instant::now() + budget,
        budget,
        outcome: spawned
            .map(|_| rx)
            .map_err(|e| format!("cannot start the section generator: {e}")),
    }
}

impl PendingSection {
    /// The finished section, or a failed one if it missed its deadline.
    pub fn finish(self) -> Section {
        let failed = |error: String| Section {
            title: self.title.clone(),
            body: Err(error),
        };
        let rx = match self.outcome {
            Ok(rx) => rx,
            Err(e) => return failed(e),
        };
        match rx.recv_timeout(self.deadline.saturating_duration_since(Instant::now())) {
            Ok(section) => section,
            Err(mpsc::RecvTimeoutError::Timeout) => failed(format!(
                "timed out after {:?}; the rest of the report was not held up",
                self.budget
            )),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                failed("section generator vanished".into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Table, TextBlock};

    fn context() -> Arc<ReportContext> {
        Arc::new(ReportContext::read(std::process::id()))
    }

    fn text(line: &str) -> Result<SectionData, String> {
        Ok(SectionData::Text(TextBlock {
            source: "test".into(),
            lines: vec![line.into()],
            note: None,
        }))
    }

    #[test]
    fn slow_generators_fail_alone_and_others_run_concurrently() {
        let context = context();
        let started = Instant::now();
        let slow = spawn_section("Slow", Duration::from_millis(200), &context, |_| {
            thread::sleep(Duration::from_secs(3));
            text("late")
        });
        let quick = spawn_section("Quick", Duration::from_secs(5), &context, |_| {
            thread::sleep(Duration::from_millis(150));
            text("on time")
        });
        let also_quick = spawn_section("Also", Duration::from_secs(5), &context, |_| {
            thread::sleep(Duration::from_millis(150));
            Ok(SectionData::Table(Table {
                columns: vec![],
                rows: vec![],
                note: None,
            }))
        });
        let slow = slow.finish();
        assert_eq!(slow.title, "Slow");
        assert!(slow.body.unwrap_err().contains("timed out after 200ms"));
        assert!(quick.finish().body.is_ok());
        assert!(also_quick.finish().body.is_ok());
        assert!(
            started.elapsed() < Duration::from_millis(1000),
            "ran concurrently: {:?}",
            started.elapsed()
        );
        let panicked = spawn_section("Boom", Duration::from_secs(5), &context, |_| {
            panic!("kaboom")
        })
        .finish();
        assert!(panicked.body.unwrap_err().contains("kaboom"));
    }
}
