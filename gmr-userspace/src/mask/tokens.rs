//! Tokens recognised by their shape alone, wherever they appear: a table of
//! known prefixes (Fernet, GitHub, GitLab, Slack, AWS, Google, Stripe,
//! OpenAI, npm, PyPI, Hugging Face), JWTs, and the credential after a
//! `Bearer` scheme. A token keeps its prefix (`ghp_***`).

use super::MASK;
use super::pairs::ends_inline_value;

/// A kind of token recognisable by its shape alone.
struct TokenShape {
    /// What it starts with; kept in the report.
    prefix: &'static str,
    /// Bytes its body is made of.
    body: fn(u8) -> bool,
    /// Fewest body bytes.
    min: usize,
    /// Most body bytes.
    max: usize,
}

/// Base64url, as in Fernet tokens and most API tokens.
fn is_base64url(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'=')
}

/// Letters and digits.
fn is_alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

/// Letters, digits and `_`.
fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Upper-case letters and digits, as in AWS access key ids.
fn is_upper_alnum(b: u8) -> bool {
    b.is_ascii_uppercase() || b.is_ascii_digit()
}

/// Tokens masked wherever they appear.
const TOKEN_SHAPES: &[TokenShape] = &[
    // Fernet: Keystone tokens and cryptography.fernet secrets.
    shape("gAAAAA", is_base64url, 40, usize::MAX),
    shape("ghp_", is_alnum, 30, usize::MAX),
    shape("gho_", is_alnum, 30, usize::MAX),
    shape("ghu_", is_alnum, 30, usize::MAX),
    shape("ghs_", is_alnum, 30, usize::MAX),
    shape("ghr_", is_alnum, 30, usize::MAX),
    shape("github_pat_", is_word, 40, usize::MAX),
    shape("glpat-", is_base64url, 20, usize::MAX),
    shape("xoxb-", is_base64url, 10, usize::MAX),
    shape("xoxp-", is_base64url, 10, usize::MAX),
    shape("xoxa-", is_base64url, 10, usize::MAX),
    shape("xoxr-", is_base64url, 10, usize::MAX),
    shape("xoxs-", is_base64url, 10, usize::MAX),
    shape("AKIA", is_upper_alnum, 16, 16),
    shape("ASIA", is_upper_alnum, 16, 16),
    shape("AIza", is_base64url, 35, 35),
    shape("sk_live_", is_alnum, 16, usize::MAX),
    shape("rk_live_", is_alnum, 16, usize::MAX),
    shape("sk_test_", is_alnum, 16, usize::MAX),
    shape("sk-", is_base64url, 32, usize::MAX),
    shape("npm_", is_alnum, 36, usize::MAX),
    shape("pypi-", is_base64url, 50, usize::MAX),
    shape("hf_", is_alnum, 30, usize::MAX),
];

/// A [`TokenShape`], in a form short enough for a table.
const fn shape(prefix: &'static str, body: fn(u8) -> bool, min: usize, max: usize) -> TokenShape {
    TokenShape {
        prefix,
        body,
        min,
        max,
    }
}

/// Masks tokens recognisable by shape (see [`TOKEN_SHAPES`]), JWTs, and the
/// credential after a `Bearer` scheme.
pub(super) fn mask_tokens(line: &str) -> String {
    let bytes = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        let at_boundary = i == 0 || !is_word(bytes[i - 1]);
        let masked = if at_boundary && line.is_char_boundary(i) {
            token_at(line, i)
        } else {
            None
        };
        match masked {
            Some((keep, end)) => {
                out.push_str(&line[copied..keep]);
                out.push_str(MASK);
                copied = end;
                i = end;
            }
            None => i += 1,
        }
    }
    out.push_str(&line[copied..]);
    out
}

/// A maskable token starting at `i`: `(where the mask starts, token end)`.
fn token_at(line: &str, i: usize) -> Option<(usize, usize)> {
    let bytes = line.as_bytes();
    let rest = &line[i..];
    let run = |from: usize, class: fn(u8) -> bool| {
        bytes[from..].iter().take_while(|&&b| class(b)).count()
    };
    for shape in TOKEN_SHAPES {
        if !rest.starts_with(shape.prefix) {
            continue;
        }
        let body_start = i + shape.prefix.len();
        let body = run(body_start, shape.body);
        let end = body_start + body;
        let runs_on = bytes.get(end).is_some_and(|&b| b.is_ascii_alphanumeric());
        if body >= shape.min && body <= shape.max && !runs_on {
            return Some((body_start, end));
        }
    }
    if rest.starts_with("eyJ") {
        let header = run(i, is_base64url);
        let payload_start = i + header + 1;
        if header >= 10 && bytes.get(i + header) == Some(&b'.') {
            let payload = run(payload_start, is_base64url);
            if payload >= 10 && bytes.get(payload_start + payload) == Some(&b'.') {
                let signature_start = payload_start + payload + 1;
                let end = signature_start + run(signature_start, is_base64url);
                return Some((i + 3, end));
            }
        }
    }
    let scheme = rest
        .strip_prefix("Bearer ")
        .or_else(|| rest.strip_prefix("bearer "))?;
    let credential_start = i + (rest.len() - scheme.trim_start().len());
    let len = run(credential_start, |b| !ends_inline_value(b));
    let credential = &line[credential_start..credential_start + len];
    (len > 0 && credential != MASK).then_some((credential_start, credential_start + len))
}

#[cfg(test)]
mod tests {
    use crate::mask::mask_text;

    #[test]
    fn tokens_by_shape() {
        let fernet = format!("gAAAAAB{}", "x7Yq-3_kZ".repeat(12));
        let cases = [
            (format!("token {fernet} end"), "token gAAAAA*** end".to_owned()),
            (
                "push ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 done".to_owned(),
                "push ghp_*** done".to_owned(),
            ),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123".to_owned(),
                "github_pat_***".to_owned(),
            ),
            ("glpat-xY3kLm9PqR2sT5vW8zA1".to_owned(), "glpat-***".to_owned()),
            ("xoxb-1234567890-abcdefghij".to_owned(), "xoxb-***".to_owned()),
            ("id AKIAIOSFODNN7EXAMPLE.".to_owned(), "id AKIA***.".to_owned()),
            ("AIzaSyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q".to_owned(), "AIza***".to_owned()),
            ("sk_live_4eC39HqLyjWDarjtT1zdp7dc".to_owned(), "sk_live_***".to_owned()),
            (
                "sk-proj-A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6".to_owned(),
                "sk-***".to_owned(),
            ),
            (
                "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U x".to_owned(),
                "jwt eyJ*** x".to_owned(),
            ),
            ("sent Bearer S3cr3tToken now".to_owned(), "sent Bearer *** now".to_owned()),
        ];
        for (text, expected) in cases {
            assert_eq!(mask_text(&text), expected, "masking {text:?}");
        }
        for visible in [
            "AKIAIOSFODNN7EXAMPLEX",
            "xAKIAIOSFODNN7EXAMPLE",
            "ghp_short",
            "a gAAAAA prefix",
            "eyJhbGciOi.short",
            "disk-space-on-/var-is-low-at-ninety-percent-now",
        ] {
            assert_eq!(mask_text(visible), visible);
        }
    }
}
