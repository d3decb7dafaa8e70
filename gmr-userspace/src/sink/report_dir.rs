//! The report directory sink: one file per report, oslo.reports-style names,
//! never overwriting an earlier report.
//!
//! A report lands in `<dir>/<name>/<name>_gurumeditation_<UTC time>_<pid>.<ext>`,
//! where `<name>` is usually a systemd unit or cgroup name. Reports can hold
//! secrets (paths, arguments, symbols), so the per-name directory is 0700
//! and files are 0600, created exclusively and flushed to disk before
//! returning so a report written just before a crash survives it. Where the
//! filesystem allows, the file is written unnamed and linked in once whole
//! ([`UnnamedFile`]), so an agent killed mid-write leaves no truncated report.

use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::unnamed_file::UnnamedFile;
use crate::model::time::UtcTime;

/// How many `-N` suffixes to try before giving up on a free file name.
const MAX_SUFFIX: u32 = 1000;

/// Longest sanitized name in bytes; keeps the whole file name well under
/// the 255-byte `NAME_MAX` once the time, pid and extension are added.
const MAX_NAME_BYTES: usize = 128;

/// Writes `contents` to a new file under `<dir>/<name>/` and returns its path.
///
/// The file is named `<name>_gurumeditation_<yyyymmddHHMMSS.micro>_<pid>.<ext>`
/// with the time `at` in UTC; if that name is taken, `-1`, `-2`, … is put
/// before the extension. `name` is passed through [`sanitize_name`] so it
/// can never leave `dir`. Missing directories are created with mode 0700,
/// the file with mode 0600; file and directory are fsynced.
pub fn write_report_file(
    dir: &Path,
    name: &str,
    pid: u32,
    at: SystemTime,
    ext: &str,
    contents: &str,
) -> io::Result<PathBuf> {
    let name = sanitize_name(name);
    let subdir = dir.join(&name);
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&subdir)?;
    let stem = format!(
        "{name}_gurumeditation_{}_{pid}",
        UtcTime::from(at).compact()
    );
    let path = match UnnamedFile::write(&subdir, 0o600, contents.as_bytes())? {
        Some(file) => file
            .link(candidates(&subdir, &stem, ext))
            .map_err(|e| all_taken(e, &subdir, &stem, ext))?,
        None => write_named(&subdir, &stem, ext, contents)?,
    };
    // The new directory entry is only durable once the directory is synced.
    File::open(&subdir)?.sync_all()?;
    Ok(path)
}

/// `<dir>/<stem>.<ext>`, then `<stem>-1.<ext>`, `<stem>-2.<ext>`, …
fn candidates<'a>(
    dir: &'a Path,
    stem: &'a str,
    ext: &'a str,
) -> impl Iterator<Item = PathBuf> + 'a {
    (0..=MAX_SUFFIX).map(move |suffix| {
        dir.join(if suffix == 0 {
            format!("{stem}.{ext}")
        } else {
            format!("{stem}-{suffix}.{ext}")
        })
    })
}

/// Names the report when every candidate name was taken.
fn all_taken(error: io::Error, dir: &Path, stem: &str, ext: &str) -> io::Error {
    if error.kind() != io::ErrorKind::AlreadyExists {
        return error;
    }
    io::Error::new(
        io::ErrorKind::AlreadyExists,
        format!(
            "{}/{stem}.{ext} and {MAX_SUFFIX} numbered variants already exist",
            dir.display()
        ),
    )
}

/// Writes the report to a new named file, for filesystems without unnamed
/// files; removes it again if the write fails.
fn write_named(dir: &Path, stem: &str, ext: &str, contents: &str) -> io::Result<PathBuf> {
    let (path, mut file) = create_unique(dir, stem, ext)?;
    if let Err(error) = file
        .write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
    {
        // A truncated report would pass for a complete one in a listing.
        let _ = fs::remove_file(&path);
        return Err(error);
    }
    Ok(path)
}

/// Creates `<dir>/<stem>.<ext>`, or the first free `<stem>-N.<ext>`.
fn create_unique(dir: &Path, stem: &str, ext: &str) -> io::Result<(PathBuf, File)> {
    for path in candidates(dir, stem, ext) {
        // create_new is O_CREAT|O_EXCL: never clobbers a report and never
        // follows a symlink planted at the name.
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(file) => return Ok((path, file)),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => return Err(error),
        }
    }
    Err(all_taken(
        io::ErrorKind::AlreadyExists.into(),
        dir,
        stem,
        ext,
    ))
}

/// Makes `name` safe to use as one directory or file name component.
///
/// `/`, control characters, a leading dot and any run of two or more dots
/// become `_`, so the result is never empty, `.`, `..`, hidden, or a path.
/// Long names are cut to 128 bytes. Sanitizing twice changes nothing.
pub fn sanitize_name(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len().min(MAX_NAME_BYTES));
    for (index, &c) in chars.iter().enumerate() {
        let next_to_dot = (index > 0 && chars[index - 1] == '.')
            || chars.get(index + 1).is_some_and(|&next| next == '.');
        let unsafe_char = c == '/' || c.is_control() || (c == '.' && (index == 0 || next_to_dot));
        let c = if unsafe_char { '_' } else { c };
        if out.len() + c.len_utf8() > MAX_NAME_BYTES {
            break;
        }
        out.push(c);
    }
    if out.is_empty() {
        out.push('_');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;
    use std::time::Duration;

    /// A fresh empty directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            let path = std::env::temp_dir().join(format!(
                "gmr-report-dir-{tag}-{}-{:?}",
                std::process::id(),
                std::thread::current().id()
            ));
            let _ = fs::remove_dir_all(&path);
            fs::create_dir_all(&path).expect("create temp dir");
            TempDir(path)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn at(secs: u64, micros: u64) -> SystemTime {
        std::time::UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_micros(micros)
    }

    #[test]
    fn writes_named_private_file_and_never_overwrites() {
        let tmp = TempDir::new("write");
        let when = at(1_795_715_326, 123_456);
        let first = write_report_file(&tmp.0, "mogan-api.service", 8675, when, "txt", "one")
            .expect("first report");
        assert_eq!(
            first,
            tmp.0
                .join("mogan-api.service")
                .join("mogan-api.service_gurumeditation_20261126174846.123456_8675.txt")
        );
        assert_eq!(fs::read_to_string(&first).expect("read"), "one");
        let mode = |p: &Path| fs::metadata(p).expect("stat").permissions().mode() & 0o7777;
        assert_eq!(mode(&first), 0o600);
        assert_eq!(mode(&tmp.0.join("mogan-api.service")), 0o700);

        let second = write_report_file(&tmp.0, "mogan-api.service", 8675, when, "txt", "two")
            .expect("second report");
        let third = write_report_file(&tmp.0, "mogan-api.service", 8675, when, "txt", "three")
            .expect("third report");
        let name = |p: &Path| p.file_name().expect("name").to_string_lossy().into_owned();
        assert_eq!(
            name(&second),
            "mogan-api.service_gurumeditation_20261126174846.123456_8675-1.txt"
        );
        assert_eq!(
            name(&third),
            "mogan-api.service_gurumeditation_20261126174846.123456_8675-2.txt"
        );
        assert_eq!(fs::read_to_string(&first).expect("read"), "one");
        assert_eq!(fs::read_to_string(&second).expect("read"), "two");
    }

    #[test]
    fn hostile_names_stay_inside_the_directory() {
        let tmp = TempDir::new("hostile");
        let path =
            write_report_file(&tmp.0, "../../etc", 1, at(0, 0), "json", "{}").expect("report");
        assert_eq!(path.parent(), Some(tmp.0.join("______etc").as_path()));
    }

    #[test]
    fn sanitize_names() {
        assert_eq!(sanitize_name("mogan-api.service"), "mogan-api.service");
        assert_eq!(sanitize_name("getty@tty1.service"), "getty@tty1.service");
        assert_eq!(sanitize_name("a/b"), "a_b");
        assert_eq!(sanitize_name(".."), "__");
        assert_eq!(sanitize_name("."), "_");
        assert_eq!(sanitize_name(".hidden"), "_hidden");
        assert_eq!(sanitize_name("../x"), "___x");
        assert_eq!(sanitize_name("a..b"), "a__b");
        assert_eq!(sanitize_name("a...b"), "a___b");
        assert_eq!(sanitize_name("line\nbreak"), "line_break");
        assert_eq!(sanitize_name(""), "_");
        assert_eq!(sanitize_name(&"é".repeat(100)), "é".repeat(64));
        for name in ["../../etc", ".a..b/c", "x.y", "..."] {
            let once = sanitize_name(name);
            assert_eq!(sanitize_name(&once), once);
        }
    }
}
