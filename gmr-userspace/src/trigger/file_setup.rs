//! Creating trigger files and their directories with the right owner and
//! mode.
//!
//! A missing file is made under a temporary name in the same directory,
//! given its owner and mode, then renamed into place without replacing
//! anything (`RENAME_NOREPLACE`): nobody ever sees it half set up, and the
//! agent's own chown/chmod happen under another name, so inotify never
//! reports them as a touch of the trigger file.

use std::{
    fs::{self, DirBuilder, File, OpenOptions, Permissions},
    io,
    os::unix::fs::{
        DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
    },
    path::Path,
};

use super::identity::{FileIdentity, file_identity};
use anyhow::{Context as _, Result, bail};
use rustix::{
    fs::{CWD, RenameFlags},
    io::Errno,
};

/// Mode of a trigger directory the agent creates.
pub const DIR_MODE: u32 = 0o755;

/// Owner and mode a trigger file must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ownership {
    /// Group owner (the user owner is always root).
    pub gid: u32,
    /// Permission bits.
    pub mode: u32,
}

/// Creates `dir` (and missing parents) when it does not exist; the
/// directory itself gets [`DIR_MODE`] whatever the umask.
pub fn ensure_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .with_context(|| format!("cannot create trigger directory {}", dir.display()))?;
    fs::set_permissions(dir, Permissions::from_mode(DIR_MODE))
        .with_context(|| format!("cannot set mode {DIR_MODE:o} on {}", dir.display()))
}

/// Gives the existing regular file at `path` its owner and mode; fails when
/// something else is there. Returns false when nothing is there.
pub fn fix_existing(path: &Path, ownership: Ownership) -> Result<bool> {
    let file = match OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", path.display())),
    };
    if !file.metadata()?.is_file() {
        bail!("{} exists and is not a regular file", path.display());
    }
    set_ownership(&file, path, ownership)?;
    Ok(true)
}

/// The file at a trigger path once [`create`] returns, and whether the
/// agent made it: only a file it made is the agent's to remove.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Placed {
    /// The file now at the path.
    pub identity: FileIdentity,
    /// True when this call created it; false when another process created
    /// a file there meanwhile.
    pub created: bool,
}

/// Creates the trigger file at `path`, set up as `ownership` asks. If
/// another process creates it meanwhile, that file is kept as it is.
pub fn create(path: &Path, ownership: Ownership) -> Result<Placed> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        bail!("{} is not a path to a file", path.display());
    };
    let temp = dir.join(format!(
        ".{}.gmr-{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    // A leftover from an agent that died between creating and renaming.
    let _ = fs::remove_file(&temp);
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&temp)
        .with_context(|| format!("cannot create {}", temp.display()))?;
    let owned = set_ownership(&file, &temp, ownership);
    // Closed before the rename, so its IN_CLOSE_WRITE names the temporary.
    drop(file);
    let created = owned
        .and_then(|()| rename_no_replace(&temp, path))
        .inspect_err(|_| {
            let _ = fs::remove_file(&temp);
        })?;
    if !created {
        let _ = fs::remove_file(&temp);
    }
    let identity = file_identity(path)?
        .with_context(|| format!("{} vanished once created", path.display()))?;
    Ok(Placed { identity, created })
}

/// Removes the file at `path` if it is still `identity` (the one the agent
/// created); a file someone else put there is left alone. Returns whether
/// it was removed.
pub fn remove_if_same(path: &Path, identity: FileIdentity) -> Result<bool> {
    if file_identity(path)? != Some(identity) {
        return Ok(false);
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot remove {}", path.display())),
    }
}

/// Renames `from` to `to` unless `to` exists; false when it does.
fn rename_no_replace(from: &Path, to: &Path) -> Result<bool> {
    match rustix::fs::renameat_with(CWD, from, CWD, to, RenameFlags::NOREPLACE) {
        Ok(()) => Ok(true),
        Err(Errno::EXIST) => Ok(false),
        Err(errno) => Err(io::Error::from(errno))
            .with_context(|| format!("cannot rename {} to {}", from.display(), to.display())),
    }
}

/// Makes `file` owned by root and `ownership.gid`, with `ownership.mode`,
/// changing only what differs.
fn set_ownership(file: &File, path: &Path, ownership: Ownership) -> Result<()> {
    let meta = file
        .metadata()
        .with_context(|| format!("cannot stat {}", path.display()))?;
    if meta.uid() != 0 || meta.gid() != ownership.gid {
        std::os::unix::fs::fchown(file, Some(0), Some(ownership.gid)).with_context(|| {
            format!(
                "cannot make {} owned by root, group {}",
                path.display(),
                ownership.gid
            )
        })?;
    }
    // chown may have cleared set-id bits, so compare with the original mode.
    if meta.mode() & 0o7777 != ownership.mode {
        file.set_permissions(Permissions::from_mode(ownership.mode))
            .with_context(|| {
                format!("cannot set mode {:o} on {}", ownership.mode, path.display())
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use gmr_tests::scratch::Scratch;

    use super::*;

    #[test]
    fn creates_directory_and_file_and_keeps_an_existing_file() {
        let scratch = Scratch::new("setup");
        let dir = scratch.join("run/gmr");
        ensure_dir(&dir).unwrap();
        assert_eq!(fs::metadata(&dir).unwrap().mode() & 0o7777, DIR_MODE);
        let (uid, gid) = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        let ownership = Ownership { gid, mode: 0o640 };
        let path = dir.join("api.trigger");
        if uid != 0 {
            let err = create(&path, ownership).unwrap_err();
            assert!(format!("{err:#}").contains("owned by root"), "{err:#}");
            assert!(
                fs::read_dir(&dir).unwrap().next().is_none(),
                "the temporary file is removed"
            );
            return;
        }
        let placed = create(&path, ownership).unwrap();
        assert!(placed.created);
        let identity = placed.identity;
        let meta = fs::symlink_metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (0, gid, 0o640)
        );
        assert_eq!(identity.key.ino, meta.ino());
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file is left"
        );

        fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        assert!(fix_existing(&path, ownership).unwrap());
        assert_eq!(fs::metadata(&path).unwrap().mode() & 0o7777, 0o640);
        assert_eq!(
            create(&path, ownership).unwrap(),
            Placed {
                identity,
                created: false
            },
            "an existing file is kept"
        );
        assert!(!fix_existing(&dir.join("absent"), ownership).unwrap());
        let err = fix_existing(&dir, ownership).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");

        // Only the file the agent made is removed, not one put in its place.
        fs::remove_file(&path).unwrap();
        fs::write(&path, "someone else's").unwrap();
        assert!(!remove_if_same(&path, identity).unwrap());
        assert!(path.exists());
        fs::remove_file(&path).unwrap();
        let placed = create(&path, ownership).unwrap();
        assert!(remove_if_same(&path, placed.identity).unwrap());
        assert!(!path.exists());
        assert!(!remove_if_same(&path, placed.identity).unwrap());
    }
}
