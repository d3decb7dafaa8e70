//! Which keys name a secret ([`is_secret_key`]: the word lists and the rules
//! that split a key into words and judge them), and how a secret key's value
//! is masked ([`mask_value`], keeping an `Authorization` scheme).

use super::{MASK, mask_output};

/// Last words that make a key a secret on their own.
const SECRET_NOUNS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "pwd",
    "pw",
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
/// `apikey`, `authtoken`, redis' `requirepass` and `masterauth`, nslcd's
/// `bindpw`).
const SECRET_NOUN_ENDINGS: &[&str] = &[
    "password", "passwd", "secret", "token", "key", "pass", "pw", "auth",
];

/// Words that end like a secret noun but are not one: a cache `bypass`,
/// the `askpass` program that asks for a password (`SSH_ASKPASS`).
const NOT_SECRET_NOUNS: &[&str] = &["bypass", "askpass", "compass"];

/// Stems of words that name a secret beyond doubt, even in free text
/// (`password`, `requirepass`, `bindpw`), unlike `key` or `auth`, which
/// prose uses for other things.
const STRONG_STEMS: &[&str] = &[
    "password",
    "passwd",
    "passphrase",
    "secret",
    "token",
    "credential",
];

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
pub(super) const AUTH_SCHEMES: &[&str] = &[
    "Bearer",
    "Basic",
    "Token",
    "Digest",
    "Negotiate",
    "OAuth",
    "Bot",
];

/// True when values of `key` are secrets (case-insensitive); see the
/// documentation of [`crate::mask`] for the rules.
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
    if NOT_SECRET_NOUNS.iter().any(|not| word.ends_with(not)) {
        return false;
    }
    SECRET_NOUNS.contains(&word)
        || SECRET_NOUN_ENDINGS
            .iter()
            .any(|ending| word.len() > ending.len() && word.ends_with(ending))
}

/// True when `key` names a secret beyond doubt: a secret key with a word
/// built on a [`STRONG_STEMS`] stem, or a run-together word ending in
/// `pass`, `pw` or `auth` (`requirepass`, `bindpw`, `masterauth`). Free text
/// (a command's output) hides what follows such a word at the start of a
/// line, where `key` or `auth` alone would hide too much prose.
pub(super) fn is_strong_secret_key(key: &str) -> bool {
    is_secret_key(key)
        && words(key).iter().any(|word| {
            STRONG_STEMS.iter().any(|stem| word.contains(stem))
                || (is_secret_noun(word)
                    && ["pass", "pw", "auth"]
                        .iter()
                        .any(|end| word.len() > end.len() && word.ends_with(end)))
        })
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
pub(super) fn words(key: &str) -> Vec<String> {
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
/// value is masked as free text with the directives that name a secret
/// beyond doubt (as a command's output is), so
/// `mysql+pymysql://nova:***@db/nova` keeps everything but the password and
/// `args = requirepass ***` hides a daemon's own directive.
pub fn mask_value(key: &str, value: &str) -> String {
    if is_secret_key(key) {
        mask_secret(value)
    } else {
        mask_output(value)
    }
}

/// A secret value masked whole, keeping only a leading `Authorization`
/// scheme (`Bearer ***`); empty stays empty.
pub(super) fn mask_secret(value: &str) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
            "requirepass",
            "masterauth",
            "bindpw",
            "rootpw",
            "insecure-password",
            "AuthLDAPBindPassword",
            "DB_PASSWORD",
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
            "SSH_ASKPASS",
            "proxy_cache_bypass",
            "auth_basic",
            "auth_basic_user_file",
            "AuthType",
            "AuthName",
            "AuthUserFile",
            "SSLCertificateKeyFile",
            "SSLPassPhraseDialog",
            "MaxKeepAliveRequests",
            "rootpwmoddn",
            "masteruser",
            "port",
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
    fn strong_secret_keys() {
        for key in [
            "password",
            "requirepass",
            "masterauth",
            "bindpw",
            "client_secret",
            "X-Auth-Token",
        ] {
            assert!(is_strong_secret_key(key), "{key} should be strong");
        }
        for key in ["key", "auth", "pass", "cookie", "auth_url", "bypass"] {
            assert!(!is_strong_secret_key(key), "{key} should not be strong");
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
            mask_value("REDIS_ARGS", "requirepass S3cr3t\nport 6379"),
            "requirepass ***\nport 6379"
        );
        assert_eq!(mask_value("OS_AUTH_TYPE", "password"), "password");
        assert_eq!(
            mask_value("auth_url", "http://ctl:5000/v3"),
            "http://ctl:5000/v3"
        );
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
