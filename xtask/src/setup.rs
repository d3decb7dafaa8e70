//! `cargo xtask setup`: installs what a fresh machine lacks to build the
//! eBPF programs. Idempotent and quick when everything is there.
//!
//! - a toolchain with rust-src: the nightly when installed, else the current
//!   one (gmr-userspace's build script then sets `RUSTC_BOOTSTRAP=1`);
//! - bpf-linker 0.13, built against the nightly's own libLLVM 22, so no
//!   system LLVM is needed.

use std::{fs, path::Path, process::Command};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// The bpf-linker version gmr is built with.
const BPF_LINKER_VERSION: &str = "0.13";

/// Installs whatever is missing.
pub fn run() -> Result<()> {
    let toolchain = ebpf_toolchain();
    ensure_rust_src(&toolchain)?;
    ensure_bpf_linker(&toolchain)?;
    eprintln!("xtask: setup complete (eBPF toolchain: {toolchain})");
    Ok(())
}

/// `nightly` when installed, else the toolchain running this.
pub fn ebpf_toolchain() -> String {
    if cmd::succeeds(Command::new("rustup").args(["run", "nightly", "rustc", "-V"])) {
        "nightly".into()
    } else {
        std::env::var("RUSTUP_TOOLCHAIN").unwrap_or_else(|_| "stable".into())
    }
}

/// The toolchain's sysroot.
fn sysroot(toolchain: &str) -> Result<String> {
    cmd::stdout(Command::new("rustup").args(["run", toolchain, "rustc", "--print", "sysroot"]))
        .with_context(|| format!("cannot find the sysroot of toolchain {toolchain}"))
}

fn ensure_rust_src(toolchain: &str) -> Result<()> {
    let core = Path::new(&sysroot(toolchain)?).join("lib/rustlib/src/rust/library/core");
    if core.exists() {
        return Ok(());
    }
    cmd::run(Command::new("rustup").args([
        "component",
        "add",
        "rust-src",
        "--toolchain",
        toolchain,
    ]))
}

fn ensure_bpf_linker(toolchain: &str) -> Result<()> {
    let version = cmd::stdout(Command::new("bpf-linker").arg("--version")).unwrap_or_default();
    if version.contains(&format!(" {BPF_LINKER_VERSION}.")) {
        return Ok(());
    }
    let sysroot = sysroot(toolchain)?;
    let lib = Path::new(&sysroot).join("lib");
    let libllvm = fs::read_dir(&lib)
        .with_context(|| format!("reading {}", lib.display()))?
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|name| name.starts_with("libLLVM.so.") || name.starts_with("libLLVM-"))
        .with_context(|| {
            format!(
                "no libLLVM in {} to build bpf-linker against",
                lib.display()
            )
        })?;
    let major = llvm_major(&libllvm)
        .with_context(|| format!("cannot tell the LLVM version of {libllvm}"))?;
    let prefix = cmd::workspace_root().join("target/xtask-llvm");
    fs::create_dir_all(prefix.join("lib"))?;
    let link = prefix.join("lib/libLLVM.so");
    let _ = fs::remove_file(&link);
    std::os::unix::fs::symlink(lib.join(&libllvm), &link)
        .with_context(|| format!("linking {}", link.display()))?;
    let status = Command::new("cargo")
        .args([
            "install",
            "bpf-linker",
            "--version",
            &format!("^{BPF_LINKER_VERSION}"),
        ])
        .args([
            "--no-default-features",
            "--features",
            &format!("llvm-{major}"),
        ])
        .env("LLVM_PREFIX", &prefix)
        .env(
            "RUSTFLAGS",
            format!("-C link-args=-Wl,-rpath,{}", lib.display()),
        )
        .status()
        .context("cannot run cargo install bpf-linker")?;
    if !status.success() {
        bail!("building bpf-linker against {libllvm} failed: {status}");
    }
    Ok(())
}

/// `22` from `libLLVM.so.22.1-rust-1.97.0-nightly` or `libLLVM-22-rust-…`.
fn llvm_major(file_name: &str) -> Option<u32> {
    let rest = file_name
        .strip_prefix("libLLVM.so.")
        .or_else(|| file_name.strip_prefix("libLLVM-"))?;
    rest.split(['.', '-']).next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_llvm_major_from_library_names() {
        assert_eq!(
            super::llvm_major("libLLVM.so.22.1-rust-1.97.0-nightly"),
            Some(22)
        );
        assert_eq!(
            super::llvm_major("libLLVM-20-rust-1.95.0-stable.so"),
            Some(20)
        );
        assert_eq!(super::llvm_major("librustc_driver.so"), None);
    }
}
