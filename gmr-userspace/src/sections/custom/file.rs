//! A file included in the report, read as the target sees it (through
//! `/proc/PID/root`, so a containerised service's own file), masked by the
//! same rules as a configuration file shown line by line
//! ([`crate::mask::mask_file`]).

use std::{io::Read as _, path::Path};

use crate::{mask::mask_file, model::TextBlock, sections::describe_io_error};

/// Most bytes of a file included in a report.
const MAX_BYTES: u64 = 256 * 1024;

/// Reads `path` in the target's mount namespace.
pub fn include(pid: u32, path: &Path) -> Result<TextBlock, String> {
    let relative = path.strip_prefix("/").unwrap_or(path);
    let through_root = Path::new("/proc")
        .join(pid.to_string())
        .join("root")
        .join(relative);
    let file = std::fs::File::open(&through_root).map_err(|e| {
        format!(
            "cannot open {} for process {pid}: {}",
            path.display(),
            describe_io_error(&e)
        )
    })?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut bytes = Vec::new();
    file.take(MAX_BYTES)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {}: {}", path.display(), describe_io_error(&e)))?;
    let text = String::from_utf8_lossy(&bytes);
    Ok(TextBlock {
        source: path.display().to_string(),
        lines: mask_file(&text).lines().map(str::to_owned).collect(),
        note: (size > MAX_BYTES)
            .then(|| format!("truncated to the first {MAX_BYTES} of {size} bytes")),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_a_file_masked_and_names_a_missing_one() {
        let path = std::env::temp_dir().join(format!("gmr-include-{}.conf", std::process::id()));
        std::fs::write(
            &path,
            "[database]\nconnection = mysql://nova:Hidden-1@db/nova\ndebug = true\nrequirepass Hidden-3\n",
        )
        .unwrap();
        let block = include(std::process::id(), &path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let text = block.lines.join("\n");
        assert!(!text.contains("Hidden-"), "{text}");
        assert!(
            text.contains("debug = true") && text.contains("nova:"),
            "{text}"
        );
        let err = include(std::process::id(), Path::new("/no/such/file.conf")).unwrap_err();
        assert!(err.contains("/no/such/file.conf"), "{err}");
    }
}
