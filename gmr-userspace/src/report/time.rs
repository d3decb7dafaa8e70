//! UTC wall-clock formatting for report names and headers, without a
//! date-time dependency.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

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

    /// `yyyymmddHHMMSS.micro`, as oslo.reports names report files.
    pub fn compact(&self) -> String {
        let Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
            micros,
        } = self;
        format!("{year:04}{month:02}{day:02}{hour:02}{minute:02}{second:02}.{micros:06}")
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

    /// The instant [`UtcTime::rfc3339`] wrote as `text`, for sinks that
    /// carry a report's time as a number (OTLP's `time_unix_nano`); `None`
    /// for any other shape.
    pub fn parse_rfc3339(text: &str) -> Option<SystemTime> {
        let number = |range: std::ops::Range<usize>| -> Option<u64> {
            let digits = text.get(range)?;
            digits
                .bytes()
                .all(|b| b.is_ascii_digit())
                .then(|| digits.parse().ok())?
        };
        let shape_ok = text.len() == 27
            && text.is_char_boundary(27)
            && [
                (4, b'-'),
                (7, b'-'),
                (10, b'T'),
                (13, b':'),
                (16, b':'),
                (19, b'.'),
                (26, b'Z'),
            ]
            .iter()
            .all(|&(at, byte)| text.as_bytes()[at] == byte);
        if !shape_ok {
            return None;
        }
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if year < 1970 || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second;
        Some(UNIX_EPOCH + Duration::from_secs(seconds) + Duration::from_micros(number(20..26)?))
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date on or after the
/// epoch: Howard Hinnant's `days_from_civil`, the inverse of
/// [`civil_from_days`].
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year - era * 400;
    let month_index = if month > 2 { month - 3 } else { month + 9 };
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
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

    #[test]
    fn parses_what_it_writes() {
        for (secs, micros) in [
            (0, 0),
            (1_795_715_326, 123_456),
            (951_782_400, 7),
            (1_709_251_199, 999_999),
        ] {
            let text = UtcTime::from(at(secs, micros)).rfc3339();
            assert_eq!(
                UtcTime::parse_rfc3339(&text),
                Some(at(secs, micros)),
                "{text}"
            );
        }
        for bad in [
            "",
            "2026-11-26 17:48:46.123456Z",
            "2026-13-26T17:48:46.123456Z",
            "2026-11-26T17:48:46.12345éZ",
        ] {
            assert_eq!(UtcTime::parse_rfc3339(bad), None, "{bad}");
        }
    }
}
