//! Scratch directories and the report files the agent writes into them.

use std::{
    path::{Path, PathBuf},
    sync::atomic::{AtomicU32, Ordering},
    time::{Duration, Instant},
};

/// How long a report may take to appear after its trigger.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh directory under the temp dir, removed on drop.
pub struct Scratch(PathBuf);

impl Scratch {
    /// Creates `gmr-<label>-<pid>-<n>`.
    #[track_caller]
    pub fn new(label: &str) -> Self {
        static MADE: AtomicU32 = AtomicU32::new(0);
        let n = MADE.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("gmr-{label}-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        Self(path)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Report files about `pid` with extension `ext` in the tag directories
/// below the report directory `dir`.
pub fn report_files(dir: &Path, pid: u32, ext: &str) -> Vec<PathBuf> {
    let suffix = format!("_{pid}.{ext}");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(Result::ok)
        .filter_map(|tag| std::fs::read_dir(tag.path()).ok())
        .flatten()
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(&suffix))
        .collect();
    files.sort();
    files
}

/// Waits up to `timeout` until `pid` has at least `count` report files with
/// extension `ext`; returns what is there then.
pub fn wait_for_report_files(
    dir: &Path,
    pid: u32,
    ext: &str,
    count: usize,
    timeout: Duration,
) -> Vec<PathBuf> {
    let start = Instant::now();
    loop {
        let found = report_files(dir, pid, ext);
        if found.len() >= count || start.elapsed() > timeout {
            return found;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
