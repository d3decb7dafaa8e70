//! Builds the fixture programs under `<workspace>/target/fixtures/`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

use crate::workspace_root;

/// Serializes builds within one test binary so parallel tests don't race.
static BUILD_LOCK: Mutex<()> = Mutex::new(());

/// How to compile the C fixture `parked.c`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CVariant {
    /// `-O2 -g -fomit-frame-pointer -pthread`: unwinding needs CFI.
    NoFramePointer,
    /// `-O2 -g -fno-omit-frame-pointer -pthread`: frame-pointer chains work.
    FramePointer,
    /// `-O3 -g -pthread`: more inlining and tail calls.
    O3,
    /// `-O2 -g -flto -pthread`: link-time optimization across units.
    Lto,
    /// `-O2 -g -static -pthread`: glibc linked in, symbol-table names only.
    Static,
}

impl CVariant {
    /// Every variant, for comparisons over all of them.
    pub const ALL: [CVariant; 5] = [
        CVariant::NoFramePointer,
        CVariant::FramePointer,
        CVariant::O3,
        CVariant::Lto,
        CVariant::Static,
    ];

    /// gcc's optimization and code-shape flags for this variant.
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            CVariant::NoFramePointer => &["-O2", "-fomit-frame-pointer"],
            CVariant::FramePointer => &["-O2", "-fno-omit-frame-pointer"],
            CVariant::O3 => &["-O3"],
            CVariant::Lto => &["-O2", "-flto"],
            CVariant::Static => &["-O2", "-static"],
        }
    }

    fn binary_name(self) -> &'static str {
        match self {
            CVariant::NoFramePointer => "parked-nofp",
            CVariant::FramePointer => "parked-fp",
            CVariant::O3 => "parked-o3",
            CVariant::Lto => "parked-lto",
            CVariant::Static => "parked-static",
        }
    }
}

/// Directory the fixtures are built into, `<workspace>/target/fixtures`.
pub fn fixtures_dir() -> PathBuf {
    workspace_root().join("target").join("fixtures")
}

/// Compiles `tests/fixtures/c/parked.c` with gcc for `variant` and returns
/// the binary's path. Rebuilds only when the source is newer than the binary.
#[track_caller]
pub fn build_c_fixture(variant: CVariant) -> PathBuf {
    compile_c("parked", variant.binary_name(), variant.flags())
}

/// Compiles the one-file C fixture `tests/fixtures/c/<name>.c` with
/// `-O2 -g -fno-omit-frame-pointer -pthread` into `target/fixtures/<name>`
/// and returns the binary's path. Rebuilds only when the source is newer.
#[track_caller]
pub fn build_c_program(name: &str) -> PathBuf {
    compile_c(name, name, &["-O2", "-fno-omit-frame-pointer"])
}

/// Compiles `tests/fixtures/cpp/parked.cpp` with g++ and `-g -pthread
/// <flags>` (the optimization flags, e.g. `-O3`) into
/// `target/fixtures/<binary_name>` and returns its path. Rebuilds only when
/// the source is newer.
#[track_caller]
pub fn build_cpp_fixture(binary_name: &str, flags: &[&str]) -> PathBuf {
    compile("g++", "cpp/parked.cpp", binary_name, flags)
}

/// A copy of the built fixture `binary` without its debug info (`strip
/// --strip-debug`: the symbol table stays, as in a package without its
/// `-dbgsym`), as `target/fixtures/<binary_name>`; made again when `binary`
/// is newer.
#[track_caller]
pub fn strip_debug(binary: &Path, binary_name: &str) -> PathBuf {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let stripped = fixtures_dir().join(binary_name);
    if is_up_to_date(&stripped, binary) {
        return stripped;
    }
    let staging = fixtures_dir().join(format!("{binary_name}.tmp-{}", std::process::id()));
    let output = Command::new("strip")
        .arg("--strip-debug")
        .arg("-o")
        .arg(&staging)
        .arg(binary)
        .output()
        .unwrap_or_else(|e| panic!("run strip (is binutils installed?): {e}"));
    assert!(
        output.status.success(),
        "strip --strip-debug {} failed:\n{}",
        binary.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&staging, &stripped).unwrap_or_else(|e| {
        panic!(
            "rename {} to {}: {e}",
            staging.display(),
            stripped.display()
        )
    });
    stripped
}

/// Compiles `tests/fixtures/c/<source>.c` with `-g -pthread <flags>` into `target/fixtures/<binary_name>`, unless that is already
/// newer than the source; built under another name and renamed, so a test
/// never runs a half-written binary.
#[track_caller]
fn compile_c(source: &str, binary_name: &str, flags: &[&str]) -> PathBuf {
    compile("gcc", &format!("c/{source}.c"), binary_name, flags)
}

/// Compiles `tests/fixtures/<source>` with `compiler -g -pthread <flags>`,
/// as [`compile_c`] describes.
#[track_caller]
fn compile(compiler: &str, source: &str, binary_name: &str, flags: &[&str]) -> PathBuf {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let source = workspace_root().join("tests/fixtures").join(source);
    let dir = fixtures_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    let binary = dir.join(binary_name);
    if is_up_to_date(&binary, &source) {
        return binary;
    }
    let staging = dir.join(format!("{binary_name}.tmp-{}", std::process::id()));
    let output = Command::new(compiler)
        .args(["-g", "-pthread"])
        .args(flags)
        .arg("-o")
        .arg(&staging)
        .arg(&source)
        .output()
        .unwrap_or_else(|e| panic!("run {compiler} (is it installed?): {e}"));
    assert!(
        output.status.success(),
        "{compiler} failed to build {} ({flags:?}):\n{}",
        source.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::rename(&staging, &binary)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", staging.display(), binary.display()));
    binary
}

/// Builds `tests/fixtures/rust-parked` in release mode with cargo (into
/// `<workspace>/target/fixtures/rust`) and returns the binary's path.
#[track_caller]
pub fn build_rust_fixture() -> PathBuf {
    let _guard = BUILD_LOCK
        .lock()
        .unwrap_or_else(|poison| poison.into_inner());
    let manifest = workspace_root().join("tests/fixtures/rust-parked/Cargo.toml");
    let target_dir = fixtures_dir().join("rust");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let output = Command::new(cargo)
        .args(["build", "--release", "--manifest-path"])
        .arg(&manifest)
        .arg("--target-dir")
        .arg(&target_dir)
        .output()
        .unwrap_or_else(|e| panic!("run cargo: {e}"));
    assert!(
        output.status.success(),
        "cargo failed to build {}:\n{}",
        manifest.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    target_dir.join("release").join("rust-parked")
}

/// Whether `binary` exists and is at least as new as `source`.
fn is_up_to_date(binary: &Path, source: &Path) -> bool {
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified());
    let source_time = modified(source).unwrap_or_else(|e| panic!("stat {}: {e}", source.display()));
    matches!(modified(binary), Ok(binary_time) if binary_time >= source_time)
}
