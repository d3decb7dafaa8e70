//! Debian packages fetched with apt from a private apt directory under
//! `target/vm/apt/<suite>/` (its own sources list, package lists and cache),
//! so the host's apt sources and state are never touched (only the archives
//! they name are read from them). apt verifies the
//! archive's signatures with the host's `debian-archive-keyring`.

use std::{
    fs,
    path::{Path, PathBuf},
    process::Command,
};

use anyhow::{Context as _, Result, bail};

use crate::{
    cmd,
    packages::{Archives, host_archives},
};

/// The keyring that signs Debian's archives (the `debian-archive-keyring` package).
const KEYRING: &str = "/usr/share/keyrings/debian-archive-keyring.gpg";

/// apt, pointed at one Debian suite (with its `-updates` and `-security`).
pub struct PrivateApt {
    dir: PathBuf,
}

impl PrivateApt {
    /// Prepares `<vm_dir>/apt/<suite>/` for `suite` (`bookworm`, `trixie`).
    pub fn new(vm_dir: &Path, suite: &str) -> Result<Self> {
        let dir = vm_dir.join("apt").join(suite);
        for sub in ["lists/partial", "cache/archives/partial", "empty"] {
            fs::create_dir_all(dir.join(sub))
                .with_context(|| format!("creating {}", dir.join(sub).display()))?;
        }
        let Archives { main, security } = host_archives()?;
        let sources = format!(
            "deb [signed-by={KEYRING}] {main} {suite} main\n\
             deb [signed-by={KEYRING}] {main} {suite}-updates main\n\
             deb [signed-by={KEYRING}] {security} {suite}-security main\n"
        );
        fs::write(dir.join("sources.list"), sources)?;
        Ok(Self { dir })
    }

    /// Refreshes the package lists (quick when they are current); fails
    /// when any index cannot be fetched, rather than keep stale lists quietly.
    pub fn update(&self) -> Result<()> {
        let out = cmd::output(self.command("apt-get").args(["update", "--error-on=any"]))
            .context("cannot run apt-get")?;
        if !out.status.success() {
            bail!(
                "apt-get update for {} failed: {}",
                self.dir.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(())
    }

    /// The packages `package` depends on, in the newest version the suite has.
    pub fn depends(&self, package: &str) -> Result<Vec<String>> {
        let text = cmd::stdout(self.command("apt-cache").args(["depends", package]))
            .with_context(|| format!("apt-cache depends {package} failed"))?;
        Ok(text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("Depends: "))
            .map(str::to_owned)
            .collect())
    }

    /// Downloads `package` into `dest` and returns the `.deb`'s path.
    pub fn download(&self, package: &str, dest: &Path) -> Result<PathBuf> {
        fs::create_dir_all(dest)?;
        let out = cmd::output(
            self.command("apt-get")
                .args(["download", package])
                .current_dir(dest),
        )
        .context("cannot run apt-get")?;
        if !out.status.success() {
            bail!(
                "apt-get download {package} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        let prefix = format!("{package}_");
        fs::read_dir(dest)?
            .filter_map(|e| e.ok())
            .map(|e| e.path())
            .find(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with(&prefix) && n.ends_with(".deb"))
            })
            .with_context(|| {
                format!(
                    "apt-get download left no {prefix}*.deb in {}",
                    dest.display()
                )
            })
    }

    /// `program` (apt-get, apt-cache) with every path pointed inside the private directory.
    fn command(&self, program: &str) -> Command {
        let dir = &self.dir;
        let empty = dir.join("empty");
        let mut command = Command::new(program);
        for (key, value) in [
            ("Dir::Etc::SourceList", dir.join("sources.list")),
            ("Dir::Etc::SourceParts", empty.clone()),
            ("Dir::Etc::Preferences", empty.join("none")),
            ("Dir::Etc::PreferencesParts", empty),
            ("Dir::State::Lists", dir.join("lists")),
            ("Dir::Cache", dir.join("cache")),
        ] {
            command.arg("-o").arg(format!("{key}={}", value.display()));
        }
        command.args([
            "-o",
            "Acquire::Languages=none",
            "-o",
            "APT::Sandbox::User=root",
            "-q",
        ]);
        command
    }
}

/// Extracts the files of `deb` whose paths match `pattern` (a tar wildcard
/// such as `./boot/vmlinuz-*`) into `dest`.
pub fn extract(deb: &Path, pattern: &str, dest: &Path) -> Result<()> {
    fs::create_dir_all(dest)?;
    let mut dpkg = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(deb)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("cannot run dpkg-deb")?;
    let tar = Command::new("tar")
        .arg("-x")
        .arg("-C")
        .arg(dest)
        .args(["--wildcards", pattern])
        .stdin(dpkg.stdout.take().context("dpkg-deb stdout")?)
        .status()
        .context("cannot run tar")?;
    let dpkg = dpkg.wait()?;
    if !dpkg.success() || !tar.success() {
        bail!(
            "extracting {pattern} from {} failed (dpkg-deb {dpkg}, tar {tar})",
            deb.display()
        );
    }
    Ok(())
}
