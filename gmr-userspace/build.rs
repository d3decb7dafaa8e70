//! Builds the eBPF programs (crate `gmr-ebpf`) for the BPF target, so the
//! agent binary embeds them.
//!
//! `cargo xtask setup` installs what this needs: bpf-linker and a toolchain
//! with rust-src. The nightly toolchain is used when installed; otherwise
//! the current toolchain with `RUSTC_BOOTSTRAP=1` (it builds `core` for BPF
//! just as well). `GMR_EBPF_TOOLCHAIN` names another toolchain.

use std::process::Command;

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=GMR_EBPF_TOOLCHAIN");
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

/// True when `rustup run NAME rustc -V` works.
fn toolchain_installed(name: &str) -> bool {
    Command::new("rustup")
        .args(["run", name, "rustc", "-V"])
        .output()
        .is_ok_and(|out| out.status.success())
}
