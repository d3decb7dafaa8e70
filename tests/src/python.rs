//! The CPython interpreters Python stack tests run against: the newest
//! pyenv build of each of 3.9 to 3.13 (else `python3.X` on PATH), and the
//! distribution's `/usr/bin/python3`. A missing one is skipped with a
//! printed reason.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, PoisonError};

use crate::workspace_root;

/// The first and last minor versions of Python 3 gmr reads stacks of.
pub const MINORS: std::ops::RangeInclusive<u32> = 9..=13;

/// One interpreter to test.
#[derive(Clone, Debug)]
pub struct PythonUnderTest {
    /// What the test output calls it: `3.12 (pyenv)`, `/usr/bin/python3`.
    pub label: String,
    /// The executable.
    pub path: PathBuf,
}

/// Every interpreter found; prints `SKIP: <reason>` for each one missing.
pub fn python_interpreters() -> Vec<PythonUnderTest> {
    let mut found = Vec::new();
    for minor in MINORS {
        match find_python3(minor) {
            Some(python) => found.push(python),
            None => println!("SKIP: Python 3.{minor}: no python3.{minor} in pyenv or on PATH"),
        }
    }
    let system = Path::new("/usr/bin/python3");
    if system.exists() {
        found.push(PythonUnderTest {
            label: system.display().to_string(),
            path: system.to_path_buf(),
        });
    } else {
        println!("SKIP: the distribution's Python: no /usr/bin/python3");
    }
    found
}

/// Python 3.`minor`: the newest pyenv build, else `python3.<minor>` on PATH.
pub fn find_python3(minor: u32) -> Option<PythonUnderTest> {
    let name = format!("python3.{minor}");
    if let Some(path) = newest_in_pyenv(&name) {
        return Some(PythonUnderTest {
            label: format!("3.{minor} (pyenv)"),
            path,
        });
    }
    on_path(&name).map(|path| PythonUnderTest {
        label: format!("3.{minor} ({})", path.display()),
        path,
    })
}

/// `$PYENV_ROOT` (or `~/.pyenv`) `/versions/*/bin/<name>`, newest version
/// directory first by name.
fn newest_in_pyenv(name: &str) -> Option<PathBuf> {
    let root = std::env::var_os("PYENV_ROOT")
        .map(PathBuf::from)
        .or_else(|| Some(Path::new(&std::env::var_os("HOME")?).join(".pyenv")))?;
    let mut candidates = std::fs::read_dir(root.join("versions"))
        .ok()?
        .filter_map(|entry| Some(entry.ok()?.path().join("bin").join(name)))
        .filter(|path| path.exists())
        .collect::<Vec<_>>();
    candidates.sort();
    candidates.pop()
}

/// `<name>` in a directory of `$PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.exists())
}

/// A directory holding `requirements` as pip installs them for `python`:
/// `target/pydeps/<name>`, installed once and kept. Installs run one at a
/// time, each into a scratch directory renamed into place, so no test sees
/// half an install. `None`, after a `SKIP:` line naming `label`, when pip
/// cannot install them (no network, no wheel for this interpreter).
pub fn pip_packages(
    python: &Path,
    name: &str,
    label: &str,
    requirements: &[&str],
) -> Option<PathBuf> {
    static INSTALLING: Mutex<()> = Mutex::new(());
    let _one_at_a_time = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
    let dir = workspace_root().join("target/pydeps").join(name);
    if dir.is_dir() {
        return Some(dir);
    }
    let scratch = dir.with_extension(format!("partial-{}", std::process::id()));
    let out = Command::new(python)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--target",
        ])
        .arg(&scratch)
        .args(requirements)
        .output()
        .expect("run pip");
    if !out.status.success() {
        println!(
            "SKIP: {label}: pip cannot install {}: {}",
            requirements.join(" and "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let _ = std::fs::remove_dir_all(&scratch);
        return None;
    }
    std::fs::rename(&scratch, &dir).expect("move the installed packages into place");
    Some(dir)
}
