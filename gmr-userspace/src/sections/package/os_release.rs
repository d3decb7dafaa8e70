//! The operating system a process sees, from its own `os-release` file —
//! inside a container that is the container image's distribution, not the
//! host's.

use super::root::RootFs;

/// Where os-release(5) says to look, in order.
const OS_RELEASE_PATHS: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];

/// Largest os-release file read; real ones are under 1 KiB.
const MAX_OS_RELEASE_SIZE: u64 = 64 * 1024;

/// The fields of os-release the Package section uses.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) struct OsRelease {
    /// `NAME`, e.g. `Debian GNU/Linux`.
    pub(super) name: Option<String>,
    /// `PRETTY_NAME`, e.g. `Debian GNU/Linux 12 (bookworm)`.
    pub(super) pretty_name: Option<String>,
}

impl OsRelease {
    /// The distribution as a vendor: `NAME` without the ` GNU/Linux` that
    /// Debian and its derivatives append (`Debian`, `Ubuntu`, `Fedora Linux`).
    pub(super) fn vendor(&self) -> Option<String> {
        let name = self.name.as_deref()?;
        Some(name.strip_suffix(" GNU/Linux").unwrap_or(name).to_owned())
    }
}

/// Reads the os-release file of `root`; empty when there is none.
pub(super) fn os_release(root: &RootFs) -> OsRelease {
    OS_RELEASE_PATHS
        .iter()
        .find_map(|path| root.read_text(path, MAX_OS_RELEASE_SIZE).ok())
        .map(|text| parse(&text))
        .unwrap_or_default()
}

/// Parses os-release's shell-style `KEY=value` lines.
fn parse(text: &str) -> OsRelease {
    let mut release = OsRelease::default();
    for line in text.lines() {
        let Some((key, value)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(value.trim());
        if value.is_empty() {
            continue;
        }
        match key {
            "NAME" => release.name = Some(value),
            "PRETTY_NAME" => release.pretty_name = Some(value),
            _ => {}
        }
    }
    release
}

/// Removes one level of shell quotes; inside double quotes a backslash
/// escapes the next character, as os-release(5) allows.
fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        return inner.to_owned();
    }
    let Some(inner) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.extend(chars.next()),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_and_bare_values() {
        let release = parse(
            "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME='Debian GNU/Linux'\n\
             # comment\nID=debian\nVERSION=\"say \\\"hi\\\"\"\n",
        );
        assert_eq!(release.name.as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(
            release.pretty_name.as_deref(),
            Some("Debian GNU/Linux 12 (bookworm)")
        );
        assert_eq!(release.vendor().as_deref(), Some("Debian"));
        assert_eq!(unquote("\"say \\\"hi\\\"\""), "say \"hi\"");
        let fedora = parse("NAME=\"Fedora Linux\"\n");
        assert_eq!(fedora.vendor().as_deref(), Some("Fedora Linux"));
        assert_eq!(parse("").vendor(), None);
    }

    #[test]
    fn this_machine() {
        let root = RootFs::open(std::process::id()).expect("own root");
        assert!(os_release(&root).name.is_some());
    }
}
