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
use std::path::PathBuf;

use super::discover::{Named, named_in};
use crate::sections::describe_io_error;
use crate::sections::package::root::{RootFs, absolutize, proc_link};

/// Most bytes read of one file; the rest is left out and the file marked
/// truncated. Real configuration files are a few KiB to a few hundred.
pub(super) const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A configuration file to read, or why a named one cannot be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Planned {
    /// Read this absolute path (as the process sees it).
    File(String),
    /// `path` was named but cannot be read for `error`.
    Failed {
        /// The path as named, joined to the working directory if possible.
        path: String,
        /// What went wrong.
        error: String,
    },
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

    /// The files to read, in order: those `args` names (a directory's
    /// `*.conf` files sorted by name, as oslo.config reads them), then
    /// `extra_files`. A path named twice is read once.
    pub(super) fn plan(&self, args: &[String], extra_files: &[PathBuf]) -> Vec<Planned> {
        let extra = extra_files
            .iter()
            .map(|path| Named::File(path.to_string_lossy().into_owned()));
        let mut planned = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |entry: Planned| {
            let key = match &entry {
                Planned::File(path) | Planned::Failed { path, .. } => path.clone(),
            };
            if seen.insert(key) {
                planned.push(entry);
            }
        };
        for named in named_in(args).into_iter().chain(extra) {
            match named {
                Named::File(path) => add(self
                    .resolve(&path)
                    .map_or_else(|error| Planned::Failed { path, error }, Planned::File)),
                Named::IfExists(path) => {
                    if let Ok(path) = self.resolve(&path)
                        && self.root.as_ref().is_ok_and(|root| root.is_file(&path))
                    {
                        add(Planned::File(path));
                    }
                }
                Named::Dir(path) => match self.conf_files_in(&path) {
                    Ok(files) => files.into_iter().map(Planned::File).for_each(&mut add),
                    Err(error) => add(Planned::Failed { path, error }),
                },
            }
        }
        planned
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    /// A scratch directory, removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(label: &str) -> Self {
            let path = std::env::temp_dir()
                .join(format!("gmr-config-files-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("create scratch dir");
            Self(path)
        }

        fn path(&self, name: &str) -> String {
            self.0.join(name).to_string_lossy().into_owned()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn plan_orders_dedups_and_keeps_failures() {
        let scratch = Scratch::new("plan");
        fs::create_dir(scratch.0.join("conf.d")).unwrap();
        for name in [
            "conf.d/20-b.conf",
            "conf.d/10-a.conf",
            "conf.d/.hidden.conf",
            "conf.d/notes.txt",
            "app.yaml",
        ] {
            fs::write(scratch.0.join(name), "[DEFAULT]\n").unwrap();
        }
        let target = TargetFiles::open(std::process::id());
        let planned = target.plan(
            &args(&[
                "svc",
                "--config-dir",
                &scratch.path("conf.d"),
                "--config-file",
                "/nonexistent/gmr/x.conf",
                &scratch.path("app.yaml"),
                "--config-file",
                &scratch.path("conf.d/10-a.conf"),
                "--config-dir=/nonexistent/gmr/dir",
                "-c",
                "print('not a file')",
                "missing.json",
            ]),
            &[
                PathBuf::from(scratch.path("app.yaml")),
                PathBuf::from("/etc/hostname"),
            ],
        );
        let failed_dir = planned.iter().find_map(|p| match p {
            Planned::Failed { path, error } if path.contains("dir") => Some(error.clone()),
            _ => None,
        });
        assert!(
            failed_dir.as_deref().is_some_and(
                |e| e.contains("cannot list configuration directory /nonexistent/gmr/dir")
            ),
            "{planned:?}"
        );
        let files: Vec<&str> = planned
            .iter()
            .filter_map(|p| match p {
                Planned::File(path) => Some(path.as_str()),
                Planned::Failed { .. } => None,
            })
            .collect();
        let a = scratch.path("conf.d/10-a.conf");
        let b = scratch.path("conf.d/20-b.conf");
        let yaml = scratch.path("app.yaml");
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
        fs::write(scratch.0.join("big.conf"), &big).unwrap();
        let contents = target.read(&scratch.path("big.conf")).unwrap();
        assert!(contents.truncated);
        assert!(contents.text.len() as u64 <= MAX_FILE_BYTES);
        assert!(contents.text.ends_with(line));
        fs::write(scratch.0.join("small.conf"), "a = 1").unwrap();
        let contents = target.read(&scratch.path("small.conf")).unwrap();
        assert_eq!(
            (contents.text.as_str(), contents.truncated),
            ("a = 1", false)
        );
        let fifo = scratch.path("fifo.conf");
        let c_fifo = std::ffi::CString::new(fifo.clone()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c_fifo.as_ptr(), 0o600) }, 0);
        let error = target.read(&fifo).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let error = target.read("/nonexistent/gmr/x.conf").unwrap_err();
        assert_eq!(
            error,
            "cannot open /nonexistent/gmr/x.conf: no such file or directory"
        );
    }
}
