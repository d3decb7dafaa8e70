//! PEM private key blocks: the body between the BEGIN and END lines of a
//! private key is masked, across lines (real or JSON-escaped line breaks);
//! certificates and public keys stay.

use super::MASK;

/// Replaces the body of every PEM private key block with [`MASK`], keeping
/// the BEGIN and END lines (certificates and public keys stay).
pub(super) fn mask_private_keys(text: &str) -> String {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(begin) = rest.find(BEGIN) {
        let label_start = begin + BEGIN.len();
        let Some(label_len) = rest[label_start..].find(DASHES) else {
            break;
        };
        let label = &rest[label_start..label_start + label_len];
        let body_start = label_start + label_len + DASHES.len();
        out.push_str(&rest[..body_start]);
        let private = label.ends_with("PRIVATE KEY") || label.ends_with("PRIVATE KEY BLOCK");
        if !private || label.contains('\n') {
            rest = &rest[body_start..];
            continue;
        }
        let body_end = rest[body_start..]
            .find("-----END ")
            .map_or(rest.len(), |end| body_start + end);
        let body = &rest[body_start..body_end];
        // Keep the line breaks (real or JSON-escaped) and indentation around
        // the body so the END marker stays where it was.
        let lead = body.len() - trim_breaks_start(body).len();
        let trail = body.len() - trim_breaks_end(body).len();
        if lead + trail >= body.len() {
            out.push_str(body);
        } else {
            out.push_str(&body[..lead]);
            out.push_str(MASK);
            out.push_str(&body[body.len() - trail..]);
        }
        rest = &rest[body_end..];
    }
    out.push_str(rest);
    out
}

/// `text` without leading whitespace and escaped `\n`/`\r` sequences.
fn trim_breaks_start(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_start();
        let trimmed = trimmed
            .strip_prefix("\\n")
            .or_else(|| trimmed.strip_prefix("\\r"))
            .unwrap_or(trimmed);
        if trimmed.len() == text.len() {
            return text;
        }
        text = trimmed;
    }
}

/// `text` without trailing whitespace and escaped `\n`/`\r` sequences.
fn trim_breaks_end(mut text: &str) -> &str {
    loop {
        let trimmed = text.trim_end();
        let trimmed = trimmed
            .strip_suffix("\\n")
            .or_else(|| trimmed.strip_suffix("\\r"))
            .unwrap_or(trimmed);
        if trimmed.len() == text.len() {
            return text;
        }
        text = trimmed;
    }
}

#[cfg(test)]
mod tests {
    use crate::mask::mask_text;

    #[test]
    fn pem_private_keys() {
        let pem = "ssl:\n  key: |\n    -----BEGIN RSA PRIVATE KEY-----\n    MIIEpAIBAAKCAQEA\n    S3cr3tBody\n    -----END RSA PRIVATE KEY-----\n";
        let masked = mask_text(pem);
        assert!(
            !masked.contains("MIIEpAIBAAKCAQEA") && !masked.contains("S3cr3tBody"),
            "{masked}"
        );
        let free = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(
            mask_text(free),
            "-----BEGIN OPENSSH PRIVATE KEY-----\n***\n-----END OPENSSH PRIVATE KEY-----\n"
        );
        let escaped =
            r#"{"tls": "-----BEGIN PRIVATE KEY-----\nMIIEvQIB\nAbC\n-----END PRIVATE KEY-----\n"}"#;
        assert_eq!(
            mask_text(escaped),
            r#"{"tls": "-----BEGIN PRIVATE KEY-----\n***\n-----END PRIVATE KEY-----\n"}"#
        );
        let unterminated = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n";
        assert_eq!(
            mask_text(unterminated),
            "-----BEGIN EC PRIVATE KEY-----\n***\n"
        );
        let certificate =
            "-----BEGIN CERTIFICATE-----\nMIIDdzCCAl+gAwIBAgIE\n-----END CERTIFICATE-----\n";
        assert_eq!(mask_text(certificate), certificate);
    }
}
