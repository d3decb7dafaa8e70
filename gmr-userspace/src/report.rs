//! Builds one report: capture → unwind → symbolize → sections.
//!
//! The [`Reporter`] owns everything that makes warm reports fast (the
//! capture program, parsed modules, the symbolizer's caches), so the agent
//! keeps one and reuses it. It is not `Sync`: reports are made one at a time,
//! which the capture ring buffer requires anyway, and not `Send` either
//! (blazesym's caches), so it is made on the thread that uses it.

use std::time::SystemTime;

use crate::{
    capture::Capturer,
    model::{Report, SectionData, Target, Trigger},
    sections::{self, package::package, section},
    symbolize::Symbolizer,
    time::UtcTime,
    unwind::modules::ModuleCache,
};

/// Makes reports.
pub struct Reporter {
    capturer: Capturer,
    modules: ModuleCache,
    symbolizer: Symbolizer,
}

impl Reporter {
    /// A reporter capturing with `capturer`, with empty caches.
    pub fn new(capturer: Capturer) -> Self {
        Self {
            capturer,
            modules: ModuleCache::new(),
            symbolizer: Symbolizer::new(),
        }
    }

    /// Makes the report for `pid`. Never fails as a whole: a section that
    /// cannot be made says why inside the report.
    pub fn report(&mut self, pid: u32, trigger: Trigger) -> Report {
        let generated_at = UtcTime::from(SystemTime::now()).rfc3339();
        // Capture first, as close to the trigger as possible.
        let capture = self.capturer.capture(pid);
        let threads = section("Threads", || {
            let capture = capture.map_err(|e| format!("{e:#}"))?;
            let modules = self.modules.modules_for(pid).map_err(|e| e.to_string())?;
            Ok(SectionData::Threads(sections::threads::threads(
                &capture,
                &modules,
                &self.symbolizer,
            )))
        });
        let package = section("Package", || package(pid).map(SectionData::Package));
        Report {
            target: target(pid),
            trigger,
            generated_at,
            sections: vec![package, threads],
        }
    }
}

/// The target's pid, name and executable, as far as /proc tells.
fn target(pid: u32) -> Target {
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_default();
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .ok()
        .map(|p| p.to_string_lossy().into_owned());
    Target { pid, comm, exe }
}
