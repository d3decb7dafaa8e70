//! `key=value`-like pairs in free text (`key=value`, `key: value`,
//! `"key": "value"`, `key := value`, `key => value`): finding the separator
//! and the key before it, and masking the value when the key is secret — to
//! the end of the line when the pair starts it, else to the next delimiter,
//! a quoted string or a `{…}`/`[…]` value whole.

use super::MASK;
use super::keys::{AUTH_SCHEMES, is_secret_key, mask_secret};

/// Bytes a key of a `key=value` pair is made of.
pub(super) fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Bytes that end an unquoted value in the middle of a line.
pub(super) fn ends_inline_value(b: u8) -> bool {
    b.is_ascii_whitespace()
        || matches!(
            b,
            b',' | b';' | b'&' | b')' | b']' | b'}' | b'"' | b'\'' | b'<' | b'>'
        )
}

/// The length of the key-value separator at `i` (`=`, `:`, `:=`, `=>`), if
/// there is one; `==`, `::` and the `://` of a URL are not separators.
fn separator_at(bytes: &[u8], i: usize) -> Option<usize> {
    let next = bytes.get(i + 1).copied();
    let previous = i.checked_sub(1).map(|p| bytes[p]);
    match bytes[i] {
        b'=' if next == Some(b'=') || matches!(previous, Some(b'=' | b'!' | b'<' | b'>')) => None,
        b'=' if next == Some(b'>') => Some(2),
        b'=' => Some(1),
        b':' if next == Some(b':') || previous == Some(b':') => None,
        b':' if bytes[i + 1..].starts_with(b"//") => None,
        b':' if next == Some(b'=') => Some(2),
        b':' => Some(1),
        _ => None,
    }
}

/// The key just before a separator at `sep`: `(key start, key end, pair
/// start)`, where the pair starts at the key's opening quote if quoted.
fn key_before(line: &str, sep: usize) -> Option<(usize, usize, usize)> {
    let bytes = line.as_bytes();
    let mut end = sep;
    while end > 0 && matches!(bytes[end - 1], b' ' | b'\t') {
        end -= 1;
    }
    let quote = match end.checked_sub(1).map(|p| bytes[p]) {
        Some(q @ (b'"' | b'\'')) => Some(q),
        _ => None,
    };
    if let Some(q) = quote {
        let key_end = end - 1;
        let open = line[..key_end].rfind(q as char)?;
        let key = &line[open + 1..key_end];
        let plain = !key.is_empty() && key.bytes().all(|b| is_key_byte(b) || b == b' ');
        return plain.then_some((open + 1, key_end, open));
    }
    let start = line[..end]
        .bytes()
        .rposition(|b| !is_key_byte(b))
        .map_or(0, |p| p + 1);
    (start < end).then_some((start, end, start))
}

/// True when only indentation, comment or list markers, or `export` come
/// before `pair_start`: the pair's value then runs to the end of the line.
fn starts_line(line: &str, pair_start: usize) -> bool {
    let prefix = line[..pair_start].trim_start_matches(|c: char| {
        c.is_whitespace() || matches!(c, '#' | ';' | '-' | '*' | '/')
    });
    let prefix = prefix.strip_prefix("export").unwrap_or(prefix);
    prefix.trim().is_empty()
}

/// Masks the values of `key=value`-like pairs whose key is secret; also says
/// whether such a pair starts the line.
pub(super) fn mask_pairs(line: &str) -> (String, bool) {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut starts_block = false;
    let mut i = 0;
    while i < bytes.len() {
        let Some(sep_len) = separator_at(bytes, i) else {
            i += 1;
            continue;
        };
        let value_from = i + sep_len;
        let pair = key_before(line, i)
            .filter(|&(start, end, _)| start >= copied && is_secret_key(&line[start..end]));
        let Some((_, _, pair_start)) = pair else {
            i = value_from;
            continue;
        };
        let at_line_start = starts_line(line, pair_start);
        let Some((start, end)) = value_span(line, value_from, at_line_start) else {
            starts_block |= at_line_start;
            i = value_from;
            continue;
        };
        let value = &line[start..end];
        if value != MASK {
            out.push_str(&line[copied..start]);
            out.push_str(&mask_secret(value));
            copied = end;
        }
        starts_block |= at_line_start;
        i = end.max(value_from);
    }
    out.push_str(&line[copied..]);
    (out, starts_block)
}

/// Where the value after a separator lies: inside its quotes if quoted, to
/// the end of the line for a pair that starts the line, else to the next
/// delimiter (with an `Authorization` scheme, to the end of the word after
/// it). `None` for an empty value.
fn value_span(line: &str, from: usize, to_line_end: bool) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let start = from
        + bytes[from..]
            .iter()
            .take_while(|b| matches!(b, b' ' | b'\t'))
            .count();
    let first = *bytes.get(start)?;
    if matches!(first, b'"' | b'\'') {
        let close = closing_quote(bytes, start + 1, first).unwrap_or(bytes.len());
        return (close > start + 1).then_some((start + 1, close));
    }
    // A secret mapping or list (`"credentials": {…}`) goes whole.
    if matches!(first, b'{' | b'[') {
        let end = closing_bracket(bytes, start).map_or(line.trim_end().len(), |close| close + 1);
        return Some((start, end));
    }
    if to_line_end {
        let end = line.trim_end().len();
        return (end > start).then_some((start, end));
    }
    let word_end = |from: usize| {
        bytes[from..]
            .iter()
            .position(|&b| ends_inline_value(b))
            .map_or(bytes.len(), |p| from + p)
    };
    let mut end = word_end(start);
    let word = &line[start..end];
    if bytes.get(end) == Some(&b' ') && AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(word)) {
        let credential = end + 1;
        if bytes
            .get(credential)
            .is_some_and(|&b| !ends_inline_value(b))
        {
            end = word_end(credential);
        }
    }
    (end > start).then_some((start, end))
}

/// The index of the bracket closing the one at `open`, skipping quoted
/// strings.
fn closing_bracket(bytes: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0_usize;
    let mut i = open;
    while i < bytes.len() {
        match bytes[i] {
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            quote @ (b'"' | b'\'') => i = closing_quote(bytes, i + 1, quote)?,
            _ => {}
        }
        i += 1;
    }
    None
}

/// The index of the quote `quote` closing a string that starts at `from`,
/// skipping backslash-escaped quotes.
fn closing_quote(bytes: &[u8], from: usize, quote: u8) -> Option<usize> {
    let mut i = from;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b if b == quote => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::mask::mask_text;

    #[test]
    fn pairs_in_free_text() {
        let cases = [
            ("password=S3cr3t", "password=***"),
            ("password = two words", "password = ***"),
            ("  password: S3cr3t # old", "  password: ***"),
            ("# admin_password = S3cr3t", "# admin_password = ***"),
            ("export OS_PASSWORD=S3cr3t", "export OS_PASSWORD=***"),
            ("PGPASSWORD=S3cr3t psql -h db", "PGPASSWORD=***"),
            (
                "login user=nova password=S3cr3t db=x",
                "login user=nova password=*** db=x",
            ),
            (
                "{\"password\": \"S3\\\"cr3t\", \"user\": \"x\"}",
                "{\"password\": \"***\", \"user\": \"x\"}",
            ),
            ("{'api_key': 'S3cr3t'}", "{'api_key': '***'}"),
            ("GET /v3?token=S3cr3t&x=1", "GET /v3?token=***&x=1"),
            (
                "backend_argument = password:S3cr3t",
                "backend_argument = password:***",
            ),
            (
                "host=db port=5432 password=S3cr3t",
                "host=db port=5432 password=***",
            ),
            (
                "Server=db;User Id=sa;Password=S3cr3t;",
                "Server=db;User Id=sa;Password=***;",
            ),
            ("secret := S3cr3t", "secret := ***"),
            ("'password' => 'S3cr3t',", "'password' => '***',"),
            (
                "{\"credentials\": {\"user\": \"u\", \"x\": \"[S3}\"}, \"n\": 1}",
                "{\"credentials\": ***, \"n\": 1}",
            ),
            ("password: [a, b", "password: ***"),
            ("run --password=S3cr3t now", "run --password=*** now"),
            ("run --password S3cr3t now", "run --password *** now"),
            ("run --password-stdin now", "run --password-stdin now"),
            ("Authorization: Bearer S3cr3t", "Authorization: Bearer ***"),
            (
                "curl -H 'Authorization: Basic dXNlcjpw' x",
                "curl -H 'Authorization: Basic ***' x",
            ),
            ("X-Auth-Token: S3cr3t", "X-Auth-Token: ***"),
            (
                "curl -H \"X-Auth-Token: S3cr3t\" http://h/",
                "curl -H \"X-Auth-Token: ***\" http://h/",
            ),
            ("password: \"\"", "password: \"\""),
            ("debug = True", "debug = True"),
            (
                "auth_url = http://ctl:5000/v3",
                "auth_url = http://ctl:5000/v3",
            ),
            ("if a == b: token", "if a == b: token"),
            ("time 12:30:00", "time 12:30:00"),
        ];
        for (text, expected) in cases {
            assert_eq!(mask_text(text), expected, "masking {text:?}");
        }
    }
}
