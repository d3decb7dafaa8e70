//! Scratch directories and the report files the agent writes into them.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use tempfile::TempDir;

/// How long a report may take to appear after its trigger.
pub const REPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// A fresh directory, removed on drop: one kind for unit and integration
/// tests alike, on `tempfile` so names never collide between tests.
pub struct Scratch(TempDir);

impl Scratch {
    /// Creates `gmr-<label>-XXXXXX` under the temp dir.
    #[track_caller]
    pub fn new(label: &str) -> Self {
        Self::new_in(&std::env::temp_dir(), label)
    }

    /// Creates `gmr-<label>-XXXXXX` under `base` (e.g. `/dev/shm` for a
    /// tmpfs). It is searchable by anyone, like a directory made with the
    /// usual umask, so tests may touch files in it as another user.
    #[track_caller]
    pub fn new_in(base: &Path, label: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix(&format!("gmr-{label}-"))
            .tempdir_in(base)
            .unwrap_or_else(|e| panic!("create a scratch dir in {}: {e}", base.display()));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.path().display()));
        Self(dir)
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        self.0.path()
    }

    /// `name` inside the directory.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path().join(name)
    }

    /// `name` inside the directory as a string, the way a command line or
    /// a report names it.
    pub fn path_of(&self, name: &str) -> String {
        self.join(name).to_string_lossy().into_owned()
    }

    /// Writes `text` to `name` inside the directory, creating the
    /// directories between; returns the file's path.
    #[track_caller]
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.join(name);
        let parent = path.parent().expect("a file below the scratch dir");
        std::fs::create_dir_all(parent)
            .unwrap_or_else(|e| panic!("create {}: {e}", parent.display()));
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        path
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
