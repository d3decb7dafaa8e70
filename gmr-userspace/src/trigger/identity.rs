//! A file's identity as the kernel's `timestamp` tracepoints name it:
//! `(inode->i_sb->s_dev, inode->i_ino)`.
//!
//! `st_dev` is usually the superblock's device, but not always: btrfs
//! reports each subvolume's anonymous device instead. So the device comes
//! from the file's mount in `/proc/self/mountinfo` (which prints `s_dev`),
//! found by the mount id `statx` returns; `st_dev` is only the fallback for
//! kernels without `STATX_MNT_ID` (before 5.8).
//!
//! A file removed and recreated may get the same inode number back (ext4
//! often does), so userspace tells files apart by their birth time too.

use std::{io, path::Path};

use anyhow::{Context as _, Result, bail};
use gmr_common::TriggerFileKey;
use rustix::{
    fs::{AtFlags, CWD, StatxFlags, statx},
    io::Errno,
};

use crate::proc::mountinfo;

/// A device number in the kernel's internal encoding (`MKDEV`:
/// `MAJOR << 20 | MINOR`), which the tracepoints report.
pub fn kernel_dev(major: u32, minor: u32) -> u32 {
    (major << 20) | (minor & 0xf_ffff)
}

/// One file, as opposed to whatever is at its path later.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// What the kernel programs match.
    pub key: TriggerFileKey,
    /// Birth time (seconds, nanoseconds), where the filesystem keeps one.
    pub birth: Option<(i64, u32)>,
}

/// The identity of the regular file at `path` (not following a symlink);
/// `None` when nothing is there, an error when something else is.
pub fn file_identity(path: &Path) -> Result<Option<FileIdentity>> {
    let asked = StatxFlags::TYPE | StatxFlags::INO | StatxFlags::MNT_ID | StatxFlags::BTIME;
    let stx = match statx(CWD, path, AtFlags::SYMLINK_NOFOLLOW, asked) {
        Ok(stx) => stx,
        Err(Errno::NOENT) => return Ok(None),
        Err(error) => {
            return Err(io::Error::from(error))
                .with_context(|| format!("cannot stat {}", path.display()));
        }
    };
    if u32::from(stx.stx_mode) & libc::S_IFMT != libc::S_IFREG {
        bail!("{} is not a regular file", path.display());
    }
    let dev = if stx.stx_mask & StatxFlags::MNT_ID.bits() != 0 {
        let mounts = mountinfo::own_mounts()?;
        let (major, minor) =
            mountinfo::device_of_mount(&mounts, stx.stx_mnt_id).with_context(|| {
                format!(
                    "mount {} of {} is not in {}",
                    stx.stx_mnt_id,
                    path.display(),
                    mountinfo::OWN_MOUNTINFO
                )
            })?;
        kernel_dev(major, minor)
    } else {
        kernel_dev(stx.stx_dev_major, stx.stx_dev_minor)
    };
    Ok(Some(FileIdentity {
        key: TriggerFileKey {
            ino: stx.stx_ino,
            dev,
            reserved: 0,
        },
        birth: (stx.stx_mask & StatxFlags::BTIME.bits() != 0)
            .then_some((stx.stx_btime.tv_sec, stx.stx_btime.tv_nsec)),
    }))
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::MetadataExt as _;

    use super::*;

    /// A userspace `st_dev` (glibc's encoding) in the kernel's encoding.
    fn st_dev_in_kernel_encoding(st_dev: u64) -> u32 {
        kernel_dev(libc::major(st_dev), libc::minor(st_dev))
    }

    #[test]
    fn encodes_devices_as_the_kernel_does() {
        // ext4 on /dev/sda1 (8:1), a 12-bit major and 20-bit minor.
        assert_eq!(kernel_dev(8, 1), 0x0080_0001);
        assert_eq!(kernel_dev(259, 0x12345), (259 << 20) | 0x12345);
        // glibc's st_dev encoding splits the minor around the major.
        let st_dev = libc::makedev(259, 0x12345);
        assert_ne!(st_dev, u64::from(kernel_dev(259, 0x12345)));
        assert_eq!(st_dev_in_kernel_encoding(st_dev), (259 << 20) | 0x12345);
        assert_eq!(st_dev_in_kernel_encoding(libc::makedev(0, 45)), 45);
    }

    fn is_btrfs(path: &Path) -> bool {
        rustix::fs::statfs(path).is_ok_and(|fs| fs.f_type == libc::BTRFS_SUPER_MAGIC)
    }

    #[test]
    fn names_regular_files_only() {
        let path = std::env::temp_dir().join(format!("gmr-identity-{}", std::process::id()));
        std::fs::write(&path, "").unwrap();
        let identity = file_identity(&path).unwrap().unwrap();
        let key = identity.key;
        let meta = std::fs::metadata(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::write(&path, "").unwrap();
        let again = file_identity(&path).unwrap().unwrap();
        std::fs::remove_file(&path).unwrap();
        if identity.birth.is_some() {
            assert_ne!(again, identity, "a recreated file is another file");
        }
        assert_eq!(key.ino, meta.ino());
        // Only btrfs reports another device than its superblock's.
        if !is_btrfs(&std::env::temp_dir()) {
            assert_eq!(key.dev, st_dev_in_kernel_encoding(meta.dev()));
        }
        assert_eq!(file_identity(&path).unwrap(), None);
        let err = file_identity(&std::env::temp_dir()).unwrap_err();
        assert!(err.to_string().contains("not a regular file"), "{err}");
    }
}
