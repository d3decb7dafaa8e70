//! Colon-separated credential records, libpq's `.pgpass` lines
//! (`host:port:database:user:password`): a line of exactly five fields
//! (`\:` escapes a colon) whose second is a port or `*` has its last field
//! hidden, also when commented out.

use super::MASK;

/// The fields of a record.
const FIELDS: usize = 5;

/// True when `line` is a `host:port:database:user:password` record.
pub fn is_colon_record(line: &str) -> bool {
    password_start(line).is_some()
}

/// Masks the password of a `host:port:database:user:password` line.
pub(super) fn mask_colon_record(line: &str) -> String {
    match password_start(line) {
        Some(start) => {
            let end = line.trim_end().len();
            format!("{}{MASK}{}", &line[..start], &line[end..])
        }
        None => line.to_owned(),
    }
}

/// Where the last field of a record starts, if `line` is one with a
/// non-empty password.
fn password_start(line: &str) -> Option<usize> {
    // A commented-out record may still hold a real password.
    let uncommented = line.trim_start().trim_start_matches(['#', ' ', '\t']);
    let record = uncommented.trim_end();
    if record.contains(char::is_whitespace) {
        return None;
    }
    let offset = line.len() - uncommented.len();
    let bytes = record.as_bytes();
    let mut separators = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b':' => separators.push(i),
            _ => {}
        }
        i += 1;
    }
    if separators.len() != FIELDS - 1 {
        return None;
    }
    let port = &record[separators[0] + 1..separators[1]];
    let is_port = port == "*" || (!port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()));
    let start = separators[FIELDS - 2] + 1;
    (is_port && start < record.len() && !separators.contains(&0)).then_some(offset + start)
}

#[cfg(test)]
mod tests {
    use crate::mask::mask_file;

    #[test]
    fn pgpass_lines() {
        let cases = [
            ("db:5432:app:alice:foo", "db:5432:app:alice:***"),
            ("*:*:*:postgres:f\\:oo", "*:*:*:postgres:***"),
            (
                "  localhost:5432:*:bob:pw\r",
                "  localhost:5432:*:bob:***\r",
            ),
            ("12:30:00", "12:30:00"),
            ("2001:db8:1:2:3", "2001:db8:1:2:3"),
            ("# db:5432:app:alice:old", "# db:5432:app:alice:***"),
            (
                "#hostname:port:database:username:password",
                "#hostname:port:database:username:password",
            ),
            ("a:b:c:d:e", "a:b:c:d:e"),
        ];
        for (line, expected) in cases {
            assert_eq!(mask_file(line), expected, "masking {line:?}");
        }
    }
}
