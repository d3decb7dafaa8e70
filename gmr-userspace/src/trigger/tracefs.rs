//! Record layouts of the `timestamp` tracepoints, read from tracefs.
//!
//! A classic tracepoint program sees the event's raw record. The offsets of
//! its fields are part of the kernel's tracepoint ABI, published in
//! `events/<category>/<name>/format`; they are read at load time, like the
//! struct offsets from BTF, so nothing about the record is compiled in.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use gmr_common::{TimestampFields, TimestampOffsets};

/// Where tracefs is mounted, in the order aya looks for it.
const TRACEFS_MOUNTS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];
/// The tracepoint category the file trigger attaches to.
pub const TIMESTAMP_CATEGORY: &str = "timestamp";
/// The `timestamp` tracepoints the file trigger attaches to, with the name
/// of the program for each.
pub const TIMESTAMP_EVENTS: [(&str, &str); 3] = [
    ("ctime_ns_xchg", "file_ctime_ns_xchg"),
    ("ctime_xchg_skip", "file_ctime_xchg_skip"),
    ("inode_set_ctime_to_ts", "file_inode_set_ctime_to_ts"),
];

/// The record layouts of the three `timestamp` tracepoints; fails when
/// tracefs is not mounted, the kernel predates them (Linux 6.13), or a
/// field is missing or not the expected size.
pub fn timestamp_offsets() -> Result<TimestampOffsets> {
    let tracefs = tracefs_mount()?;
    let [ctime_ns_xchg, ctime_xchg_skip, inode_set_ctime_to_ts] =
        TIMESTAMP_EVENTS.map(|(event, _)| event_fields(&tracefs, event));
    Ok(TimestampOffsets {
        ctime_ns_xchg: ctime_ns_xchg?,
        ctime_xchg_skip: ctime_xchg_skip?,
        inode_set_ctime_to_ts: inode_set_ctime_to_ts?,
    })
}

/// The first mounted tracefs with an `events` directory.
fn tracefs_mount() -> Result<PathBuf> {
    for mount in TRACEFS_MOUNTS.map(PathBuf::from) {
        let events = mount.join("events");
        match std::fs::read_dir(&events) {
            Ok(_) => return Ok(mount),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", events.display())),
        }
    }
    bail!(
        "tracefs is not mounted at {} (mount -t tracefs nodev /sys/kernel/tracing)",
        TRACEFS_MOUNTS.join(" or ")
    )
}

/// Reads `dev` and `ino` of one `timestamp` event from its format file.
fn event_fields(tracefs: &Path, event: &str) -> Result<TimestampFields> {
    let path = tracefs
        .join("events")
        .join(TIMESTAMP_CATEGORY)
        .join(event)
        .join("format");
    let format = std::fs::read_to_string(&path).with_context(|| {
        format!(
            "cannot read {} (the timestamp tracepoints need Linux 6.13+)",
            path.display()
        )
    })?;
    let field = |name: &str, size: u32| -> Result<u32> {
        match field_layout(&format, name) {
            Some((offset, actual)) if actual == size => Ok(offset),
            Some((_, actual)) => bail!(
                "{}: field {name} is {actual} bytes, expected {size}",
                path.display()
            ),
            None => bail!("{}: no field {name}", path.display()),
        }
    };
    Ok(TimestampFields {
        dev: field("dev", 4)?,
        ino: field("ino", 8)?,
    })
}

/// `(offset, size)` of field `name` in a tracefs format file, whose lines
/// read `field:dev_t dev;` `offset:8;` `size:4;` `signed:0;`, tab-separated.
pub fn field_layout(format: &str, name: &str) -> Option<(u32, u32)> {
    format.lines().find_map(|line| {
        let mut parts = line.split(';').map(str::trim);
        let declaration = parts.next()?.strip_prefix("field:")?;
        if declaration.split_whitespace().last()? != name {
            return None;
        }
        let mut offset = None;
        let mut size = None;
        for part in parts {
            if let Some(value) = part.strip_prefix("offset:") {
                offset = value.parse().ok();
            } else if let Some(value) = part.strip_prefix("size:") {
                size = value.parse().ok();
            }
        }
        Some((offset?, size?))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `events/timestamp/ctime_ns_xchg/format` from Linux 6.18.
    const CTIME_NS_XCHG: &str = "name: ctime_ns_xchg
ID: 912
format:
\tfield:unsigned short common_type;\toffset:0;\tsize:2;\tsigned:0;
\tfield:unsigned char common_flags;\toffset:2;\tsize:1;\tsigned:0;
\tfield:unsigned char common_preempt_count;\toffset:3;\tsize:1;\tsigned:0;
\tfield:int common_pid;\toffset:4;\tsize:4;\tsigned:1;

\tfield:dev_t dev;\toffset:8;\tsize:4;\tsigned:0;
\tfield:ino_t ino;\toffset:16;\tsize:8;\tsigned:0;
\tfield:u32 gen;\toffset:24;\tsize:4;\tsigned:0;
\tfield:u32 old;\toffset:28;\tsize:4;\tsigned:0;

print fmt: \"ino=%d:%d:%ld:%u old=%u:%s\", ((unsigned int) ((REC->dev) >> 20))
";

    #[test]
    fn reads_field_offsets_and_sizes() {
        assert_eq!(field_layout(CTIME_NS_XCHG, "dev"), Some((8, 4)));
        assert_eq!(field_layout(CTIME_NS_XCHG, "ino"), Some((16, 8)));
        assert_eq!(field_layout(CTIME_NS_XCHG, "common_type"), Some((0, 2)));
        assert_eq!(field_layout(CTIME_NS_XCHG, "ctime_s"), None);
        assert_eq!(field_layout(CTIME_NS_XCHG, "de"), None);
    }

    #[test]
    fn running_kernel_layouts_when_present() {
        match timestamp_offsets() {
            Ok(offsets) => {
                for fields in [
                    offsets.ctime_ns_xchg,
                    offsets.ctime_xchg_skip,
                    offsets.inode_set_ctime_to_ts,
                ] {
                    // Past the 8 bytes of common fields, naturally aligned.
                    assert!(fields.dev >= 8 && fields.dev % 4 == 0, "{fields:?}");
                    assert!(fields.ino >= 8 && fields.ino % 8 == 0, "{fields:?}");
                }
            }
            Err(e) => eprintln!("SKIP: no timestamp tracepoints here: {e:#}"),
        }
    }
}
