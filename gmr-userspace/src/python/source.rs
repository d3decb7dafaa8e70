//! Source lines of Python frames, read through `/proc/PID/root` so paths
//! resolve in the target's mount namespace.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read as _;

/// Largest source file read; a line from a bigger one is left out.
pub const MAX_SOURCE_BYTES: u64 = 4 << 20;
/// Longest source line kept, in characters.
const MAX_LINE_CHARS: usize = 240;

/// Source files of one process, each read at most once.
pub struct SourceFiles {
    pid: u32,
    files: HashMap<String, Option<Vec<u8>>>,
}

impl SourceFiles {
    /// An empty cache for process `pid`.
    pub fn new(pid: u32) -> Self {
        SourceFiles {
            pid,
            files: HashMap::new(),
        }
    }

    /// Line `line` (1-based) of `file`, trimmed, when the file is an
    /// absolute path that can be read and is not too big.
    pub fn line(&mut self, file: &str, line: u32) -> Option<String> {
        let pid = self.pid;
        let bytes = self
            .files
            .entry(file.to_owned())
            .or_insert_with(|| read_capped(pid, file))
            .as_deref()?;
        let text = bytes
            .split(|&b| b == b'\n')
            .nth(line.checked_sub(1)? as usize)?;
        let text = String::from_utf8_lossy(text);
        let trimmed = text.trim();
        Some(trimmed.chars().take(MAX_LINE_CHARS).collect())
    }
}

/// The bytes of `file` in process `pid`'s root, unless it is relative,
/// unreadable or larger than [`MAX_SOURCE_BYTES`].
fn read_capped(pid: u32, file: &str) -> Option<Vec<u8>> {
    if !file.starts_with('/') {
        return None;
    }
    let mut bytes = Vec::new();
    File::open(format!("/proc/{pid}/root{file}"))
        .ok()?
        .take(MAX_SOURCE_BYTES + 1)
        .read_to_end(&mut bytes)
        .ok()?;
    (bytes.len() as u64 <= MAX_SOURCE_BYTES).then_some(bytes)
}

#[cfg(test)]
mod tests {
    use super::SourceFiles;

    #[test]
    fn reads_lines_of_own_files() {
        let dir = std::env::temp_dir().join(format!("gmr-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("m.py");
        std::fs::write(&path, "def f():\n    wait()  \n").expect("write");
        let mut files = SourceFiles::new(std::process::id());
        let path = path.to_str().expect("utf-8");
        assert_eq!(files.line(path, 2).as_deref(), Some("wait()"));
        assert_eq!(files.line(path, 9), None);
        assert_eq!(files.line("<string>", 1), None);
        assert_eq!(files.line(path, 0), None);
        std::fs::remove_dir_all(dir).expect("cleanup");
    }
}
