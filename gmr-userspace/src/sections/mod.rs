//! Sections: one generator per report section; each returns a model or a failure note.
//!
//! A generator that fails, or even panics, costs only its own section: the
//! report keeps the section with the reason, and the others still render.

pub mod configuration;
pub mod context;
pub mod custom;
pub mod deadline;
pub mod green_threads;
pub mod package;
pub(crate) mod process_args;
pub mod processes;
pub mod python_stacks;
pub mod threads;

use std::any::Any;
use std::io;
use std::panic::{self, AssertUnwindSafe};

use crate::model::{Section, SectionData};

/// Runs one section generator and keeps its outcome as a [`Section`].
///
/// An `Err` becomes a failed section with that message; a panic becomes a
/// failed section saying the generator panicked, so one broken generator
/// cannot lose the whole report.
pub fn section(title: &str, generate: impl FnOnce() -> Result<SectionData, String>) -> Section {
    // AssertUnwindSafe: on a panic the generator's state is dropped, never
    // looked at again, so a half-updated value cannot leak into the report.
    let body = panic::catch_unwind(AssertUnwindSafe(generate)).unwrap_or_else(|payload| {
        Err(format!(
            "section generator panicked: {}",
            panic_message(&*payload)
        ))
    });
    Section {
        title: title.to_owned(),
        body,
    }
}

/// The message of a panic payload, when it is a string.
fn panic_message(payload: &(dyn Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)")
}

/// Describes an I/O error for a report: `permission denied`, not
/// `Permission denied (os error 13)`.
///
/// Reports are read by people; the errno number adds nothing for them.
pub fn describe_io_error(error: &io::Error) -> String {
    let text = error.to_string();
    let text = match error.raw_os_error() {
        Some(code) => text
            .strip_suffix(&format!(" (os error {code})"))
            .unwrap_or(&text)
            .to_owned(),
        None => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Threads;

    #[test]
    fn ok_and_err_generators() {
        let ok = section("Threads", || {
            Ok(SectionData::Threads(Threads {
                threads: Vec::new(),
                python: None,
                python_note: None,
                note: None,
            }))
        });
        assert_eq!(ok.title, "Threads");
        assert!(ok.body.is_ok());
        let failed = section("Threads", || Err("process 1 has exited".to_owned()));
        assert_eq!(failed.body.err().as_deref(), Some("process 1 has exited"));
    }

    #[test]
    fn panicking_generator_becomes_a_failed_section() {
        let failed = section("Threads", || panic!("bad frame {}", 7));
        assert_eq!(
            failed.body.err().as_deref(),
            Some("section generator panicked: bad frame 7")
        );
        let failed = section("Threads", || std::panic::panic_any(42_u8));
        assert_eq!(
            failed.body.err().as_deref(),
            Some("section generator panicked: (no message)")
        );
    }

    #[test]
    fn io_errors_read_like_prose() {
        let denied = io::Error::from_raw_os_error(libc::EACCES);
        assert_eq!(describe_io_error(&denied), "permission denied");
        let custom = io::Error::other("Bad thing");
        assert_eq!(describe_io_error(&custom), "bad thing");
    }
}
