//! How long each stage of one report took, so the slow one is obvious:
//! logged with every report the agent writes.

use std::{
    fmt,
    time::{Duration, Instant},
};

/// Time spent per stage of one report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StageTimes {
    /// Running the capture program (registers, kernel stacks, stack pages).
    pub capture: Duration,
    /// Reading the memory map (and finding the CPython in it) and parsing
    /// new modules' unwind tables.
    pub modules: Duration,
    /// Unwinding every thread's user stack.
    pub unwind: Duration,
    /// Symbolizing user and kernel addresses.
    pub symbolize: Duration,
    /// The other sections (Package, then waiting for those run meanwhile).
    pub sections: Duration,
}

impl StageTimes {
    /// Runs `stage`, adding its duration to `slot`.
    pub fn time<T>(slot: &mut Duration, stage: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let out = stage();
        *slot += started.elapsed();
        out
    }
}

impl fmt::Display for StageTimes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            capture,
            modules,
            unwind,
            symbolize,
            sections,
        } = self;
        let ms = |d: &Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "capture {:.1} ms, modules {:.1} ms, unwind {:.1} ms, symbolize {:.1} ms, sections {:.1} ms",
            ms(capture),
            ms(modules),
            ms(unwind),
            ms(symbolize),
            ms(sections)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_adds_to_the_slot_and_returns_the_value() {
        let mut slot = Duration::from_millis(5);
        let value = StageTimes::time(&mut slot, || {
            std::thread::sleep(Duration::from_millis(2));
            7
        });
        assert_eq!(value, 7);
        assert!(slot >= Duration::from_millis(7), "{slot:?}");
    }

    #[test]
    fn display_names_every_stage_in_milliseconds() {
        let times = StageTimes {
            capture: Duration::from_micros(1500),
            modules: Duration::from_millis(2),
            unwind: Duration::from_millis(3),
            symbolize: Duration::from_millis(4),
            sections: Duration::from_millis(5),
        };
        assert_eq!(
            times.to_string(),
            "capture 1.5 ms, modules 2.0 ms, unwind 3.0 ms, symbolize 4.0 ms, sections 5.0 ms"
        );
    }
}
