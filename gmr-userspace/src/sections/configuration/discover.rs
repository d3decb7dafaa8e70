//! Which configuration files a command line names.
//!
//! Read from the arguments alone, before anything is opened:
//! `--config-file X` and `--config-dir D` (oslo.config), `-c X`,
//! `--config X`, `--conf X` and a flag named after a format (`--ini X`,
//! `--yaml X`) as most other servers take them, each also as `--flag=X`;
//! and any argument ending in a configuration file extension. A value of
//! the form `name=PATH` (`-c config_file=/etc/…/postgresql.conf`,
//! `--paste=/etc/api-paste.ini`) names PATH.

/// Extensions that mark an argument as a configuration file.
pub(super) const CONFIG_EXTENSIONS: &[&str] =
    &["conf", "ini", "cfg", "yaml", "yml", "toml", "json"];

/// A path the command line names, and how sure we are it is configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Named {
    /// A file the process was told to read (`--config-file X`): shown even
    /// when it is missing, since that is worth knowing.
    File(String),
    /// A directory whose `*.conf` files the process reads (`--config-dir D`).
    Dir(String),
    /// A configuration file only if it exists: `-c X` is code to
    /// `python3 -c`, and a positional `x.json` may be an output file.
    IfExists(String),
}

/// The configuration paths in `args` (`argv`, program first), in order.
pub(super) fn named_in(args: &[String]) -> Vec<Named> {
    let mut named = Vec::new();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        let (flag, attached) = match arg.split_once('=') {
            Some((flag, value)) if flag.starts_with("--") => (flag, Some(value)),
            _ => (arg.as_str(), None),
        };
        let make: Option<fn(String) -> Named> = match flag {
            "--config-file" => Some(Named::File),
            "--config-dir" => Some(Named::Dir),
            "-c" | "--config" | "--conf" | "--conf-file" | "--ini" | "--yaml" | "--yml"
            | "--toml" | "--json" => Some(Named::IfExists),
            _ => None,
        };
        match make {
            Some(make) => {
                if let Some(value) = attached.or_else(|| rest.next().map(String::as_str)) {
                    named.push(make(value_path(value).to_owned()));
                }
            }
            None => {
                let candidate = value_path(attached.unwrap_or(arg));
                if !candidate.starts_with('-') && has_config_extension(candidate) {
                    named.push(Named::IfExists(candidate.to_owned()));
                }
            }
        }
    }
    named
}

/// The path in a `name=PATH` value (a setting naming a file, as postgres'
/// `-c config_file=PATH`), else the value itself.
fn value_path(value: &str) -> &str {
    match value.split_once('=') {
        Some((name, path))
            if !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c)) =>
        {
            path
        }
        _ => value,
    }
}

/// True when `path`'s file name ends in a configuration extension.
pub(super) fn has_config_extension(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.rsplit_once('.').is_some_and(|(stem, extension)| {
        !stem.is_empty() && CONFIG_EXTENSIONS.contains(&extension.to_ascii_lowercase().as_str())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(words: &[&str]) -> Vec<Named> {
        let args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        named_in(&args)
    }

    #[test]
    fn oslo_flags() {
        assert_eq!(
            named(&[
                "nova-api",
                "--config-file",
                "/etc/nova/nova.conf",
                "--config-file=/etc/nova/api.conf",
                "--config-dir",
                "/etc/nova/nova.conf.d",
                "--config-dir=rel.d",
                "--debug",
            ]),
            vec![
                Named::File("/etc/nova/nova.conf".into()),
                Named::File("/etc/nova/api.conf".into()),
                Named::Dir("/etc/nova/nova.conf.d".into()),
                Named::Dir("rel.d".into()),
            ]
        );
    }

    #[test]
    fn other_servers_and_extensions() {
        assert_eq!(
            named(&[
                "python3",
                "-c",
                "import time; time.sleep(9)",
                "--config",
                "/etc/app/app.toml",
                "--config=settings",
                "--paste-config=/etc/api-paste.ini",
                "worker.YAML",
                "--log-file",
                "/var/log/app.log",
                "-c",
                "/etc/nginx/nginx.conf",
                "data.json.bak",
                ".json",
                "--out=-x.yaml",
            ]),
            vec![
                Named::IfExists("import time; time.sleep(9)".into()),
                Named::IfExists("/etc/app/app.toml".into()),
                Named::IfExists("settings".into()),
                Named::IfExists("/etc/api-paste.ini".into()),
                Named::IfExists("worker.YAML".into()),
                Named::IfExists("/etc/nginx/nginx.conf".into()),
            ]
        );
        assert_eq!(
            named(&[
                "postgres",
                "-D",
                "/var/lib/postgresql/15/main",
                "-c",
                "config_file=/etc/postgresql/15/main/postgresql.conf",
                "-c",
                "hba_file=pg_hba.conf",
                "--ini",
                "uwsgi.ini",
                "--conf=/etc/x/y",
                "redis.conf",
                "nginx:",
                "work_mem=64MB",
            ]),
            vec![
                Named::IfExists("/etc/postgresql/15/main/postgresql.conf".into()),
                Named::IfExists("pg_hba.conf".into()),
                Named::IfExists("uwsgi.ini".into()),
                Named::IfExists("/etc/x/y".into()),
                Named::IfExists("redis.conf".into()),
            ]
        );
        // The program itself is not an argument; a flag at the end has no value.
        assert_eq!(named(&["/etc/x.conf", "--config-file"]), vec![]);
        assert_eq!(named(&[]), vec![]);
    }
}
