//! `cargo xtask image`: the agent as an OCI image, built with podman.
//!
//! No registry is reachable, and the agent needs nothing but itself, libc,
//! libgcc_s and the dynamic loader, so the image is `FROM scratch`: the
//! release agent without debug sections, the libraries `ldd` names, a
//! root-only `/etc/passwd` and `/etc/group`, and the empty directories the
//! documented `podman run` mounts over (`/run/gmr`, `/var/lib/gmr`,
//! `/etc/gmr`). No shell, no package manager: the image runs nothing else
//! (about 11 MB against 206 MB for a debootstrapped root with the .deb).
//! The image is also saved as an OCI archive, for `ctr images import` on a
//! Kubernetes node without a registry.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result};

use crate::{binary, build, cmd, packages};

/// The image's name in podman's local store.
pub const NAME: &str = "localhost/gmr-agent";

/// What building and running the image needs: podman runs it with
/// Debian's runc, the only runtime that works on the test machines.
const PACKAGES: [&str; 3] = ["podman", "runc", "binutils"];

/// The build recipe: the staged root and the agent as the entry point.
const CONTAINERFILE: &str = "FROM scratch
COPY root/ /
LABEL org.opencontainers.image.title=gmr-agent \\
      org.opencontainers.image.description=\"Guru Meditation Reports for any process on the host\"
ENTRYPOINT [\"/usr/bin/gmr-agent\"]
CMD [\"run\"]
";

/// Accounts the image knows, so ownership shows as names: root only.
const PASSWD: &str = "root:x:0:0:root:/:/usr/bin/gmr-agent\n";
/// Groups the image knows: root only; a `trigger_group` or
/// `--control-group` is given by number in a container.
const GROUP: &str = "root:x:0:\n";

/// What was built.
pub struct Image {
    /// `localhost/gmr-agent:VERSION`.
    pub reference: String,
    /// Its size as podman reports it, in bytes.
    pub size: u64,
    /// The OCI archive it was also saved as.
    pub archive: PathBuf,
}

/// Builds the release agent and its image; returns the image.
pub fn run() -> Result<Image> {
    packages::install_missing(&PACKAGES)?;
    let agent = build::run()?;
    let dir = cmd::workspace_root().join("target/image");
    let _ = fs::remove_dir_all(&dir);
    let root = dir.join("root");
    stage(&root, &agent)?;
    fs::write(dir.join("Containerfile"), CONTAINERFILE)?;
    let version = env!("CARGO_PKG_VERSION");
    let reference = format!("{NAME}:{version}");
    cmd::run(
        Command::new("podman")
            .args(["build", "--runtime", "runc", "--tag", &reference, "--tag"])
            .arg(format!("{NAME}:latest"))
            .arg("--file")
            .arg(dir.join("Containerfile"))
            .arg(&dir),
    )?;
    let size = cmd::stdout(Command::new("podman").args([
        "image",
        "inspect",
        "--format",
        "{{.Size}}",
        &reference,
    ]))
    .and_then(|size| size.parse().ok())
    .with_context(|| format!("podman image inspect {reference} gave no size"))?;
    let archive = dir.join(format!("gmr-agent-{version}.oci.tar"));
    cmd::run(
        Command::new("podman")
            .args(["save", "--format", "oci-archive", "--output"])
            .arg(&archive)
            .arg(&reference),
    )?;
    Ok(Image {
        reference,
        size,
        archive,
    })
}

/// Lays out the image's root in `root`: the agent, its libraries, the
/// account files and the mount points.
fn stage(root: &Path, agent: &Path) -> Result<()> {
    for dir in [
        "usr/bin",
        "etc/gmr",
        "run/gmr",
        "var/lib/gmr",
        "proc",
        "sys",
        "dev",
        "tmp",
    ] {
        fs::create_dir_all(root.join(dir))
            .with_context(|| format!("creating {}", root.join(dir).display()))?;
    }
    binary::strip_debug(agent, &root.join("usr/bin/gmr-agent"))?;
    for library in binary::shared_libraries(agent)? {
        let inside = root.join(library.strip_prefix("/")?);
        fs::create_dir_all(inside.parent().context("a library at /")?)?;
        fs::copy(&library, &inside)
            .with_context(|| format!("copying {} into the image", library.display()))?;
    }
    fs::write(root.join("etc/passwd"), PASSWD)?;
    fs::write(root.join("etc/group"), GROUP)?;
    Ok(())
}
