//! Quoted values in a parser's error message (serde's `invalid type:
//! string "…"`): the file parsed may hold a secret (a custom section's
//! command line in the agent's configuration, a target's configuration
//! file), and the message goes to the log or the report, so every `"…"`
//! string in it is hidden; names, which serde quotes with backticks, stay.

use super::MASK;

/// `message` with the inside of every `"…"` string replaced by [`MASK`].
pub fn mask_quoted(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.find('"') {
        out.push_str(&rest[..=open]);
        let after = &rest[open + 1..];
        let close = closing_quote(after);
        out.push_str(MASK);
        match close {
            Some(close) => {
                out.push('"');
                rest = &after[close + 1..];
            }
            None => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// Where the unescaped `"` closing a string that starts at the beginning
/// of `text` is.
fn closing_quote(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return Some(i),
            _ => i += 1,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_go_names_stay() {
        assert_eq!(
            mask_quoted(
                "a.yaml:6:18: tags[0].sections[0].command: invalid type: string \"redis-cli -a S3cr3t\\\"x\", expected a sequence"
            ),
            "a.yaml:6:18: tags[0].sections[0].command: invalid type: string \"***\", expected a sequence"
        );
        assert_eq!(
            mask_quoted("unknown field `min_interval`, expected one of `cgroup`"),
            "unknown field `min_interval`, expected one of `cgroup`"
        );
        assert_eq!(mask_quoted("string \"open"), "string \"***");
    }
}
