//! A report's time: the instant, and its UTC calendar fields for report
//! names and headers, without a date-time dependency.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Serialize, Serializer};

/// The instant a report was made: written as RFC 3339 text in every view,
/// kept as the instant for sinks that carry it as a number (OTLP's
/// `time_unix_nano`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReportTime(SystemTime);

impl ReportTime {
    /// Now.
    pub fn now() -> Self {
        Self(SystemTime::now())
    }

    /// The instant itself.
    pub fn instant(self) -> SystemTime {
        self.0
    }
}

impl From<SystemTime> for ReportTime {
    fn from(at: SystemTime) -> Self {
        Self(at)
    }
}

impl fmt::Display for ReportTime {
    /// RFC 3339 in UTC with microseconds ([`UtcTime::rfc3339`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&UtcTime::from(self.0).rfc3339())
    }
}

impl Serialize for ReportTime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// A UTC time split into calendar fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UtcTime {
    /// Year.
    pub year: u64,
    /// Month, 1–12.
    pub month: u64,
    /// Day of the month, 1–31.
    pub day: u64,
    /// Hour, 0–23.
    pub hour: u64,
    /// Minute, 0–59.
    pub minute: u64,
    /// Second, 0–59.
    pub second: u64,
    /// Microseconds, 0–999999.
    pub micros: u32,
}

impl UtcTime {
    /// Splits `at`; times before 1970 (a badly set clock) become the epoch.
    pub fn from(at: SystemTime) -> Self {
        let since_epoch = at.duration_since(UNIX_EPOCH).unwrap_or_default();
        let secs = since_epoch.as_secs();
        let (year, month, day) = civil_from_days(secs / 86_400);
        let second_of_day = secs % 86_400;
        Self {
            year,
            month,
            day,
            hour: second_of_day / 3600,
            minute: second_of_day / 60 % 60,
            second: second_of_day % 60,
            micros: since_epoch.subsec_micros(),
        }
    }

    /// `yyyymmddHHMMSS.micro`, as oslo.reports names report files: the
    /// digits of [`UtcTime::rfc3339`] and its decimal point.
    pub fn compact(&self) -> String {
        self.rfc3339()
            .chars()
            .filter(|c| c.is_ascii_digit() || *c == '.')
            .collect()
    }

    /// RFC 3339 with microseconds, e.g. `2026-11-26T17:48:46.123456Z`.
    pub fn rfc3339(&self) -> String {
        let Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } = self;
        format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}.{micros:06}Z")
    }
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day).
///
/// Howard Hinnant's `civil_from_days`, restricted to dates on or after the
/// epoch so it can stay in unsigned arithmetic.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    // Shift the epoch to 0000-03-01 so leap days end each 400-year era.
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn at(secs: u64, micros: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    #[test]
    fn formats_known_instants() {
        assert_eq!(UtcTime::from(at(0, 0)).compact(), "19700101000000.000000");
        // date -u -d @1795715326 → Thu Nov 26 17:48:46 UTC 2026
        let t = UtcTime::from(at(1_795_715_326, 123_456));
        assert_eq!(t.compact(), "20261126174846.123456");
        assert_eq!(t.rfc3339(), "2026-11-26T17:48:46.123456Z");
        // A leap day, and the last second of a leap year.
        assert_eq!(
            UtcTime::from(at(951_782_400, 7)).compact(),
            "20000229000000.000007"
        );
        assert_eq!(
            UtcTime::from(at(1_735_689_599, 0)).compact(),
            "20241231235959.000000"
        );
        assert_eq!(
            UtcTime::from(at(1_709_251_199, 0)).rfc3339(),
            "2024-02-29T23:59:59.000000Z"
        );
        assert_eq!(
            UtcTime::from(UNIX_EPOCH - Duration::from_secs(5)),
            UtcTime::from(at(0, 0))
        );
    }
}
