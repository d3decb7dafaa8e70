//! Masking secrets: the one place gmr decides what in a report is a secret.
//!
//! Every value a report shows that came from the target (configuration
//! options, its environment and command line, included files, command
//! output) goes through here, so one rule set applies everywhere. The rules
//! err on the side of hiding: masking a harmless value costs a little
//! diagnosis, showing a password costs a credential rotation. A few kinds of
//! value are deliberately kept visible because operators need them and they
//! grant nothing: URLs and endpoints (`auth_url`), the kind of a secret
//! (`auth_type`, `auth_strategy`), paths to files that hold secrets
//! (`key_file`, `cert_file`, `password_file`), names and UUIDs of secrets
//! (`rbd_secret_uuid`), sizes and lifetimes (`token_expiration`,
//! `max_active_keys`), the user name and host of a URL, and an empty value
//! (an unset password is worth seeing and reveals nothing).
//!
//! - **Keys** ([`is_secret_key`]): a key names a secret when its last word is
//!   a secret noun (`password`, `passwd`, `pwd`, `pass`, `passphrase`,
//!   `secret`, `token`, `key`, `keys`, `credential(s)`, `creds`, `auth`,
//!   `authorization`, `bearer`, `cookie`, `private`, `privkey`, or a word
//!   ending in `password`, `passwd`, `secret`, `token` or `key`, such as
//!   `PGPASSWORD` or `apikey`), or when any word is a strong secret word
//!   (password, secret, credential, token, key families) and the last word is
//!   not one that describes the secret instead of holding it (`url`, `type`,
//!   `file`, `path`, `name`, `uuid`, `size`, `ttl`, …). Words are split on
//!   `_`, `-`, spaces and camelCase; a dotted key (`database.password`,
//!   `users.0.password`) is judged by its last non-numeric segment, and
//!   anything below a `secrets`, `credentials`, `creds`, `passwords` or
//!   `tokens` segment is secret. A key starting with `max`, `min`, `num` or
//!   `number` is a quantity. `PWD` and `OLDPWD` are the shell's directories,
//!   not passwords.
//! - **Values** ([`mask_value`]): a secret key's value becomes [`MASK`]
//!   (keeping an `Authorization` scheme such as `Bearer`); any other value is
//!   masked as free text, so credentials inside it still go.
//! - **Free text** ([`mask_text`]): URL credentials (`scheme://user:***@host`,
//!   every host of `rabbit://a:***@h1,b:***@h2/`, found the way Python's
//!   `urlsplit` finds them), `key=value`, `key: value`, `"key": "value"`,
//!   `key := value` and `--flag value` pairs whose key is secret (to the end
//!   of the line when the key starts the line, else to the next delimiter;
//!   a `{…}` or `[…]` value whole), lines indented under such a key (INI continuation lines, YAML block
//!   scalars), `Bearer` credentials, PEM private key bodies, and tokens with
//!   a recognisable shape: Fernet (`gAAAAA…`), GitHub (`ghp_…`,
//!   `github_pat_…`), GitLab (`glpat-…`), Slack (`xoxb-…`), AWS access key
//!   ids (`AKIA…`), Google API keys (`AIza…`), Stripe, OpenAI, npm, PyPI and
//!   Hugging Face tokens, and JWTs (`eyJ….eyJ….…`). A token keeps its prefix
//!   (`ghp_***`) so a reader still knows what was there. A random string
//!   with no secret key next to it and no known shape cannot be told from
//!   any other word, and stays.
//! - **Command lines** ([`mask_command_line`]): `--secret-flag=value`,
//!   `--secret-flag value` (not `--no-…` switches), single-dash long flags
//!   such as `-storepass X`, short flags only for programs known to take a
//!   secret there (`mysql -pX`, `redis-cli -a X`, `sshpass -p X`,
//!   `curl -u user:X`, …), and free-text masking of every other argument.

/// What a masked secret is replaced with.
pub const MASK: &str = "***";

/// Last words that make a key a secret on their own.
const SECRET_NOUNS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pass",
    "passphrase",
    "passin",
    "passout",
    "storepass",
    "keypass",
    "srcstorepass",
    "deststorepass",
    "srckeypass",
    "destkeypass",
    "secret",
    "secrets",
    "token",
    "tokens",
    "key",
    "keys",
    "credential",
    "credentials",
    "creds",
    "auth",
    "authorization",
    "bearer",
    "cookie",
    "private",
    "privkey",
];

/// Endings that make a run-together word a secret noun (`PGPASSWORD`,
/// `apikey`, `authtoken`).
const SECRET_NOUN_ENDINGS: &[&str] = &["password", "passwd", "secret", "token", "key"];

/// Last words that say something *about* a secret (where it is, what kind it
/// is, how long it lives) rather than hold it.
const DESCRIPTIVE_WORDS: &[&str] = &[
    "url",
    "urls",
    "uri",
    "uris",
    "endpoint",
    "endpoints",
    "host",
    "hosts",
    "hostname",
    "port",
    "file",
    "files",
    "filename",
    "path",
    "paths",
    "dir",
    "dirs",
    "directory",
    "repository",
    "location",
    "type",
    "types",
    "strategy",
    "plugin",
    "provider",
    "backend",
    "driver",
    "section",
    "name",
    "names",
    "uuid",
    "length",
    "size",
    "bits",
    "expiration",
    "expiry",
    "expires",
    "ttl",
    "timeout",
    "lifetime",
    "time",
    "interval",
    "format",
    "method",
    "methods",
    "mode",
    "version",
    "enabled",
    "enable",
    "disabled",
    "required",
    "policy",
    "algorithm",
    "algorithms",
    "days",
    "count",
    "roles",
    "prefix",
    "stdin",
    "prompt",
];

/// First words that make a key a quantity (`max_active_keys = 3`).
const QUANTITY_WORDS: &[&str] = &["max", "min", "num", "number"];

/// Dotted-key segments under which every value is a secret
/// (`secrets.db`, `credentials.0`). Only plurals: Keystone's `[token]` and
/// `[credential]` groups hold settings (`token.provider`), not secrets.
const SECRET_CONTAINERS: &[&str] = &["secrets", "credentials", "creds", "passwords", "tokens"];

/// `Authorization` schemes kept in front of a masked credential.
const AUTH_SCHEMES: &[&str] = &[
    "Bearer",
    "Basic",
    "Token",
    "Digest",
    "Negotiate",
    "OAuth",
    "Bot",
];

/// True when values of `key` are secrets (case-insensitive); see the module
/// documentation for the rules.
pub fn is_secret_key(key: &str) -> bool {
    let segments: Vec<&str> = key.split('.').filter(|s| !s.is_empty()).collect();
    // A list index (`api_keys.0`) is not a name; the list's name decides.
    let Some(name_at) = segments
        .iter()
        .rposition(|s| !s.bytes().all(|b| b.is_ascii_digit()))
    else {
        return false;
    };
    let inside_container = segments[..name_at]
        .iter()
        .any(|s| SECRET_CONTAINERS.contains(&s.to_ascii_lowercase().as_str()));
    inside_container || is_secret_name(segments[name_at])
}

/// The word rules of [`is_secret_key`] for one undotted name.
fn is_secret_name(name: &str) -> bool {
    // The shell's working directories, present in nearly every environment.
    if name.eq_ignore_ascii_case("pwd") || name.eq_ignore_ascii_case("oldpwd") {
        return false;
    }
    let words = words(name);
    let (Some(first), Some(last)) = (words.first(), words.last()) else {
        return false;
    };
    if words.len() > 1 && QUANTITY_WORDS.contains(&first.as_str()) {
        return false;
    }
    if is_secret_noun(last) {
        return true;
    }
    if DESCRIPTIVE_WORDS.contains(&last.as_str()) {
        return false;
    }
    words.iter().any(|word| is_strong_secret_word(word))
}

/// True for a word that names a secret when it ends a key.
fn is_secret_noun(word: &str) -> bool {
    SECRET_NOUNS.contains(&word)
        || SECRET_NOUN_ENDINGS
            .iter()
            .any(|ending| word.len() > ending.len() && word.ends_with(ending))
}

/// True for a word that makes a key secret wherever it stands
/// (`secret_access_key_value`), unless a descriptive word ends the key.
fn is_strong_secret_word(word: &str) -> bool {
    word.contains("password")
        || word.contains("passwd")
        || word.contains("secret")
        || word.contains("credential")
        || word.contains("token")
        || matches!(word, "passphrase" | "creds" | "key" | "keys" | "apikey")
}

/// Splits a key into lowercase words on non-alphanumerics and camelCase
/// (`keyStorePassword` → key, store, password; `APIKey` → api, key).
fn words(key: &str) -> Vec<String> {
    let chars: Vec<char> = key.chars().collect();
    let mut words = Vec::new();
    let mut current = String::new();
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_alphanumeric() {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            continue;
        }
        if c.is_uppercase() && !current.is_empty() {
            let previous = chars[i - 1];
            let next_is_lower = chars.get(i + 1).is_some_and(|n| n.is_lowercase());
            if previous.is_lowercase()
                || previous.is_ascii_digit()
                || (previous.is_uppercase() && next_is_lower)
            {
                words.push(std::mem::take(&mut current));
            }
        }
        current.extend(c.to_lowercase());
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// The value of option or variable `key`, masked for a report.
///
/// A secret key's whole value goes (an empty one stays empty); any other
/// value is masked as free text, so `mysql+pymysql://nova:***@db/nova` keeps
/// everything but the password.
pub fn mask_value(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        mask_secret(value)
    } else {
        mask_text(value)
    }
}

/// A secret value masked whole, keeping only a leading `Authorization`
/// scheme (`Bearer ***`); empty stays empty.
fn mask_secret(value: &str) -> String {
    if value.trim().is_empty() {
        return value.to_owned();
    }
    match auth_scheme(value) {
        Some(scheme) => format!("{scheme} {MASK}"),
        None => MASK.to_owned(),
    }
}

/// The `Authorization` scheme `value` starts with, if it has one and a
/// credential after it.
fn auth_scheme(value: &str) -> Option<&str> {
    let (scheme, rest) = value.split_once(' ')?;
    let known = AUTH_SCHEMES.iter().any(|s| s.eq_ignore_ascii_case(scheme));
    (known && !rest.trim().is_empty()).then_some(scheme)
}

/// Masks secrets in free text: lines of command output, a file shown raw.
///
/// Give it whole texts rather than line by line when possible: a PEM private
/// key and a secret's continuation lines are only recognised across lines.
pub fn mask_text(text: &str) -> String {
    let text = mask_private_keys(text);
    let mut out = String::with_capacity(text.len());
    // Indentation of a line whose secret value may continue on the lines
    // indented deeper below it.
    let mut secret_block: Option<usize> = None;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let ending = &line[body.len()..];
        let indent = body.len() - body.trim_start().len();
        if let Some(level) = secret_block {
            if body.trim().is_empty() {
                out.push_str(line);
                continue;
            }
            if indent > level {
                out.push_str(&body[..indent]);
                out.push_str(MASK);
                out.push_str(ending);
                continue;
            }
            secret_block = None;
        }
        let (masked, opens_block) = mask_line(body);
        if opens_block {
            secret_block = Some(indent);
        }
        out.push_str(&masked);
        out.push_str(ending);
    }
    out
}

/// Masks one line; also says whether it starts with a secret key, so that
/// lines indented under it are part of its value.
fn mask_line(line: &str) -> (String, bool) {
    let line = mask_url_credentials(line);
    let (line, opens_block) = mask_pairs(&line);
    let line = mask_flag_values(&line);
    (mask_tokens(&line), opens_block)
}

/// Replaces the body of every PEM private key block with [`MASK`], keeping
/// the BEGIN and END lines (certificates and public keys stay).
fn mask_private_keys(text: &str) -> String {
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

/// Bytes a key of a `key=value` pair is made of.
fn is_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-')
}

/// Bytes that end an unquoted value in the middle of a line.
fn ends_inline_value(b: u8) -> bool {
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
fn mask_pairs(line: &str) -> (String, bool) {
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

/// Masks the word after a secret `--flag` written with a space
/// (`--password hunter2`); `--flag=value` is a pair and masked as one.
fn mask_flag_values(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut copied = 0;
    let mut words = word_spans(line).peekable();
    while let Some((start, end)) = words.next() {
        let word = &line[start..end];
        let Some(flag) = word.strip_prefix("--") else {
            continue;
        };
        if flag.contains('=') || !is_secret_flag(flag) {
            continue;
        }
        let Some(&(value_start, value_end)) = words.peek() else {
            break;
        };
        let value = line[value_start..value_end].trim_matches(['"', '\'']);
        if value.starts_with('-') || value == MASK {
            continue;
        }
        out.push_str(&line[copied..value_start]);
        out.push_str(MASK);
        copied = value_end;
        words.next();
    }
    out.push_str(&line[copied..]);
    out
}

/// Whitespace-separated words of `line`, as byte ranges.
fn word_spans(line: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        let rest = &line[at..];
        let start = at + (rest.len() - rest.trim_start().len());
        if start >= line.len() {
            return None;
        }
        let end = line[start..]
            .find(char::is_whitespace)
            .map_or(line.len(), |p| start + p);
        at = end;
        Some((start, end))
    })
}

/// True when a command-line flag (dashes stripped) takes a secret value;
/// `no-…` switches never do.
fn is_secret_flag(flag: &str) -> bool {
    !flag.starts_with("no-") && is_secret_key(flag)
}

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
fn mask_tokens(line: &str) -> String {
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

/// How a program takes a secret after a short flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Secret {
    /// The whole value is the secret.
    Whole,
    /// `user<sep>secret`: only what follows the first `sep` is.
    AfterUser(char),
}

impl Secret {
    /// `value` with its secret part masked.
    fn mask(self, value: &str) -> String {
        match self {
            Secret::Whole => mask_secret(value),
            Secret::AfterUser(sep) => match value.split_once(sep) {
                Some((user, secret)) if !secret.is_empty() => format!("{user}{sep}{MASK}"),
                _ => value.to_owned(),
            },
        }
    }
}

/// A short flag that takes a secret, for the programs that mean it so.
struct ShortFlag {
    /// Program names (`argv[0]`'s last path component).
    programs: &'static [&'static str],
    /// The flag, e.g. `-p`.
    flag: &'static str,
    /// Whether the value may be the next argument (`-p X`); `mysql -p X`
    /// prompts and `X` is a database, so only `-pX` counts there.
    separate: bool,
    /// Which part of the value is secret.
    secret: Secret,
}

/// MySQL and MariaDB clients.
const MYSQL: &[&str] = &[
    "mysql",
    "mysqldump",
    "mysqladmin",
    "mysqlimport",
    "mysqlcheck",
    "mysqlshow",
    "mariadb",
    "mariadb-dump",
    "mariadb-admin",
];

/// MongoDB clients.
const MONGO: &[&str] = &[
    "mongo",
    "mongosh",
    "mongodump",
    "mongorestore",
    "mongoexport",
    "mongoimport",
];

/// OpenLDAP clients.
const LDAP: &[&str] = &[
    "ldapsearch",
    "ldapmodify",
    "ldapadd",
    "ldapdelete",
    "ldapwhoami",
    "ldappasswd",
    "ldapcompare",
    "ldapmodrdn",
];

/// Container registry clients (`login -p`).
const REGISTRY: &[&str] = &["docker", "podman", "nerdctl", "buildah", "helm"];

/// Short flags known to carry a secret.
const SHORT_FLAGS: &[ShortFlag] = &[
    short(MYSQL, "-p", false, Secret::Whole),
    short(&["redis-cli", "redis-benchmark"], "-a", true, Secret::Whole),
    short(&["sshpass"], "-p", true, Secret::Whole),
    short(MONGO, "-p", true, Secret::Whole),
    short(LDAP, "-w", true, Secret::Whole),
    short(&["curl"], "-u", true, Secret::AfterUser(':')),
    short(&["curl"], "-U", true, Secret::AfterUser(':')),
    short(&["curl"], "--user", true, Secret::AfterUser(':')),
    short(&["curl"], "--proxy-user", true, Secret::AfterUser(':')),
    short(
        &["smbclient", "rpcclient"],
        "-U",
        true,
        Secret::AfterUser('%'),
    ),
    short(
        &["smbclient", "rpcclient"],
        "--user",
        true,
        Secret::AfterUser('%'),
    ),
    short(&["zip", "unzip"], "-P", true, Secret::Whole),
    short(&["7z", "7za", "7zr"], "-p", false, Secret::Whole),
    short(REGISTRY, "-p", true, Secret::Whole),
];

/// A [`ShortFlag`], in a form short enough for a table.
const fn short(
    programs: &'static [&'static str],
    flag: &'static str,
    separate: bool,
    secret: Secret,
) -> ShortFlag {
    ShortFlag {
        programs,
        flag,
        separate,
        secret,
    }
}

/// A command line (`argv`) with its secrets masked, argument by argument.
pub fn mask_command_line(args: &[String]) -> Vec<String> {
    let program = args
        .first()
        .map(|arg0| arg0.rsplit('/').next().unwrap_or(arg0))
        .unwrap_or_default();
    let flags: Vec<&ShortFlag> = SHORT_FLAGS
        .iter()
        .filter(|f| f.programs.contains(&program))
        .collect();
    let mut out = Vec::with_capacity(args.len());
    let mut pending: Option<Secret> = None;
    for (index, arg) in args.iter().enumerate() {
        if let Some(secret) = pending.take() {
            out.push(secret.mask(arg));
            continue;
        }
        let (masked, next) = if index == 0 {
            (mask_text(arg), None)
        } else {
            mask_argument(arg, &flags)
        };
        out.push(masked);
        pending = next;
    }
    out
}

/// One argument masked; also how to mask the next one when this is a flag
/// whose value follows separately.
fn mask_argument(arg: &str, flags: &[&ShortFlag]) -> (String, Option<Secret>) {
    for flag in flags {
        if arg == flag.flag {
            return (arg.to_owned(), flag.separate.then_some(flag.secret));
        }
        // `-pX`, `-p=X`; a long flag only with `=` (`--user-agent` is another flag).
        let attached = arg
            .strip_prefix(flag.flag)
            .and_then(|rest| match rest.strip_prefix('=') {
                Some(value) => Some(value),
                None => (flag.flag.len() == 2).then_some(rest),
            })
            .filter(|value| !value.is_empty());
        if let Some(value) = attached {
            let joint = &arg[..arg.len() - value.len()];
            return (format!("{joint}{}", flag.secret.mask(value)), None);
        }
    }
    let long_flag = arg
        .strip_prefix("--")
        .or_else(|| arg.strip_prefix('-').filter(|name| name.len() > 1));
    if let Some(name) = long_flag.filter(|name| !name.starts_with('-')) {
        match name.split_once('=') {
            Some((flag, value)) if is_secret_flag(flag) => {
                let joint = &arg[..arg.len() - value.len()];
                return (format!("{joint}{}", mask_secret(value)), None);
            }
            None if is_secret_flag(name) => return (arg.to_owned(), Some(Secret::Whole)),
            _ => {}
        }
    }
    (mask_text(arg), None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn secret_keys() {
        for key in [
            "password",
            "PASSWORD",
            "admin_password",
            "os-password",
            "--os-password",
            "passwd",
            "db_pass",
            "MYSQL_PWD",
            "db_pwd",
            "passphrase",
            "secret",
            "client_secret",
            "metadata_proxy_shared_secret",
            "memcache_secret_key",
            "secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
            "token",
            "admin_token",
            "OS_TOKEN",
            "GITHUB_TOKEN",
            "X-Auth-Token",
            "X-Subject-Token",
            "api_key",
            "apiKey",
            "APIKey",
            "x-api-key",
            "private_key",
            "access_key",
            "ssl_key",
            "fixed_key",
            "hmac_keys",
            "DJANGO_SECRET_KEY",
            "credentials",
            "creds",
            "auth",
            "basic_auth",
            "auth_token",
            "auth_key",
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "PGPASSWORD",
            "authtoken",
            "keyStorePassword",
            "javax.net.ssl.keyStorePassword",
            "database.password",
            "clouds.mycloud.auth.password",
            "api_keys.0",
            "secrets.db",
            "credentials.0.value",
            "root_token_id",
            "password_hash",
            "storepass",
        ] {
            assert!(is_secret_key(key), "{key} should be secret");
        }
    }

    #[test]
    fn keys_kept_visible() {
        for key in [
            "auth_url",
            "auth_type",
            "auth_strategy",
            "auth_section",
            "auth_version",
            "www_authenticate_uri",
            "OS_AUTH_URL",
            "OS_AUTH_TYPE",
            "OS_USERNAME",
            "username",
            "user",
            "key_file",
            "cert_file",
            "ca_file",
            "ssl_cert",
            "password_file",
            "credentials_file",
            "key_repository",
            "token_expiration",
            "token_provider",
            "token_cache_time",
            "service_token_roles",
            "max_active_keys",
            "rbd_secret_uuid",
            "secret_name",
            "SSH_AUTH_SOCK",
            "GIT_ASKPASS",
            "PWD",
            "OLDPWD",
            "debug",
            "connection",
            "transport_url",
            "host",
            "monkeypatch",
            "keystone",
            "keystone_authtoken.auth_url",
            "token.provider",
            "credential.key_repository",
            "database.url",
            "users.0.name",
            "",
            "0",
        ] {
            assert!(!is_secret_key(key), "{key} should be visible");
        }
    }

    #[test]
    fn values_of_secret_keys_go_whole_empty_stays() {
        assert_eq!(mask_value("password", "S3cr3t-01"), MASK);
        assert_eq!(mask_value("OS_PASSWORD", "a b c"), MASK);
        assert_eq!(mask_value("password", ""), "");
        assert_eq!(mask_value("Authorization", "Bearer abc.def"), "Bearer ***");
        assert_eq!(mask_value("debug", "True"), "True");
        assert_eq!(
            mask_value("auth_url", "http://ctl:5000/v3"),
            "http://ctl:5000/v3"
        );
    }

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

    #[test]
    fn continuation_lines_of_a_secret() {
        let ini = "[profiler]\nhmac_keys = first\n    second\n\tthird\nenabled = true\n";
        assert_eq!(
            mask_text(ini),
            "[profiler]\nhmac_keys = ***\n    ***\n\t***\nenabled = true\n"
        );
        let yaml = "db:\n  password: |\n    line one\n\n    line two\n  host: db\n";
        assert_eq!(
            mask_text(yaml),
            "db:\n  password: ***\n    ***\n\n    ***\n  host: db\n"
        );
    }

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

    #[test]
    fn other_scripts_and_odd_bytes() {
        let cases = [
            (
                "clé: x mot_de_passe=é€ password=€uro",
                "clé: x mot_de_passe=é€ password=***",
            ),
            (
                "ü ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 ü",
                "ü ghp_*** ü",
            ),
            (
                "«Bearer tøken» and https://ü:pässword@hôst/",
                "«Bearer *** and https://ü:***@hôst/",
            ),
            ("password=\"unterminated", "password=\"***"),
            ("=", "="),
            (":", ":"),
            ("password", "password"),
        ];
        for (text, expected) in cases {
            assert_eq!(mask_text(text), expected, "masking {text:?}");
        }
    }

    #[test]
    fn command_lines() {
        let cases: &[(&[&str], &[&str])] = &[
            (
                &[
                    "nova-api",
                    "--config-file",
                    "/etc/nova/nova.conf",
                    "--debug",
                ],
                &[
                    "nova-api",
                    "--config-file",
                    "/etc/nova/nova.conf",
                    "--debug",
                ],
            ),
            (
                &[
                    "openstack",
                    "--os-password",
                    "S3cr3t",
                    "--os-username",
                    "admin",
                ],
                &[
                    "openstack",
                    "--os-password",
                    "***",
                    "--os-username",
                    "admin",
                ],
            ),
            (
                &[
                    "svc",
                    "--password=S3cr3t",
                    "--token",
                    "T0k",
                    "--no-password",
                    "db",
                ],
                &[
                    "svc",
                    "--password=***",
                    "--token",
                    "***",
                    "--no-password",
                    "db",
                ],
            ),
            (
                &["svc", "--db=mysql://u:S3cr3t@h/x", "--api-key=K"],
                &["svc", "--db=mysql://u:***@h/x", "--api-key=***"],
            ),
            (
                &[
                    "keytool",
                    "-storepass",
                    "S3cr3t",
                    "-keypass",
                    "S3",
                    "-alias",
                    "x",
                ],
                &[
                    "keytool",
                    "-storepass",
                    "***",
                    "-keypass",
                    "***",
                    "-alias",
                    "x",
                ],
            ),
            (
                &[
                    "java",
                    "-Djavax.net.ssl.keyStorePassword=S3cr3t",
                    "-jar",
                    "a.jar",
                ],
                &[
                    "java",
                    "-Djavax.net.ssl.keyStorePassword=***",
                    "-jar",
                    "a.jar",
                ],
            ),
            (
                &["/usr/bin/mysql", "-uroot", "-pS3cr3t", "-p", "nova"],
                &["/usr/bin/mysql", "-uroot", "-p***", "-p", "nova"],
            ),
            (
                &["redis-cli", "-a", "S3cr3t", "-p", "6379"],
                &["redis-cli", "-a", "***", "-p", "6379"],
            ),
            (
                &["sshpass", "-p", "S3cr3t", "ssh"],
                &["sshpass", "-p", "***", "ssh"],
            ),
            (
                &[
                    "curl",
                    "-u",
                    "admin:S3cr3t",
                    "--user=bob:pw",
                    "-u",
                    "alice",
                    "--user-agent=a:b",
                ],
                &[
                    "curl",
                    "-u",
                    "admin:***",
                    "--user=bob:***",
                    "-u",
                    "alice",
                    "--user-agent=a:b",
                ],
            ),
            (
                &["curl", "-H", "Authorization: Bearer S3cr3t", "http://h/"],
                &["curl", "-H", "Authorization: Bearer ***", "http://h/"],
            ),
            (
                &["smbclient", "-U", "admin%S3cr3t", "//h/share"],
                &["smbclient", "-U", "admin%***", "//h/share"],
            ),
            (
                &["ldapsearch", "-w", "S3cr3t"],
                &["ldapsearch", "-w", "***"],
            ),
            (
                &["docker", "login", "-p", "S3cr3t", "-u", "me"],
                &["docker", "login", "-p", "***", "-u", "me"],
            ),
            // `-p` means a port (or anything) to programs not in the table.
            (&["ssh", "-p", "2222", "h"], &["ssh", "-p", "2222", "h"]),
            (
                &["python3", "-c", "print(1)", "--token=S3cr3t"],
                &["python3", "-c", "print(1)", "--token=***"],
            ),
        ];
        for (argv, expected) in cases {
            assert_eq!(
                mask_command_line(&args(argv)),
                args(expected),
                "masking {argv:?}"
            );
        }
    }

    #[test]
    fn environment_variables() {
        let cases = [
            ("OS_PASSWORD", "S3cr3t", "***"),
            ("OS_TOKEN", "S3cr3t", "***"),
            ("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG", "***"),
            ("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE", "***"),
            ("MY_SECRET_VALUE", "S3cr3t", "***"),
            ("SLACK_TOKEN_X", "S3cr3t", "***"),
            ("SOME_KEY", "S3cr3t", "***"),
            (
                "DATABASE_URL",
                "postgres://u:pw@h/db",
                "postgres://u:***@h/db",
            ),
            ("OS_AUTH_URL", "http://ctl:5000/v3", "http://ctl:5000/v3"),
            ("PWD", "/srv/app", "/srv/app"),
            ("PATH", "/usr/bin:/bin", "/usr/bin:/bin"),
            ("HOME", "/root", "/root"),
        ];
        for (name, value, expected) in cases {
            assert_eq!(mask_value(name, value), expected, "masking {name}");
        }
    }
}
