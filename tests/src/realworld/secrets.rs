//! Secrets planted in the corpus, the search for them in everything the
//! agent writes, and each secret's verdict (shown, leaked where).
//!
//! Each secret is a distinct value made for one place (a config directive,
//! an environment variable, an argument), so a leak names exactly which
//! format's masking missed it.

use std::path::{Path, PathBuf};

use super::checks::ProcessCheck;

/// The template of the haproxy configuration shown through `config_files`.
const HAPROXY_CFG: &str = include_str!("../../realworld/haproxy.cfg");
/// The template of the nslcd configuration shown through `config_files`.
const NSLCD_CONF: &str = include_str!("../../realworld/nslcd.conf");

/// Where a secret was planted, which says what in a report shows that
/// place was displayed (else the secret's absence would prove nothing).
#[derive(Clone, Debug)]
pub enum Place {
    /// A line of this file, shown in the Configuration section.
    File(PathBuf),
    /// The `SECRET_TOKEN` environment variable.
    Environment,
    /// The value of this command-line option.
    Argument(&'static str),
}

impl Place {
    /// Text a report holds when it displays this place.
    pub fn marker(&self) -> String {
        match self {
            Place::File(path) => path.to_string_lossy().into_owned(),
            Place::Environment => "SECRET_TOKEN".into(),
            Place::Argument(option) => (*option).into(),
        }
    }
}

/// One planted secret.
#[derive(Clone, Debug)]
pub struct Secret {
    /// The service it was planted for.
    pub service: String,
    /// Where it was planted, e.g. `redis.conf requirepass`.
    pub label: &'static str,
    /// The file, variable or option holding it.
    pub place: Place,
    /// The value itself; it must appear nowhere in the agent's output.
    pub value: String,
}

impl Secret {
    /// A value no other secret of the run shares: the service, the label's
    /// letters and the run's nonce.
    pub fn new(service: &str, label: &'static str, place: Place, nonce: &str) -> Self {
        let slug: String = label
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(12)
            .collect();
        Self {
            service: service.to_owned(),
            label,
            place,
            value: format!("Gmr{service}{slug}{nonce}").replace(['-', '_'], ""),
        }
    }
}

/// A nonce for this run's secret values (from the test's pid and clock).
pub fn nonce() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{:x}{:x}", std::process::id(), nanos)
}

/// The secrets of `secrets` whose value occurs in `text`.
pub fn found_in<'a>(text: &str, secrets: &'a [Secret]) -> Vec<&'a Secret> {
    secrets.iter().filter(|s| text.contains(&s.value)).collect()
}

/// The environment every daemon starts with: a minimal `PATH` and a
/// `SECRET_TOKEN` planted for `service`.
pub fn environment(secret: &Secret) -> Vec<(String, String)> {
    vec![
        ("PATH".into(), "/usr/sbin:/usr/bin:/sbin:/bin".into()),
        ("LANG".into(), "C.UTF-8".into()),
        ("SECRET_TOKEN".into(), secret.value.clone()),
    ]
}

/// Writes files in formats no corpus daemon reads (haproxy, nslcd,
/// `.pgpass`, `.netrc`) into `dir`; the caller lists them in its tag's
/// `config_files`. Returns the files and their secrets.
#[track_caller]
pub fn foreign_files(dir: &Path, service: &str, nonce: &str) -> (Vec<PathBuf>, Vec<Secret>) {
    let secret = |label, file| Secret::new(service, label, Place::File(dir.join(file)), nonce);
    let stats_auth = secret("haproxy stats auth", "haproxy.cfg");
    let insecure = secret("haproxy insecure-password", "haproxy.cfg");
    let bindpw = secret("nslcd bindpw", "nslcd.conf");
    let pgpass = secret(".pgpass password", ".pgpass");
    let netrc = secret(".netrc password", ".netrc");
    let files = [
        (
            "haproxy.cfg",
            super::template(
                HAPROXY_CFG,
                &[
                    ("STATS_AUTH", &stats_auth.value),
                    ("INSECURE_PASSWORD", &insecure.value),
                ],
            ),
        ),
        (
            "nslcd.conf",
            super::template(NSLCD_CONF, &[("BINDPW", &bindpw.value)]),
        ),
        (
            ".pgpass",
            format!("db.invalid:5432:nova:nova:{}\n", pgpass.value),
        ),
        (
            ".netrc",
            format!(
                "machine mirror.invalid login deploy password {}\n",
                netrc.value
            ),
        ),
    ];
    let paths = files
        .into_iter()
        .map(|(name, text)| {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
            path
        })
        .collect();
    (paths, vec![stats_auth, insecure, bindpw, pgpass, netrc])
}

/// One planted secret and where it leaked.
pub struct SecretCheck {
    /// The secret.
    pub secret: Secret,
    /// Whether a text report of its service displays its place (the
    /// file's path, the variable's or option's name); when not, its
    /// absence proves nothing.
    pub shown: bool,
    /// The places it was found in (empty: masked everywhere).
    pub leaked_in: Vec<String>,
}

/// Where `secret` leaked: the report files of `processes`, besides
/// `elsewhere` (stderr copies, the agent's log); and whether its place is
/// shown at all.
pub fn check_secret(
    secret: Secret,
    processes: &[ProcessCheck],
    elsewhere: Vec<String>,
) -> SecretCheck {
    let mut leaked_in: Vec<String> = processes
        .iter()
        .flat_map(|p| {
            p.leaks
                .iter()
                .filter(|(s, _)| s.value == secret.value)
                .map(move |(_, format)| format!("{format} report of {} {}", p.service, p.pid))
        })
        .collect();
    leaked_in.extend(elsewhere);
    let shown = processes
        .iter()
        .filter(|p| p.service == secret.service)
        .any(|p| p.text.contains(&secret.place.marker()));
    SecretCheck {
        secret,
        shown,
        leaked_in,
    }
}

/// The failed checks of one secret, in words: leaked anywhere, or planted
/// in a file the reports do not show (its absence would prove nothing).
/// A variable or option not shown is no failure: a daemon that rewrites
/// its process title overwrites them (the table says so).
pub fn secret_failures(checked: &SecretCheck) -> Vec<String> {
    let secret = &checked.secret;
    let mut failures = Vec::new();
    if !checked.shown && matches!(secret.place, Place::File(_)) {
        failures.push(format!(
            "{}: {} is not shown in its reports, so the {} secret in it is not tested",
            secret.service,
            secret.place.marker(),
            secret.label
        ));
    }
    if !checked.leaked_in.is_empty() {
        failures.push(format!(
            "secret leaked: {} {} ({}) in {}",
            secret.service,
            secret.label,
            secret.value,
            checked.leaked_in.join(", ")
        ));
    }
    failures
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_of_one_run_are_distinct_and_found_only_where_they_are() {
        let nonce = "n0nce";
        let a = Secret::new("redis", "redis.conf requirepass", Place::Environment, nonce);
        let b = Secret::new("redis", "redis.conf masterauth", Place::Environment, nonce);
        assert_ne!(a.value, b.value);
        let secrets = [a.clone(), b];
        let found = found_in(&format!("requirepass {}\n", a.value), &secrets);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].label, "redis.conf requirepass");
    }

    #[test]
    fn foreign_files_hold_their_secrets() {
        let dir = crate::scratch::Scratch::new("foreign-files");
        let (files, secrets) = foreign_files(dir.path(), "svc", "n0nce");
        let text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        for secret in &secrets {
            assert!(text.contains(&secret.value), "{} planted", secret.label);
        }
        assert_eq!(files.len(), 4);
    }
}
