//! netrc files (`~/.netrc`, curl's and ftp's credentials): a text whose
//! first word is `machine`, `default` or `macdef` is read as netrc's
//! whitespace-separated tokens, across lines, and the token after every
//! `password` or `account` is hidden wherever it stands.

use super::MASK;
use super::directives::word_end;

/// Words that open a netrc file.
const OPENING_WORDS: &[&str] = &["machine", "default", "macdef"];

/// Words whose next token is a secret.
const SECRET_WORDS: &[&str] = &["password", "account"];

/// True when `text` is a netrc file: its first word, past `#` comment
/// lines, opens a netrc entry.
pub fn is_netrc(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .and_then(|line| line.split_whitespace().next())
        .is_some_and(|word| OPENING_WORDS.contains(&word))
}

/// Masks the token after each `password` and `account` of a netrc file;
/// any other text is returned as it is.
pub(super) fn mask_netrc(text: &str) -> String {
    if !is_netrc(text) {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut hide_next = false;
    for (start, end) in tokens(text) {
        let token = &text[start..end];
        if hide_next {
            out.push_str(&text[copied..start]);
            out.push_str(MASK);
            copied = end;
            hide_next = false;
        } else {
            hide_next = SECRET_WORDS.contains(&token);
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// The whitespace-separated tokens of `text` outside `#` comment lines,
/// as byte ranges; a token opening with `"` runs to its closing quote.
fn tokens(text: &str) -> Vec<(usize, usize)> {
    let bytes = text.as_bytes();
    let mut spans = Vec::new();
    let mut i = 0;
    let mut line_start = true;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\n' {
            line_start = true;
            i += 1;
            continue;
        }
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if b == b'#' && line_start {
            i = text[i..].find('\n').map_or(bytes.len(), |p| i + p);
            continue;
        }
        line_start = false;
        let start = i;
        i = word_end(bytes, start, b"\"");
        spans.push((start, i));
    }
    spans
}

#[cfg(test)]
mod tests {
    use crate::mask::mask_file;

    #[test]
    fn netrc_tokens_across_lines() {
        assert_eq!(
            mask_file("machine h login u password foo\n"),
            "machine h login u password ***\n"
        );
        assert_eq!(
            mask_file(
                "# mine\nmachine h\n  login u\n  password\n  foo account acct1\ndefault login anonymous password me@x\n"
            ),
            "# mine\nmachine h\n  login u\n  password\n  ***\ndefault login anonymous password ***\n"
        );
        assert_eq!(
            mask_file("machine h login u password \"two words\"\n"),
            "machine h login u password ***\n"
        );
        assert_eq!(
            mask_file("machine g login v account acct2 password p\n"),
            "machine g login v account *** password ***\n"
        );
        // Not netrc: the first word opens no entry.
        assert_eq!(mask_file("account alice\n"), "account alice\n");
    }
}
