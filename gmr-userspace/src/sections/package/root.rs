//! Reading files the way a process sees them: through `/proc/PID/root`.
//!
//! A process in a container has its own mount namespace, so a path it uses
//! names a file that the agent reaches only through `/proc/PID/root`. Merely
//! prefixing that directory is not enough: an absolute symlink inside the
//! container (`/usr/bin/python3 -> /usr/bin/python3.11`) would then be
//! followed in the agent's own tree. Paths are therefore opened with
//! `openat2(RESOLVE_IN_ROOT)`, which resolves every component, symlinks
//! included, as if `/proc/PID/root` were `/`. Everything read here comes
//! from a process that may be hostile, so opens never block on a FIFO and
//! reads are capped.

use std::ffi::OsString;
use std::fs::{self, File, Metadata};
use std::io::{self, Read as _};
use std::os::fd::{AsRawFd as _, OwnedFd};
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::{MetadataExt as _, OpenOptionsExt as _};
use std::path::Path;

use rustix::fs::{Mode, OFlags, ResolveFlags};

/// The filesystem tree one process sees, opened once.
#[derive(Debug)]
pub(crate) struct RootFs {
    pid: u32,
    root: OwnedFd,
    identity: (u64, u64),
}

impl RootFs {
    /// Opens the root directory of process `pid`.
    pub(crate) fn open(pid: u32) -> io::Result<Self> {
        let path = format!("/proc/{pid}/root");
        let root = File::options()
            .read(true)
            .custom_flags(libc::O_DIRECTORY)
            .open(&path)
            .map_err(|error| {
                io::Error::new(error.kind(), format!("cannot open {path}: {error}"))
            })?;
        let meta = root.metadata()?;
        Ok(Self {
            pid,
            root: root.into(),
            identity: (meta.dev(), meta.ino()),
        })
    }

    /// The process whose tree this is.
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Device and inode of the root directory: equal for processes that
    /// see the same tree, so caches can be shared between them.
    pub(crate) fn identity(&self) -> (u64, u64) {
        self.identity
    }

    /// Where the agent reaches `path` of this process: `/proc/PID/root/…`.
    pub(crate) fn host_view(&self, path: &str) -> String {
        format!("/proc/{}/root{path}", self.pid)
    }

    /// Opens the regular file `path` (as the process sees it) for reading.
    ///
    /// Anything but a regular file is refused, so a FIFO or a device planted
    /// where a package database should be cannot stall or confuse the agent.
    pub(crate) fn open_file(&self, path: &str) -> io::Result<File> {
        let file = self.open_at(path, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)?;
        if !file.metadata()?.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file",
                self.host_view(path)
            )));
        }
        Ok(file)
    }

    /// Reads the regular file `path`, failing when it is longer than `limit`.
    pub(crate) fn read(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let file = self.open_file(path)?;
        let mut bytes = Vec::new();
        file.take(limit + 1).read_to_end(&mut bytes)?;
        if bytes.len() as u64 > limit {
            return Err(io::Error::other(format!(
                "{} is larger than {limit} bytes",
                self.host_view(path)
            )));
        }
        Ok(bytes)
    }

    /// Reads at most the first `limit` bytes of the regular file `path`.
    pub(crate) fn read_head(&self, path: &str, limit: u64) -> io::Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open_file(path)?.take(limit).read_to_end(&mut bytes)?;
        Ok(bytes)
    }

    /// Reads the regular file `path` as text (invalid UTF-8 replaced).
    pub(crate) fn read_text(&self, path: &str, limit: u64) -> io::Result<String> {
        self.read(path, limit)
            .map(|bytes| String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Metadata of `path`, following symlinks inside the root.
    pub(crate) fn metadata(&self, path: &str) -> io::Result<Metadata> {
        self.open_at(path, OFlags::PATH)?.metadata()
    }

    /// True when `path` is a directory.
    pub(crate) fn is_dir(&self, path: &str) -> bool {
        self.metadata(path).is_ok_and(|meta| meta.is_dir())
    }

    /// True when `path` is a regular file.
    pub(crate) fn is_file(&self, path: &str) -> bool {
        self.metadata(path).is_ok_and(|meta| meta.is_file())
    }

    /// The names in directory `path`, unsorted.
    pub(crate) fn read_dir(&self, path: &str) -> io::Result<Vec<OsString>> {
        let dir = self.open_at(path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        // std reads directories by path; the fd's magic link is that path.
        let entries = fs::read_dir(format!("/proc/self/fd/{}", dir.as_raw_fd()))?;
        entries
            .map(|entry| entry.map(|entry| entry.file_name()))
            .collect()
    }

    /// Opens `path` relative to the process's root with `flags`; `..` and
    /// absolute symlinks cannot leave that root (`RESOLVE_IN_ROOT`).
    fn open_at(&self, path: &str, flags: OFlags) -> io::Result<File> {
        let fd = rustix::fs::openat2(
            &self.root,
            path,
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )?;
        Ok(File::from(fd))
    }
}

/// Joins `path` onto `base` and removes `.` and `..` lexically, the way the
/// process's own relative paths are meant (`base` is its working directory).
pub(crate) fn absolutize(base: &str, path: &str) -> String {
    let joined = if path.starts_with('/') {
        path.to_owned()
    } else {
        format!("{base}/{path}")
    };
    let mut parts: Vec<&str> = Vec::new();
    for part in joined.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The final component of `path`.
pub(crate) fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The directory part of absolute `path` (`/` for a top-level name).
pub(crate) fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(index) => &path[..index],
    }
}

/// The target of `/proc/PID/<link>` (`exe`, `cwd`) as raw text.
pub(crate) fn proc_link(pid: u32, link: &str) -> io::Result<String> {
    let target = fs::read_link(Path::new(&format!("/proc/{pid}/{link}")))?;
    Ok(String::from_utf8_lossy(target.as_os_str().as_bytes()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lexical_paths() {
        assert_eq!(absolutize("/srv/app", "x.py"), "/srv/app/x.py");
        assert_eq!(absolutize("/srv/app", "../lib/./x.py"), "/srv/lib/x.py");
        assert_eq!(absolutize("/srv", "/usr/bin/x"), "/usr/bin/x");
        assert_eq!(absolutize("/", "../../x"), "/x");
        assert_eq!(file_name("/usr/bin/python3.11"), "python3.11");
        assert_eq!(parent("/usr/bin/python3.11"), "/usr/bin");
        assert_eq!(parent("/x"), "/");
    }

    #[test]
    fn files_and_directories_through_own_root() {
        let root = RootFs::open(std::process::id()).expect("open own root");
        assert!(root.is_dir("/usr/bin"));
        assert!(root.is_file("/bin/sh"));
        assert!(
            root.open_file("/usr/bin").is_err(),
            "a directory is no file"
        );
        let names = root.read_dir("/usr/bin").expect("read /usr/bin");
        assert!(names.iter().any(|name| name == "sh"));
        let os_release = root.read_text("/etc/os-release", 64 * 1024);
        assert!(os_release.expect("os-release").contains("NAME="));
        assert!(
            root.read("/etc/os-release", 4).is_err(),
            "limit is enforced"
        );
    }
}
