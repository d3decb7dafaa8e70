//! Command-line flags: a whole `argv` ([`mask_command_line`]: secret long
//! flags with `=` or a separate value, short flags only for the programs
//! known to take a secret there, free-text masking of every other argument),
//! and a secret `--flag value` written inside free text.

use super::keys::{is_secret_key, mask_secret};
use super::{MASK, mask_text};

/// Masks the word after a secret `--flag` written with a space
/// (`--password hunter2`); `--flag=value` is a pair and masked as one.
pub(super) fn mask_flag_values(line: &str) -> String {
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
}
