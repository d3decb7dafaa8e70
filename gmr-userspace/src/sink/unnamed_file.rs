//! A file written with no name (`O_TMPFILE`) and linked into its directory
//! only once complete, so a reader sees all of it or nothing, even when the
//! writer is killed or the disk fills up midway: an unlinked file vanishes
//! with its last descriptor.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::os::fd::AsRawFd as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, CWD};
use rustix::io::Errno;

/// A complete, synced file not yet visible in any directory.
#[derive(Debug)]
pub struct UnnamedFile(File);

impl UnnamedFile {
    /// Writes `contents` to a new unnamed file with `mode` in `dir` and
    /// syncs it. `Ok(None)` when the filesystem (or kernel) cannot make
    /// unnamed files, so the caller falls back to a named one.
    pub fn write(dir: &Path, mode: u32, contents: &[u8]) -> io::Result<Option<Self>> {
        let opened = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_TMPFILE)
            .mode(mode)
            .open(dir);
        let mut file = match opened {
            Ok(file) => file,
            // EISDIR: a kernel without O_TMPFILE took it for O_DIRECTORY.
            Err(e) if matches!(e.raw_os_error(), Some(libc::EOPNOTSUPP | libc::EISDIR)) => {
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        file.write_all(contents)?;
        file.sync_all()?;
        Ok(Some(Self(file)))
    }

    /// Links the file in under the first of `names` that is free (never
    /// replacing a file) and returns that path.
    pub fn link(self, names: impl IntoIterator<Item = PathBuf>) -> io::Result<PathBuf> {
        // The documented way to name an O_TMPFILE file without
        // CAP_DAC_READ_SEARCH: link its /proc/self/fd entry, following it.
        let source = format!("/proc/self/fd/{}", self.0.as_raw_fd());
        for name in names {
            match rustix::fs::linkat(CWD, &source, CWD, &name, AtFlags::SYMLINK_FOLLOW) {
                Ok(()) => return Ok(name),
                Err(Errno::EXIST) => {}
                Err(errno) => return Err(errno.into()),
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "every candidate name is taken",
        ))
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;

    #[test]
    fn appears_whole_under_a_free_name_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("gmr-unnamed-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let listing = || std::fs::read_dir(&dir).unwrap().count();
        let Some(unlinked) = UnnamedFile::write(&dir, 0o600, b"lost").unwrap() else {
            eprintln!("SKIP: the temp dir's filesystem has no O_TMPFILE");
            return;
        };
        assert_eq!(listing(), 0, "invisible while unlinked");
        drop(unlinked);
        assert_eq!(listing(), 0, "a writer that dies leaves nothing");

        std::fs::write(dir.join("taken"), "earlier").unwrap();
        let file = UnnamedFile::write(&dir, 0o600, b"report").unwrap().unwrap();
        let path = file
            .link([dir.join("taken"), dir.join("free")])
            .expect("linked");
        assert_eq!(path, dir.join("free"));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "report");
        assert_eq!(
            std::fs::read_to_string(dir.join("taken")).unwrap(),
            "earlier"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let file = UnnamedFile::write(&dir, 0o600, b"x").unwrap().unwrap();
        let err = file.link([dir.join("taken")]).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::AlreadyExists);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
