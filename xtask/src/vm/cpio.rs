//! A writer of cpio archives in the `newc` format, the format the kernel
//! unpacks an initramfs from (Documentation/driver-api/early-userspace).

/// The mode bits of a directory, a regular file, a symlink and a character device.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// An archive being written in memory.
#[derive(Default)]
pub struct Archive {
    bytes: Vec<u8>,
    next_inode: u32,
}

impl Archive {
    /// Adds a directory (its parents must have been added first).
    pub fn dir(&mut self, path: &str) {
        self.entry(path, S_IFDIR | 0o755, (0, 0), &[]);
    }

    /// Adds a regular file with permission bits `mode`.
    pub fn file(&mut self, path: &str, mode: u32, data: &[u8]) {
        self.entry(path, S_IFREG | mode, (0, 0), data);
    }

    /// Adds a character device node.
    pub fn char_device(&mut self, path: &str, mode: u32, major: u32, minor: u32) {
        self.entry(path, S_IFCHR | mode, (major, minor), &[]);
    }

    /// Ends the archive with its trailer and returns its bytes.
    pub fn finish(mut self) -> Vec<u8> {
        self.entry("TRAILER!!!", 0, (0, 0), &[]);
        self.bytes
    }

    fn entry(&mut self, path: &str, mode: u32, (rdev_major, rdev_minor): (u32, u32), data: &[u8]) {
        self.next_inode += 1;
        let name = path.trim_start_matches('/');
        let fields = [
            self.next_inode,
            mode,
            0, // uid
            0, // gid
            if mode & S_IFDIR == S_IFDIR { 2 } else { 1 },
            0, // mtime
            u32::try_from(data.len()).expect("an initramfs file is under 4 GiB"),
            0, // dev major
            0, // dev minor
            rdev_major,
            rdev_minor,
            u32::try_from(name.len() + 1).expect("a short path"),
            0, // check, unused by newc
        ];
        self.bytes.extend_from_slice(b"070701");
        for field in fields {
            self.bytes
                .extend_from_slice(format!("{field:08x}").as_bytes());
        }
        self.bytes.extend_from_slice(name.as_bytes());
        self.bytes.push(0);
        self.pad();
        self.bytes.extend_from_slice(data);
        self.pad();
    }

    /// Pads to the next multiple of 4 bytes, as newc requires after names and data.
    fn pad(&mut self) {
        while !self.bytes.len().is_multiple_of(4) {
            self.bytes.push(0);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Archive;

    #[test]
    fn writes_newc_headers_names_and_padded_data() {
        let mut archive = Archive::default();
        archive.file("/init", 0o755, b"#!/bin/sh\n");
        let bytes = archive.finish();
        let header = std::str::from_utf8(&bytes[..110]).unwrap();
        assert_eq!(
            header,
            "070701\
             00000001\
             000081ed\
             00000000\
             00000000\
             00000001\
             00000000\
             0000000a\
             00000000\
             00000000\
             00000000\
             00000000\
             00000005\
             00000000"
        );
        // 110-byte header + "init\0" = 115, padded to 116; data 10 bytes, padded to 12.
        assert_eq!(&bytes[110..116], b"init\0\0");
        assert_eq!(&bytes[116..126], b"#!/bin/sh\n");
        assert_eq!(&bytes[126..128], b"\0\0");
        assert_eq!(&bytes[128..134], b"070701");
        assert!(bytes[128..].windows(11).any(|w| w == b"TRAILER!!!\0"));
        assert_eq!(bytes.len() % 4, 0);
    }

    #[test]
    fn directories_have_two_links_and_devices_their_numbers() {
        let mut archive = Archive::default();
        archive.dir("dev");
        archive.char_device("dev/console", 0o600, 5, 1);
        let bytes = archive.finish();
        let text = String::from_utf8_lossy(&bytes);
        let headers: Vec<&str> = text
            .match_indices("070701")
            .map(|(i, _)| &text[i..i + 110])
            .collect();
        assert_eq!(&headers[0][14..22], "000041ed");
        assert_eq!(&headers[0][38..46], "00000002");
        assert_eq!(&headers[1][14..22], "00002180");
        assert_eq!(&headers[1][78..94], "0000000500000001");
    }
}
