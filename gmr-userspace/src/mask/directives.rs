//! Space-separated directives, the shape of most daemons' own files
//! (`requirepass X`, `bindpw X`, `ssl_certificate_key /p;`,
//! `SetEnv DB_PASSWORD X`, `stats auth admin:X`,
//! `user admin insecure-password X`): a line that opens with a secret word
//! hides every word after it; inside a line, the word after a secret word
//! is hidden; a `user:password` value keeps its user.

use super::MASK;
use super::keys::{is_secret_key, is_strong_secret_key, words};
use super::pairs::is_key_byte;

/// Most words of a commented-out secret directive, its name included;
/// a longer comment is prose.
const MAX_COMMENTED_DIRECTIVE_WORDS: usize = 3;

/// How far the directive rules reach into a line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Reach {
    /// A configuration file's line: any secret word hides what follows it,
    /// at the start of the line (also in a commented-out directive) and
    /// inside it.
    File,
    /// Free text such as a command's output: only a line that opens with a
    /// word naming a secret beyond doubt (`password`, `requirepass`; see
    /// `is_strong_secret_key`), so prose keeps its words.
    Output,
}

/// What a line's directive says about the lines after it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Next {
    /// Nothing: the next line is judged on its own.
    Free,
    /// The next non-blank line is the value: a secret word stood alone on
    /// this line (`requirepass` then its value, as `redis-cli` prints), or a
    /// secret directive's line ended with a `\` continuation.
    Hidden,
}

/// Masks the space-separated directives of one line (see the module doc).
pub(super) fn mask_directives(line: &str, reach: Reach) -> (String, Next) {
    let indent = line.len() - line.trim_start().len();
    let after_indent = &line[indent..];
    let body_start = indent + (after_indent.len() - strip_comment_marker(after_indent).len());
    let commented = body_start > indent;
    let words = word_spans(line, body_start);
    let Some(&(first_start, first_end)) = words.first() else {
        return (line.to_owned(), Next::Free);
    };
    let first = &line[first_start..first_end];
    let secret_first = is_key_word(first)
        && match reach {
            Reach::File => is_secret_key(first),
            Reach::Output => is_strong_secret_key(first),
        };
    // In a comment, a commented-out directive (`# requirepass foobared`),
    // not a sentence that starts with a secret word (`# keys to values`).
    if secret_first && (!commented || words.len() <= MAX_COMMENTED_DIRECTIVE_WORDS) {
        return mask_after_first(line, &words, commented);
    }
    if reach == Reach::Output || is_pair_line(line, &words) {
        return (line.to_owned(), Next::Free);
    }
    (mask_inside(line, &words, commented), Next::Free)
}

/// True for a `key = value`, `key=value` or `key: value` line, whose value
/// the pair rules judged (its words are a list, `pipeline = authtoken api`,
/// not directives).
fn is_pair_line(line: &str, words: &[(usize, usize)]) -> bool {
    let (start, end) = words[0];
    let first = &line[start..end];
    let key_end = first.find(['=', ':']).unwrap_or(first.len());
    let key = first[..key_end]
        .strip_prefix("export")
        .unwrap_or(&first[..key_end]);
    let separated = key_end < first.len()
        || words
            .get(1)
            .is_some_and(|&(s, _)| line[s..].starts_with(['=', ':']));
    separated && !key.is_empty() && key.bytes().all(is_key_byte)
}

/// A line opening with a secret word: everything after it goes, keeping a
/// final `;` (nginx) or `\` (continued on the next line, also hidden).
fn mask_after_first(line: &str, words: &[(usize, usize)], commented: bool) -> (String, Next) {
    let Some(&(value_start, value_word_end)) = words.get(1) else {
        let next = if commented { Next::Free } else { Next::Hidden };
        return (line.to_owned(), next);
    };
    // `password = x` is a pair, masked as one.
    if line[value_start..value_word_end].starts_with(['=', ':']) {
        return (line.to_owned(), Next::Free);
    }
    let value_end = line.trim_end().len();
    let value = &line[value_start..value_end];
    let (value, kept_tail) = split_terminator(value);
    if is_setting(&line[words[0].0..words[0].1], value) {
        return (line.to_owned(), Next::Free);
    }
    let continued = kept_tail.ends_with('\\');
    let masked = if words.len() == 2 {
        mask_word(value)
    } else {
        MASK.to_owned()
    };
    let mut out = String::with_capacity(line.len());
    out.push_str(&line[..value_start]);
    out.push_str(&masked);
    out.push_str(kept_tail);
    out.push_str(&line[value_end..]);
    let next = if continued { Next::Hidden } else { Next::Free };
    (out, next)
}

/// A line not opening with a secret word: the word after each secret word
/// goes, and every ACL-style `>password` word. In a comment, where prose
/// says "the password for the user", only a `user:password` value goes.
fn mask_inside(line: &str, words: &[(usize, usize)], commented: bool) -> String {
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut i = 1;
    while i < words.len() {
        let (start, end) = words[i];
        let word = &line[start..end];
        if let Some(secret) = word.strip_prefix('>').filter(|s| is_acl_password(s)) {
            out.push_str(&line[copied..start + 1]);
            out.push_str(&mask_word(secret));
            copied = end;
            i += 1;
            continue;
        }
        let next = words.get(i + 1).map(|&(s, e)| (s, e, &line[s..e]));
        match next {
            Some((value_start, value_end, value))
                if is_key_word(word)
                    && is_secret_key(word)
                    && is_value_word(value)
                    && (!commented || is_user_password(value)) =>
            {
                let (value, kept_tail) = split_terminator(value);
                if is_setting(word, value) {
                    i += 2;
                    continue;
                }
                out.push_str(&line[copied..value_start]);
                out.push_str(&mask_word(value));
                out.push_str(kept_tail);
                copied = value_end;
                i += 2;
            }
            _ => i += 1,
        }
    }
    out.push_str(&line[copied..]);
    out
}

/// True when `value` of secret-named `key` is a setting, not a secret: a
/// switch (`server_tokens off;`), or the addresses a `…pass` directive
/// passes requests to (nginx's `proxy_pass http://app;`,
/// `fastcgi_pass unix:/run/php.sock;`, `uwsgi_pass 127.0.0.1:9000;`,
/// apache's `ProxyPass /app/ http://app/`), which name destinations, never
/// a password.
fn is_setting(key: &str, value: &str) -> bool {
    let value = value.trim_matches(['"', '\'']);
    if SWITCHES.iter().any(|s| value.eq_ignore_ascii_case(s)) {
        return true;
    }
    let words = words(key);
    let passes = words.len() > 1 && words.last().is_some_and(|last| last == "pass");
    passes
        && value.split_whitespace().all(|word| {
            word.contains("://")
                || word.starts_with("unix:/")
                || word.starts_with('/')
                || is_host_port(word)
        })
}

/// Values that switch a setting on or off.
const SWITCHES: &[&str] = &["on", "off", "yes", "no", "true", "false"];

/// `host:port` with a numeric port.
fn is_host_port(value: &str) -> bool {
    value.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'[' | b']' | b':'))
            && !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
    })
}

/// A secret value masked: `user:password` keeps its user (`admin:***`),
/// anything else goes whole.
fn mask_word(value: &str) -> String {
    match user_of(value) {
        Some(user) => format!("{user}:{MASK}"),
        None => MASK.to_owned(),
    }
}

/// True for a `user:password` word (not a URL).
fn is_user_password(value: &str) -> bool {
    user_of(value).is_some()
}

/// The user of a `user:password` word, quoted or not.
fn user_of(value: &str) -> Option<&str> {
    let unquoted = value.trim_matches(['"', '\'']);
    let (user, password) = unquoted.split_once(':')?;
    let plain_user = !user.is_empty() && user.bytes().all(|b| is_key_byte(b) || b == b'@');
    let password = password.trim_end_matches(';');
    (plain_user && !password.is_empty() && !password.starts_with("//")).then_some(user)
}

/// `value` without a final `;` or `\`, and that ending.
fn split_terminator(value: &str) -> (&str, &str) {
    match value.strip_suffix([';', '\\']) {
        Some(rest) if !rest.trim_end().is_empty() => {
            let rest = rest.trim_end();
            (rest, &value[rest.len()..])
        }
        _ => (value, ""),
    }
}

/// `text` after a leading comment marker (`#`, `;`, `//`) and the blanks
/// after it; `text` itself when it is no comment.
fn strip_comment_marker(text: &str) -> &str {
    let rest = text
        .strip_prefix("//")
        .or_else(|| text.strip_prefix(['#', ';']));
    match rest {
        Some(rest) => rest.trim_start_matches(['#', ';', ' ', '\t']),
        None => text,
    }
}

/// True for a word shaped like a directive's or variable's name, also
/// with a variable's `$` (nginx's `set $api_token X;`).
fn is_key_word(word: &str) -> bool {
    let name = word.strip_prefix('$').unwrap_or(word);
    name.bytes().any(|b| b.is_ascii_alphabetic()) && name.bytes().all(is_key_byte)
}

/// True for a word that can be the value of the secret word before it: not
/// a pair's separator (`password = x` is a pair), a block brace, or an
/// already masked value.
fn is_value_word(word: &str) -> bool {
    !word.starts_with(['=', ':', '{', '}', ';']) && word != MASK && !word.starts_with("***")
}

/// True for the body of an ACL-style `>password` word (redis' ACL rules):
/// with a letter, not starting with another `>`, `=`, `&` or a `/` path (a
/// redirection, a comparison, a `>0` test).
fn is_acl_password(body: &str) -> bool {
    body.bytes().any(|b| b.is_ascii_alphabetic())
        && !body.starts_with(['>', '=', '&', '/'])
        && body != MASK
}

/// Whitespace-separated words of `line` from `from`, as byte ranges; a
/// word opening with a quote runs to its closing quote.
fn word_spans(line: &str, from: usize) -> Vec<(usize, usize)> {
    let bytes = line.as_bytes();
    let mut spans = Vec::new();
    let mut i = from;
    while i < bytes.len() {
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        i = word_end(bytes, start, b"\"'");
        spans.push((start, i));
    }
    spans
}

/// The end of the word starting at `start` (not whitespace): the next
/// whitespace, or past the closing quote first when the word opens with
/// one of `quotes` (the rest of the text when it is never closed).
pub(super) fn word_end(bytes: &[u8], start: usize, quotes: &[u8]) -> usize {
    let mut i = start;
    if quotes.contains(&bytes[i]) {
        let quote = bytes[i];
        i = bytes[i + 1..]
            .iter()
            .position(|&b| b == quote)
            .map_or(bytes.len(), |p| i + 1 + p + 1);
    }
    while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use crate::mask::{mask_file, mask_output};

    #[test]
    fn secret_directives_in_files() {
        let cases = [
            ("requirepass foo", "requirepass ***"),
            ("masterauth foo", "masterauth ***"),
            ("bindpw foo", "bindpw ***"),
            ("rootpw {SSHA}abc", "rootpw ***"),
            ("  requirepass \"two words\"", "  requirepass ***"),
            ("requirepass foo bar # old", "requirepass ***"),
            ("SetEnv DB_PASSWORD foo", "SetEnv DB_PASSWORD ***"),
            ("SetEnv DB_PASSWORD \"foo bar\"", "SetEnv DB_PASSWORD ***"),
            ("    stats auth admin:foo", "    stats auth admin:***"),
            (
                "    user admin insecure-password foo",
                "    user admin insecure-password ***",
            ),
            (
                "    user admin password $6$salt$hash",
                "    user admin password ***",
            ),
            (
                "machine h login u password foo",
                "machine h login u password ***",
            ),
            ("auth_password foo;", "auth_password ***;"),
            ("    set $api_token foo;", "    set $api_token ***;"),
            (
                "proxy_set_header Authorization \"Basic dXNlcjpw\";",
                "proxy_set_header Authorization ***;",
            ),
            (
                "fastcgi_param DB_PASSWORD foo;",
                "fastcgi_param DB_PASSWORD ***;",
            ),
            (
                "ssl_certificate_key /etc/ssl/private/x.key;",
                "ssl_certificate_key ***;",
            ),
            (
                "\tAuthLDAPBindPassword \"foo\"",
                "\tAuthLDAPBindPassword ***",
            ),
            ("# requirepass foobared", "# requirepass ***"),
            ("#bindpw foo", "#bindpw ***"),
            ("db_pass foo:bar", "db_pass foo:***"),
            ("requirepass on-the-fly", "requirepass ***"),
            ("#\tstats auth admin:foo", "#\tstats auth admin:***"),
            (
                "ExecStart=/usr/bin/redis-server --requirepass foo",
                "ExecStart=/usr/bin/redis-server --requirepass ***",
            ),
            ("- user admin password foo", "- user admin password ***"),
            ("secret_key foo \\", "secret_key *** \\"),
            ("password = foo", "password = ***"),
            (
                "user alice on >s3cret ~cached:* +get",
                "user alice on >*** ~cached:* +get",
            ),
            (
                "Environment=DB_PASSWORD=foo OTHER=1",
                "Environment=DB_PASSWORD=*** OTHER=1",
            ),
            (
                "Environment=\"A_TOKEN=x\" \"B_SECRET=y\"",
                "Environment=\"A_TOKEN=***\" \"B_SECRET=***\"",
            ),
            ("export API_TOKEN=foo", "export API_TOKEN=***"),
        ];
        for (line, expected) in cases {
            assert_eq!(mask_file(line), expected, "masking {line:?}");
        }
    }

    #[test]
    fn ordinary_directives_stay() {
        for line in [
            "port 6379",
            "worker_processes 2;",
            "auth_basic \"Restricted\";",
            "auth_basic_user_file /etc/nginx/htpasswd;",
            "AuthType Basic",
            "AuthName \"Restricted area\"",
            "AuthUserFile /etc/apache2/.htpasswd",
            "SSLCertificateKeyFile /etc/ssl/private/ssl-cert-snakeoil.key",
            "MaxKeepAliveRequests 100",
            "<Directory /var/www/>",
            "</Directory>",
            "    stats socket /run/haproxy/admin.sock mode 660 level admin",
            "PassEnv DB_PASSWORD",
            "tls_cacertfile /etc/ssl/certs/ca-certificates.crt",
            "# The password is set with the directive below.",
            "# keys to values, the password for the user, AUTH <password> as usual",
            "#  nopass       All the set passwords of the user are removed",
            ">8 leshort >0",
            "proxy_cache_bypass $http_pragma;",
            "server_tokens off;",
            "proxy_pass http://127.0.0.1:8000;",
            "fastcgi_pass unix:/run/php/php-fpm.sock;",
            "uwsgi_pass 127.0.0.1:9000;",
            "ProxyPass /app/ http://127.0.0.1:8000/app/",
            "pipeline = authtoken api",
            "pipeline: authtoken keystone",
            "bind 127.0.0.1 -::1",
            "echo hi >/dev/null",
        ] {
            assert_eq!(mask_file(line), line, "masking {line:?}");
        }
    }

    #[test]
    fn a_value_on_the_next_line() {
        assert_eq!(
            mask_file("requirepass\nfoo\nport 6379\n"),
            "requirepass\n***\nport 6379\n"
        );
        assert_eq!(
            mask_file("secret_key a \\\n  b \\\n  c\nport 1\n"),
            "secret_key *** \\\n  ***\n  ***\nport 1\n"
        );
        assert_eq!(
            mask_output("requirepass\nfoo\nport\n6379\n"),
            "requirepass\n***\nport\n6379\n"
        );
    }

    #[test]
    fn command_output_hides_strong_words_only() {
        let cases = [
            ("password foo", "password ***"),
            ("requirepass foo", "requirepass ***"),
            ("bindpw foo", "bindpw ***"),
            ("client_secret abc", "client_secret ***"),
            ("key points of the plan", "key points of the plan"),
            ("auth succeeded for root", "auth succeeded for root"),
            (
                "the password is stored elsewhere",
                "the password is stored elsewhere",
            ),
            ("port 6379", "port 6379"),
        ];
        for (line, expected) in cases {
            assert_eq!(mask_output(line), expected, "masking {line:?}");
        }
    }
}
