//! Builds the eBPF programs (crate `gmr-ebpf`) for the BPF target, so the
//! agent binary embeds them, and sets `GMR_VERSION` for `--version`.
//!
//! `cargo xtask setup` installs what this needs: bpf-linker and a toolchain
//! with rust-src. The nightly toolchain is used when installed; otherwise
//! the current toolchain with `RUSTC_BOOTSTRAP=1` (it builds `core` for BPF
//! just as well). `GMR_EBPF_TOOLCHAIN` names another toolchain.
//!
//! Fuzz builds (`cargo fuzz` sets `--cfg fuzzing`) embed an empty object
//! instead: the fuzz targets call only pure code, never the loader.

use std::{path::Path, process::Command};

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=GMR_EBPF_TOOLCHAIN");
    record_version();
    if std::env::var_os("CARGO_CFG_FUZZING").is_some() {
        let out_dir = std::env::var("OUT_DIR")?;
        std::fs::write(Path::new(&out_dir).join("gmr"), [])?;
        return Ok(());
    }
    let ebpf = aya_build::Package {
        name: "gmr-ebpf",
        root_dir: concat!(env!("CARGO_MANIFEST_DIR"), "/../gmr-ebpf"),
        ..Default::default()
    };
    let name = match std::env::var("GMR_EBPF_TOOLCHAIN") {
        Ok(name) => name,
        Err(_) if toolchain_installed("nightly") => "nightly".to_owned(),
        Err(_) => {
            // SAFETY: the build script is single-threaded here.
            unsafe { std::env::set_var("RUSTC_BOOTSTRAP", "1") };
            std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".to_owned())
        }
    };
    aya_build::build_ebpf([ebpf], aya_build::Toolchain::Custom(&name))
}

/// Sets `GMR_VERSION`: the package version, and the commit when built from
/// a git checkout (`0.1.0 (commit 07581ec1a2b3)`); reruns when HEAD moves.
fn record_version() {
    let version = env!("CARGO_PKG_VERSION");
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let Some(commit) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        println!("cargo:rustc-env=GMR_VERSION={version}");
        return;
    };
    println!("cargo:rustc-env=GMR_VERSION={version} (commit {commit})");
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    watched.extend(git(&["symbolic-ref", "-q", "HEAD"]));
    for name in watched {
        // A missing file would make cargo rerun this on every build.
        let path = git(&["rev-parse", "--path-format=absolute", "--git-path", &name]);
        if let Some(path) = path.filter(|path| Path::new(path).exists()) {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}

/// True when `rustup run NAME rustc -V` works.
fn toolchain_installed(name: &str) -> bool {
    Command::new("rustup")
        .args(["run", name, "rustc", "-V"])
        .output()
        .is_ok_and(|out| out.status.success())
}
