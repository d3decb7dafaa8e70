//! Which rpm package owns a file, for roots that have an rpm database.
//!
//! rpm's database formats (Berkeley DB, NDB, SQLite) are not worth parsing
//! here, so the host's own `rpm` is asked, pointed at the process's root
//! with `--root`. It runs only when that root has an rpm database, and is
//! killed if it takes longer than [`RPM_TIMEOUT`]: a report must not hang on
//! a locked database.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::DistroPackage;
use super::root::RootFs;

/// Where rpm keeps its database, old and new locations.
const RPM_DB_DIRS: [&str; 2] = ["/var/lib/rpm", "/usr/lib/sysimage/rpm"];

/// Longest an `rpm -qf` may run.
const RPM_TIMEOUT: Duration = Duration::from_secs(5);

/// One tab-separated line: name, `[epoch:]version-release`, vendor.
const QUERY_FORMAT: &str = "%{NAME}\t%|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE}\t%{VENDOR}\n";

/// The rpm package owning `path` (as the process sees it) in `root`.
pub(super) fn rpm_owner(root: &RootFs, path: &str) -> Option<DistroPackage> {
    parse_query(&run_rpm(
        root,
        &["-qf", "--queryformat", QUERY_FORMAT, "--", path],
    )?)
}

/// The `%config` files of installed package `name` in `root`, as
/// `rpm -qc` lists them.
pub(super) fn rpm_conffiles(root: &RootFs, name: &str) -> Vec<String> {
    run_rpm(root, &["-qc", "--", name])
        .map(|output| {
            output
                .lines()
                .filter(|line| line.starts_with('/'))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// Runs `rpm ARGS` on `root`'s database and returns what it printed; `None`
/// when the root has no rpm database, or rpm fails or times out.
fn run_rpm(root: &RootFs, args: &[&str]) -> Option<String> {
    if !RPM_DB_DIRS.iter().any(|dir| root.is_dir(dir)) {
        return None;
    }
    let mut child = Command::new("rpm")
        .arg("--root")
        .arg(format!("/proc/{}/root", root.pid()))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .inspect_err(|error| log::debug!("cannot run rpm {args:?}: {error}"))
        .ok()?;
    let mut stdout = child.stdout.take()?;
    // Read while rpm runs: a long `-qc` list may not fit in the pipe.
    let reader = std::thread::spawn(move || {
        let mut output = String::new();
        stdout.read_to_string(&mut output).map(|_| output)
    });
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() < RPM_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(10));
            }
            outcome => {
                log::debug!("rpm {args:?} gave up after {RPM_TIMEOUT:?}: {outcome:?}");
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    };
    let output = reader.join().ok()?.ok()?;
    if !status.success() {
        log::debug!("rpm {args:?}: {status}");
        return None;
    }
    Some(output)
}

/// Parses the first line of `rpm -qf --queryformat QUERY_FORMAT`.
fn parse_query(output: &str) -> Option<DistroPackage> {
    let mut fields = output.lines().next()?.split('\t');
    let name = fields.next().filter(|name| !name.is_empty())?;
    let known = |value: &str| (!value.is_empty() && value != "(none)").then(|| value.to_owned());
    Some(DistroPackage {
        manager: "rpm",
        name: name.to_owned(),
        version: fields.next().and_then(known),
        vendor: fields.next().and_then(known),
        maintainer: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_output() {
        let package = parse_query("bash\t5.2.26-3.fc40\tFedora Project\n").expect("parsed");
        assert_eq!(package.name, "bash");
        assert_eq!(package.version.as_deref(), Some("5.2.26-3.fc40"));
        assert_eq!(package.vendor.as_deref(), Some("Fedora Project"));
        let package = parse_query("local\t1:2.0-1\t(none)\nother\t\t\n").expect("parsed");
        assert_eq!(package.version.as_deref(), Some("1:2.0-1"));
        assert_eq!(package.vendor, None);
        assert_eq!(parse_query(""), None);
    }

    #[test]
    fn no_rpm_database_no_query() {
        // This Debian machine has no rpm database: rpm is never started.
        let root = RootFs::open(std::process::id()).expect("own root");
        if RPM_DB_DIRS.iter().all(|dir| !root.is_dir(dir)) {
            assert_eq!(rpm_owner(&root, "/usr/bin/sleep"), None);
            assert_eq!(rpm_conffiles(&root, "coreutils"), Vec::<String>::new());
        }
    }
}
