//! The agent's mount table (`/proc/self/mountinfo`), parsed by `procfs`,
//! and the two questions the agent asks of it: where cgroup2 is mounted,
//! and which superblock device a mount has.

use std::path::PathBuf;

use anyhow::{Context as _, Result};
use procfs::{FromRead as _, process::MountInfos};

/// Where the agent's mount table is read from, for error messages.
pub const OWN_MOUNTINFO: &str = "/proc/self/mountinfo";

/// The agent's own mount table.
///
/// # Errors
///
/// When `/proc/self/mountinfo` cannot be read or parsed.
pub fn own_mounts() -> Result<MountInfos> {
    MountInfos::from_file(OWN_MOUNTINFO).with_context(|| format!("cannot read {OWN_MOUNTINFO}"))
}

/// A mount table from its text, as `/proc/PID/mountinfo` prints it.
///
/// # Errors
///
/// When a line does not have mountinfo's fields.
pub fn parse(text: &str) -> Result<MountInfos> {
    MountInfos::from_read(text.as_bytes()).context("malformed mountinfo")
}

/// The mount point of the first `cgroup2` mount. procfs keeps mountinfo's
/// `\040`-style escapes in the path, so they are undone here.
pub fn cgroup2_mount_point(mounts: &MountInfos) -> Option<PathBuf> {
    mounts
        .iter()
        .find(|mount| mount.fs_type == "cgroup2")
        .map(|mount| PathBuf::from(unescape_octal(&mount.mount_point.to_string_lossy())))
}

/// The superblock device (major, minor) of mount `mount_id`: mountinfo
/// prints the superblock's `s_dev`, which `st_dev` is not on btrfs.
pub fn device_of_mount(mounts: &MountInfos, mount_id: u64) -> Option<(u32, u32)> {
    let mount = mounts
        .iter()
        .find(|mount| u64::try_from(mount.mnt_id).is_ok_and(|id| id == mount_id))?;
    let (major, minor) = mount.majmin.split_once(':')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Undoes mountinfo's `\040`-style escapes.
fn unescape_octal(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|d| {
            std::str::from_utf8(d)
                .ok()
                .and_then(|s| u8::from_str_radix(s, 8).ok())
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn finds_cgroup2_in_mountinfo() {
        let text = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                    41 31 0:38 / /sys/fs/cgroup/un\\040ified rw,relatime - cgroup2 cgroup2 rw\n";
        assert_eq!(
            cgroup2_mount_point(&parse(text).unwrap()),
            Some(PathBuf::from("/sys/fs/cgroup/un ified"))
        );
        assert_eq!(
            cgroup2_mount_point(&parse("1 2 0:1 / / rw - ext4 /dev/vda rw\n").unwrap()),
            None
        );
    }

    #[test]
    fn finds_the_mount_device_by_id() {
        let mounts = parse(
            "22 1 259:2 / / rw,relatime shared:1 - ext4 /dev/nvme0n1p2 rw\n\
             25 22 0:23 / /run rw,nosuid shared:5 - tmpfs tmpfs rw,mode=755\n",
        )
        .unwrap();
        assert_eq!(device_of_mount(&mounts, 25), Some((0, 23)));
        assert_eq!(device_of_mount(&mounts, 22), Some((259, 2)));
        assert_eq!(device_of_mount(&mounts, 7), None);
    }

    #[test]
    fn reads_the_agents_own_table() {
        let mounts = own_mounts().unwrap();
        assert!(
            mounts
                .iter()
                .any(|mount| mount.mount_point == Path::new("/"))
        );
    }
}
