//! Credentials in URLs: the password of `scheme://user:password@host`, for
//! every host of a comma-separated authority, found the way Python's
//! `urlsplit` finds it.

use super::MASK;

/// Masks the password of every URL in `text`: `scheme://user:***@host`.
///
/// The authority ends at the first `/`, `?` or `#`, and hosts are separated
/// by commas (oslo.messaging's `rabbit://a:p1@h1,b:p2@h2/`), as Python's
/// `urlsplit` and oslo.messaging read them; the password is what lies
/// between the first `:` and the last `@` of each host's part.
pub fn mask_url_credentials(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut search = 0;
    while let Some(found) = text[search..].find("://") {
        let scheme_end = search + found;
        let authority_start = scheme_end + 3;
        search = authority_start;
        if !has_scheme_before(&text[..scheme_end]) {
            continue;
        }
        let authority_len = text[authority_start..]
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`')
            })
            .unwrap_or(text.len() - authority_start);
        let authority = &text[authority_start..authority_start + authority_len];
        let mut offset = authority_start;
        for host in authority.split(',') {
            if let Some(at) = host.rfind('@')
                && let Some(colon) = host[..at].find(':')
            {
                let password = &host[colon + 1..at];
                if !password.is_empty() && password != MASK {
                    out.push_str(&text[copied..offset + colon + 1]);
                    out.push_str(MASK);
                    copied = offset + at;
                }
            }
            offset += host.len() + 1;
        }
        search = authority_start + authority_len;
    }
    out.push_str(&text[copied..]);
    out
}

/// True when `before` ends with a URL scheme (`mysql+pymysql`, `https`).
fn has_scheme_before(before: &str) -> bool {
    let scheme_len = before
        .bytes()
        .rev()
        .take_while(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'.' | b'-'))
        .count();
    let scheme = &before[before.len() - scheme_len..];
    scheme
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_alphabetic())
}

#[cfg(test)]
mod tests {
    use crate::mask::{mask_text, mask_value};

    #[test]
    fn url_credentials_in_values() {
        assert_eq!(
            mask_value(
                "connection",
                "mysql+pymysql://nova:S3cr3t-1@db/nova?charset=utf8"
            ),
            "mysql+pymysql://nova:***@db/nova?charset=utf8"
        );
        assert_eq!(
            mask_value("transport_url", "rabbit://openstack:S3cr3t-2@ctl:5672/"),
            "rabbit://openstack:***@ctl:5672/"
        );
        assert_eq!(
            mask_value("transport_url", "rabbit://a:p1@h1:5672,b:p2@h2:5672/vhost"),
            "rabbit://a:***@h1:5672,b:***@h2:5672/vhost"
        );
        assert_eq!(
            mask_value("DATABASE_URL", "postgres://u:pw@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(
            mask_value("url", "redis://:S3cr3t@cache:6379/0"),
            "redis://:***@cache:6379/0"
        );
        // A password holding `@` is found up to the last `@`.
        assert_eq!(mask_value("url", "amqp://u:p@ss@h/"), "amqp://u:***@h/");
        // A user name alone, a port, a query with `@`: nothing to hide.
        for visible in [
            "https://user@example.com/x",
            "http://ctl:5000/v3",
            "http://[::1]:80/",
            "https://h/search?mail=a@b",
            "see http://x:y",
        ] {
            assert_eq!(mask_value("url", visible), visible);
        }
        assert_eq!(
            mask_text("a mysql://u:p1@h/x and http://v:p2@i/ b"),
            "a mysql://u:***@h/x and http://v:***@i/ b"
        );
    }
}
