//! Debian packages on the host: installs the ones a task needs when missing.

use std::process::Command;

use anyhow::{Context as _, Result};

use crate::cmd;

/// apt-get installs whichever of `packages` are missing.
pub fn install_missing(packages: &[&str]) -> Result<()> {
    let missing: Vec<&str> = packages.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    cmd::run(&mut apt_get(&["update"]))?;
    cmd::run(apt_get(&["install", "-y", "--no-install-recommends"]).args(&missing))
}

/// apt's option to wait (up to 5 minutes) for the dpkg frontend lock
/// another apt or dpkg holds, instead of failing at once with "dpkg frontend
/// lock was locked by another process": a host's unattended upgrade must not
/// fail the tests.
const WAIT_FOR_LOCKS: [&str; 2] = ["-o", "DPkg::Lock::Timeout=300"];

/// `apt-get ARGS…`, non-interactive, waiting for the package locks.
pub fn apt_get(args: &[&str]) -> Command {
    let mut command = Command::new("apt-get");
    command
        .args(WAIT_FOR_LOCKS)
        .args(args)
        .env("DEBIAN_FRONTEND", "noninteractive");
    command
}

/// True when dpkg says `package` is installed.
fn installed(package: &str) -> bool {
    cmd::stdout(Command::new("dpkg-query").args(["-W", "-f=${Status}", package]))
        .is_some_and(|s| s.ends_with("installed"))
}

/// The Debian archives the host's apt uses: the main archive and the
/// security one, as the host's sources name them. The tests that fetch
/// Debian themselves (the container root, the QEMU kernels) use the same
/// archives, so no archive address is written in the project.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archives {
    /// Where `SUITE`, `SUITE-updates` come from.
    pub main: String,
    /// Where `SUITE-security` comes from.
    pub security: String,
}

/// The Debian sources apt reads on this host.
const SOURCE_FILES: [&str; 2] = [
    "/etc/apt/sources.list.d/debian.sources",
    "/etc/apt/sources.list",
];

/// The host's Debian archives, from its apt sources (deb822 `.sources` or
/// one-line `sources.list`).
pub fn host_archives() -> Result<Archives> {
    let mut entries = Vec::new();
    for path in SOURCE_FILES {
        if let Ok(text) = std::fs::read_to_string(path) {
            entries.extend(source_entries(&text));
        }
    }
    archives_in(&entries).with_context(|| {
        format!(
            "no Debian archive (a `deb` source with a release and a -security suite) in {}",
            SOURCE_FILES.join(" or ")
        )
    })
}

/// `(URI, suite)` of every `deb` source in `text`, in either format.
fn source_entries(text: &str) -> Vec<(String, String)> {
    let mut entries = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(str::trim)
        };
        if let (Some(types), Some(uris), Some(suites)) =
            (field("Types"), field("URIs"), field("Suites"))
            && types.split_whitespace().any(|t| t == "deb")
        {
            for uri in uris.split_whitespace() {
                for suite in suites.split_whitespace() {
                    entries.push((uri.to_owned(), suite.to_owned()));
                }
            }
        }
    }
    for line in text.lines() {
        let mut words = line.split_whitespace().filter(|w| !w.starts_with('['));
        if words.next() == Some("deb")
            && let (Some(uri), Some(suite)) = (words.next(), words.next())
        {
            entries.push((uri.to_owned(), suite.to_owned()));
        }
    }
    entries
}

/// The main and security archives among `(URI, suite)` entries.
fn archives_in(entries: &[(String, String)]) -> Option<Archives> {
    let security = entries
        .iter()
        .find(|(_, suite)| suite.ends_with("-security"))?;
    let main = entries.iter().find(|(_, suite)| !suite.contains('-'))?;
    Some(Archives {
        main: main.0.trim_end_matches('/').to_owned(),
        security: security.0.trim_end_matches('/').to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_from_either_source_format() {
        let deb822 = "Types: deb\n# a comment\nURIs: http://mirror.invalid/debian\n\
                      Suites: bookworm bookworm-updates\nComponents: main\n\n\
                      Types: deb deb-src\nURIs: http://mirror.invalid/debian-security/\n\
                      Suites: bookworm-security\nComponents: main\n";
        let one_line = "# deb http://old.invalid/x bookworm main\n\
                        deb [signed-by=/k.gpg] http://mirror.invalid/debian bookworm main\n\
                        deb-src http://src.invalid/debian bookworm main\n\
                        deb http://mirror.invalid/debian-security bookworm-security main\n";
        let expected = Archives {
            main: "http://mirror.invalid/debian".to_owned(),
            security: "http://mirror.invalid/debian-security".to_owned(),
        };
        for text in [deb822, one_line] {
            assert_eq!(archives_in(&source_entries(text)), Some(expected.clone()));
        }
        assert_eq!(
            archives_in(&source_entries("deb http://x.invalid/d bookworm main")),
            None
        );
    }
}
