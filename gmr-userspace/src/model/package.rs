//! The Package section: what is running, which package it came from, and
//! on which host.

use serde::Serialize;

/// What is running: the executable, the package that owns it (or, for a
/// Python service, the Python distribution of its script or module), and
/// the host it runs on.
///
/// `vendor`, `product` and `version` are the keys oslo.reports puts in its
/// Package section, filled from the most specific package found. `Default`
/// is "nothing known", for building models in tests.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Package {
    /// Who made the product: the distribution (`/etc/os-release` `NAME`,
    /// an rpm's `Vendor`, a deb's maintainer) or a Python distribution's
    /// author.
    pub vendor: Option<String>,
    /// The product: the Python distribution's name for a Python service,
    /// else the distribution package owning the executable.
    pub product: Option<String>,
    /// The product's version.
    pub version: Option<String>,
    /// Executable path as the process sees it (`/proc/PID/exe`).
    pub executable: Option<String>,
    /// True when the executable was deleted or replaced since it started.
    pub executable_deleted: bool,
    /// Where the agent reaches the executable by path: the same path when it
    /// names the same file for the agent, else `/proc/PID/root/…` (another
    /// mount namespace or root). `None` when no path reaches it (deleted).
    pub executable_host_path: Option<String>,
    /// True when the process has a mount namespace of its own.
    pub own_mount_namespace: bool,
    /// GNU build-id of the executable, hex.
    pub build_id: Option<String>,
    /// The executable's ELF program interpreter (`PT_INTERP`), e.g.
    /// `/lib64/ld-linux-x86-64.so.2`; `None` for a static executable.
    pub elf_interpreter: Option<String>,
    /// The Go release that built the executable (`go1.19.8`), from its
    /// `.go.buildinfo`; `None` for anything but a Go binary.
    pub go_version: Option<String>,
    /// The operating system the process sees (`PRETTY_NAME` of its
    /// `/etc/os-release`).
    pub operating_system: Option<String>,
    /// The path the process was started as (`argv[0]` resolved in its
    /// root, leading to the executable), when it is not `executable`
    /// itself: a symlink such as `/usr/bin/redis-server`.
    pub started_as: Option<String>,
    /// The distribution package owning the program: for an interpreter
    /// running a packaged script, the script's owner (`heat-api` for
    /// `/usr/bin/heat-api`); else the owner of `started_as` when one is
    /// known, else of the executable's path.
    pub distro_package: Option<String>,
    /// The package owning the executable's own path, when it is not
    /// `distro_package` (`redis-tools` for `/usr/bin/redis-check-rdb`,
    /// the target of `redis-server`'s symlink; the interpreter's package,
    /// `python3.11-minimal`, for a packaged Python script).
    pub executable_package: Option<String>,
    /// Its installed version (for a deleted executable: the version now
    /// installed, which may not be the one running).
    pub distro_package_version: Option<String>,
    /// The package manager that knows it: `dpkg` or `rpm`.
    pub package_manager: Option<String>,
    /// For a Python interpreter: what it runs, as the process named it — a
    /// script path, `-m module`, `<command string>` (`-c`), `<stdin>` or
    /// `<interactive>`.
    pub python_main: Option<String>,
    /// The Python distribution owning that script or module.
    pub python_distribution: Option<String>,
    /// Its version.
    pub python_distribution_version: Option<String>,
    /// The distribution package owning its metadata directory
    /// (`python3-heat`), when one does.
    pub python_distribution_package: Option<String>,
    /// Its metadata directory (`*.dist-info` or `*.egg-info`), as the
    /// process sees it.
    pub python_distribution_path: Option<String>,
    /// gmr's version.
    pub gmr_version: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
}
