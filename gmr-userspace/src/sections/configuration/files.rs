//! Finding and reading configuration files as the target process sees them.
//!
//! An absolute path is opened inside the process's root with
//! `openat2(RESOLVE_IN_ROOT)` ([`RootFs`]), so a containerised service's own
//! `/etc/nova/nova.conf` is read, symlinks and all. A relative path is joined
//! to the process's working directory as `/proc/PID/cwd` names it. Files
//! are read up to [`MAX_FILE_BYTES`]; anything but a regular file is refused
//! without blocking (a FIFO planted where a configuration file should be
//! cannot stall the agent).

use std::collections::HashSet;
use std::io::Read as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use super::discover::{Named, has_config_extension, named_in};
use crate::model::configuration::FoundBy;
use crate::sections::describe_io_error;
use crate::sections::package::root::{RootFs, absolutize, proc_link};
use crate::sections::package::{PackageDb, program_conffiles};
use crate::sections::process_args::CommandLine;

/// Most open file descriptors looked at; a server with a million sockets
/// must not make the report wait for a million `readlink`s.
const MAX_FDS_SCANNED: usize = 16 * 1024;

/// Most bytes read of one file; the rest is left out and the file marked
/// truncated. Real configuration files are a few KiB to a few hundred.
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A configuration file to read, how it was found, and whether it can be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Planned {
    /// The absolute path as the process sees it; for a named path that
    /// could not be resolved, the path as named.
    pub(super) path: String,
    /// How the file was found.
    pub(super) found_by: FoundBy,
    /// `Err` when the file was named but cannot be read, with why.
    pub(super) read: Result<(), String>,
}

/// The contents of a configuration file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Contents {
    /// The text (invalid UTF-8 replaced), ending at a line boundary.
    pub(super) text: String,
    /// True when the file was longer than [`MAX_FILE_BYTES`].
    pub(super) truncated: bool,
}

/// One process's file tree, opened once for all its configuration files.
pub(super) struct TargetFiles {
    pid: u32,
    root: Result<RootFs, String>,
    cwd: Result<String, String>,
}

impl TargetFiles {
    /// Opens the file tree of process `pid`; failures are kept and reported
    /// for each file that needs what failed.
    pub(super) fn open(pid: u32) -> Self {
        Self {
            pid,
            root: RootFs::open(pid).map_err(|error| describe_io_error(&error)),
            cwd: proc_link(pid, "cwd").map_err(|error| {
                format!(
                    "cannot read the working directory of process {pid}: {}",
                    describe_io_error(&error)
                )
            }),
        }
    }

    /// The files to read, in order: those the command line (or title)
    /// names (a directory's `*.conf` files sorted by name, as oslo.config
    /// reads them), `extra_files` from the agent's configuration, the
    /// configuration files the process holds open, then the conffiles of
    /// the package its program comes from (for both: what
    /// [`may_show_unnamed`]; the program's package is looked up in
    /// `packages`). A path found twice is read once, credited to the first
    /// way it was found.
    pub(super) fn plan(
        &self,
        command_line: &CommandLine,
        extra_files: &[PathBuf],
        packages: &Mutex<PackageDb>,
    ) -> Vec<Planned> {
        let mut planned = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |path: String, found_by: &FoundBy, read: Result<(), String>| {
            if seen.insert(path.clone()) {
                planned.push(Planned {
                    path,
                    found_by: found_by.clone(),
                    read,
                });
            }
        };
        let extra = extra_files.iter().map(|path| {
            (
                Named::File(path.to_string_lossy().into_owned()),
                FoundBy::AgentConfiguration,
            )
        });
        let named = named_in(&command_line.words())
            .into_iter()
            .map(|named| (named, FoundBy::CommandLine))
            .chain(extra);
        for (named, found_by) in named {
            match named {
                Named::File(path) => match self.resolve(&path) {
                    Ok(resolved) => add(resolved, &found_by, Ok(())),
                    Err(error) => add(path, &found_by, Err(error)),
                },
                Named::IfExists(path) => {
                    if let Ok(path) = self.resolve(&path)
                        && self.is_file(&path)
                    {
                        add(path, &found_by, Ok(()));
                    }
                }
                Named::Dir(path) => match self.conf_files_in(&path) {
                    Ok(files) => {
                        for file in files {
                            add(file, &found_by, Ok(()));
                        }
                    }
                    Err(error) => add(path, &found_by, Err(error)),
                },
            }
        }
        for (fd, path) in open_config_files(self.pid) {
            add(path, &FoundBy::OpenFile { fd }, Ok(()));
        }
        let mut own_db = PackageDb::new();
        let mut shared = shared_db(packages);
        let db = shared.as_deref_mut().unwrap_or(&mut own_db);
        if let Ok(root) = &self.root
            && let Some((package, conffiles)) = program_conffiles(self.pid, root, command_line, db)
        {
            let found_by = FoundBy::PackageConffile { package };
            let may_show = |path: &String| {
                root.metadata(path)
                    .is_ok_and(|meta| may_show_unnamed(path, &meta))
            };
            for path in conffiles.into_iter().filter(may_show) {
                add(path, &found_by, Ok(()));
            }
        }
        planned
    }

    /// True when `path` is a regular file in the process's tree.
    fn is_file(&self, path: &str) -> bool {
        self.root.as_ref().is_ok_and(|root| root.is_file(path))
    }

    /// The `*.conf` files of directory `dir`, sorted by name; hidden files
    /// are skipped, as Python's glob skips them for oslo.config.
    fn conf_files_in(&self, dir: &str) -> Result<Vec<String>, String> {
        let dir = self.resolve(dir)?;
        let root = self.root()?;
        let names = root.read_dir(&dir).map_err(|error| {
            format!(
                "cannot list configuration directory {dir}: {}",
                describe_io_error(&error)
            )
        })?;
        let mut names: Vec<String> = names
            .into_iter()
            .map(|name| name.to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".conf") && !name.starts_with('.'))
            .collect();
        names.sort();
        Ok(names.iter().map(|name| absolutize(&dir, name)).collect())
    }

    /// `path` as an absolute path in the process's tree.
    fn resolve(&self, path: &str) -> Result<String, String> {
        if path.starts_with('/') {
            return Ok(absolutize("/", path));
        }
        let cwd = self
            .cwd
            .as_ref()
            .map_err(|error| format!("cannot resolve {path}: {error}"))?;
        Ok(absolutize(cwd, path))
    }

    /// The process's root, or why it cannot be opened.
    fn root(&self) -> Result<&RootFs, String> {
        self.root.as_ref().map_err(|error| {
            format!(
                "cannot open the root directory of process {}: {error}",
                self.pid
            )
        })
    }

    /// When the file at absolute `path` was last modified, if it can be
    /// told: a file edited after the process read it may not be in effect.
    pub(super) fn modified(&self, path: &str) -> Option<std::time::SystemTime> {
        self.root
            .as_ref()
            .ok()?
            .metadata(path)
            .ok()?
            .modified()
            .ok()
    }

    /// Reads the file at absolute `path`, up to [`MAX_FILE_BYTES`] (cut back
    /// to the last whole line when longer).
    pub(super) fn read(&self, path: &str) -> Result<Contents, String> {
        let file = self
            .root()?
            .open_file(path)
            .map_err(|error| format!("cannot open {path}: {}", describe_io_error(&error)))?;
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|error| format!("cannot read {path}: {}", describe_io_error(&error)))?;
        let truncated = bytes.len() as u64 > MAX_FILE_BYTES;
        if truncated {
            let last_line_end = bytes[..MAX_FILE_BYTES as usize]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(0, |at| at + 1);
            bytes.truncate(last_line_end);
        }
        Ok(Contents {
            text: String::from_utf8_lossy(&bytes).into_owned(),
            truncated,
        })
    }
}

/// True when a file nobody named for this process (held open, a package
/// conffile) may be shown: a regular file that is not a script (an
/// executable conffile such as `/etc/init.d/x` starts the program, it is
/// not read by it) and, unless its name says configuration, readable by
/// anyone — a private file (`/etc/shadow`, `/etc/ppp/chap-secrets`, a TLS
/// key) is shown only when the command line or the agent names it.
fn may_show_unnamed(path: &str, meta: &std::fs::Metadata) -> bool {
    let mode = meta.permissions().mode();
    meta.is_file() && mode & 0o111 == 0 && (has_config_extension(path) || mode & 0o004 != 0)
}

/// The configuration files process `pid` holds open, by descriptor
/// number: files under `/etc` or named with a configuration extension that
/// [`may_show_unnamed`], as the process sees their paths.
fn open_config_files(pid: u32) -> Vec<(u32, String)> {
    let dir = format!("/proc/{pid}/fd");
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<(u32, String)> = entries
        .take(MAX_FDS_SCANNED)
        .filter_map(|entry| {
            let name = entry.ok()?.file_name();
            let fd: u32 = name.to_str()?.parse().ok()?;
            let path = proc_link(pid, &format!("fd/{fd}")).ok()?;
            // A deleted file's link ends in " (deleted)": no path reaches it.
            if !path.starts_with('/') || path.ends_with(" (deleted)") {
                return None;
            }
            let meta = std::fs::metadata(format!("{dir}/{fd}")).ok()?;
            let config_like = has_config_extension(&path) || path.starts_with("/etc/");
            (config_like && may_show_unnamed(&path, &meta)).then_some((fd, path))
        })
        .collect();
    files.sort_unstable();
    files
}

/// Longest the section waits for the Package section (which holds the
/// report's dpkg answers while it runs) before searching on its own.
const SHARED_DB_WAIT: Duration = Duration::from_secs(2);

/// The report's dpkg answers once the Package section is done with them:
/// both sections look up the same program, and the lists are searched
/// once. `None` when Package keeps them past [`SHARED_DB_WAIT`].
fn shared_db(packages: &Mutex<PackageDb>) -> Option<MutexGuard<'_, PackageDb>> {
    let deadline = Instant::now() + SHARED_DB_WAIT;
    loop {
        match packages.try_lock() {
            Ok(db) => return Some(db),
            Err(TryLockError::Poisoned(poisoned)) => return Some(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) if Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(TryLockError::WouldBlock) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gmr_tests::scratch::Scratch;
    use std::fs;

    #[test]
    fn plan_orders_dedups_and_keeps_failures() {
        let scratch = Scratch::new("plan");
        fs::create_dir(scratch.join("conf.d")).unwrap();
        for name in [
            "conf.d/20-b.conf",
            "conf.d/10-a.conf",
            "conf.d/.hidden.conf",
            "conf.d/notes.txt",
            "app.yaml",
        ] {
            fs::write(scratch.join(name), "[DEFAULT]\n").unwrap();
        }
        let target = TargetFiles::open(std::process::id());
        let planned = target.plan(
            &CommandLine::from_args(&[
                "svc",
                "--config-dir",
                &scratch.path_of("conf.d"),
                "--config-file",
                "/nonexistent/gmr/x.conf",
                &scratch.path_of("app.yaml"),
                "--config-file",
                &scratch.path_of("conf.d/10-a.conf"),
                "--config-dir=/nonexistent/gmr/dir",
                "-c",
                "print('not a file')",
                "missing.json",
            ]),
            &[
                PathBuf::from(scratch.path_of("app.yaml")),
                PathBuf::from("/etc/hostname"),
            ],
            &Mutex::default(),
        );
        let failed_dir = planned.iter().find_map(|p| match &p.read {
            Err(error) if p.path.contains("dir") => Some(error.clone()),
            _ => None,
        });
        assert!(
            failed_dir.as_deref().is_some_and(
                |e| e.contains("cannot list configuration directory /nonexistent/gmr/dir")
            ),
            "{planned:?}"
        );
        // Files other tests of this process hold open come after; the test
        // binary belongs to no package, so nothing follows them.
        let named: Vec<&Planned> = planned
            .iter()
            .take_while(|p| !matches!(p.found_by, FoundBy::OpenFile { .. }))
            .collect();
        assert!(
            planned[named.len()..]
                .iter()
                .all(|p| matches!(p.found_by, FoundBy::OpenFile { .. })),
            "{planned:?}"
        );
        let files: Vec<&str> = named
            .iter()
            .filter(|p| p.read.is_ok())
            .map(|p| p.path.as_str())
            .collect();
        let agent = named.iter().find(|p| p.path == "/etc/hostname");
        assert_eq!(
            agent.map(|p| &p.found_by),
            Some(&FoundBy::AgentConfiguration)
        );
        assert!(
            named
                .iter()
                .filter(|p| p.path != "/etc/hostname")
                .all(|p| p.found_by == FoundBy::CommandLine),
            "{planned:?}"
        );
        let a = scratch.path_of("conf.d/10-a.conf");
        let b = scratch.path_of("conf.d/20-b.conf");
        let yaml = scratch.path_of("app.yaml");
        assert_eq!(
            files,
            [
                a.as_str(),
                b.as_str(),
                "/nonexistent/gmr/x.conf",
                yaml.as_str(),
                "/etc/hostname"
            ]
        );
    }

    #[test]
    fn open_configuration_files_by_descriptor() {
        use std::os::fd::AsRawFd as _;
        let scratch = Scratch::new("open");
        fs::write(scratch.join("held.toml"), "a = 1\n").unwrap();
        fs::write(scratch.join("data.bin"), "x").unwrap();
        let held = fs::File::open(scratch.path_of("held.toml")).unwrap();
        let others = [
            fs::File::open(scratch.path_of("data.bin")).unwrap(),
            // Private, under /etc, no configuration extension.
            fs::File::open("/etc/shadow").unwrap(),
            fs::File::open("/etc/passwd").unwrap(),
        ];
        let found = open_config_files(std::process::id());
        let fd = u32::try_from(held.as_raw_fd()).unwrap();
        assert!(
            found.contains(&(fd, scratch.path_of("held.toml"))),
            "{found:?}"
        );
        let passwd = u32::try_from(others[2].as_raw_fd()).unwrap();
        assert!(
            found.contains(&(passwd, "/etc/passwd".to_owned())),
            "{found:?}"
        );
        for never in ["data.bin", "/etc/shadow"] {
            assert!(
                !found.iter().any(|(_, path)| path.ends_with(never)),
                "{never}: {found:?}"
            );
        }
    }

    #[test]
    fn relative_paths_use_the_working_directory() {
        let target = TargetFiles::open(std::process::id());
        let cwd = std::env::current_dir().unwrap();
        assert_eq!(
            target.resolve("a/../b.conf"),
            Ok(format!("{}/b.conf", cwd.display()))
        );
        assert_eq!(
            target.resolve("/etc//x/./y.conf"),
            Ok("/etc/x/y.conf".to_owned())
        );
    }

    #[test]
    fn reads_are_capped_at_a_line_and_refuse_odd_files() {
        let scratch = Scratch::new("read");
        let target = TargetFiles::open(std::process::id());
        let line = "option = value\n";
        let big = line.repeat(MAX_FILE_BYTES as usize / line.len() + 10);
        fs::write(scratch.join("big.conf"), &big).unwrap();
        let contents = target.read(&scratch.path_of("big.conf")).unwrap();
        assert!(contents.truncated);
        assert!(contents.text.len() as u64 <= MAX_FILE_BYTES);
        assert!(contents.text.ends_with(line));
        fs::write(scratch.join("small.conf"), "a = 1").unwrap();
        let contents = target.read(&scratch.path_of("small.conf")).unwrap();
        assert_eq!(
            (contents.text.as_str(), contents.truncated),
            ("a = 1", false)
        );
        let fifo = scratch.path_of("fifo.conf");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        let error = target.read(&fifo).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let error = target.read("/nonexistent/gmr/x.conf").unwrap_err();
        assert_eq!(
            error,
            "cannot open /nonexistent/gmr/x.conf: no such file or directory"
        );
    }
}
