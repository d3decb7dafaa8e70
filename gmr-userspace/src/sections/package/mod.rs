//! The Package section: what the process runs — its executable (as the
//! process and as the host see it, deleted or not, build-id, ELF
//! interpreter), the distribution package that owns it with its version,
//! for a Python interpreter the script or module it runs and the Python
//! distribution that owns that — and oslo's `vendor`, `product` and
//! `version` filled from the most specific of these.
//!
//! The executable is read through `/proc/PID/exe`, which names the very
//! inode the process executes: it still works when the file was deleted or
//! upgraded in place. Every other file (package databases, os-release,
//! Python metadata) is read through the process's own root, so a process in
//! a container is described by its container's packages. Each lookup that
//! fails only leaves its field empty; only a process that is gone fails the
//! section.

mod dpkg;
mod elf;
mod os_release;
mod python;
pub(crate) mod root;
mod rpm;
mod started_as;

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;

pub use self::dpkg::PackageDb;
use self::os_release::OsRelease;
use self::python::PythonFacts;
use self::root::RootFs;
use super::describe_io_error;
use super::process_args::{CommandLine, read_command_line};
use crate::model::Package;

/// The section's title in reports.
pub const TITLE: &str = "Package";

/// What the kernel appends to `/proc/PID/exe` once the file is unlinked.
const DELETED_SUFFIX: &[u8] = b" (deleted)";

/// Generates the Package section for process `pid`, looking packages up in
/// (and caching their indexes in) `db`.
///
/// Fails only when the process does not exist or exits meanwhile; a process
/// without an executable (a kernel thread, a zombie), or one whose details
/// cannot be read, gives `None` for those fields.
pub fn package(pid: u32, db: &mut PackageDb) -> Result<Package, String> {
    let proc_dir = format!("/proc/{pid}");
    if !Path::new(&proc_dir).exists() {
        return Err(crate::proc::files::missing_process(pid));
    }
    let mut package = Package {
        gmr_version: env!("CARGO_PKG_VERSION").to_owned(),
        kernel: kernel_release(),
        own_mount_namespace: own_mount_namespace(pid),
        ..Package::default()
    };
    let root = RootFs::open(pid)
        .inspect_err(|error| log::debug!("process {pid}: {error}"))
        .ok();
    let os = root
        .as_ref()
        .map(os_release::os_release)
        .unwrap_or_default();
    package.operating_system = os.pretty_name.clone();
    if let Some(exe) = executable(pid) {
        package.executable_host_path = exe.host_path(root.as_ref());
        package.executable = Some(exe.path.clone());
        package.executable_deleted = exe.deleted;
        package.build_id = exe.build_id;
        package.elf_interpreter = exe.interpreter;
        package.go_version = exe.go_version;
        if let Some(root) = &root {
            let started_as = read_command_line(pid)
                .ok()
                .and_then(|command_line| started_as::started_as(pid, root, &command_line))
                .filter(|path| *path != exe.path);
            describe_origin(&mut package, db, root, &os, pid, &exe.path, started_as);
        }
    }
    // Lookups in a vanished process's /proc fail quietly; do not let their
    // empty fields pass for facts.
    if !Path::new(&proc_dir).exists() {
        return Err(format!(
            "process {pid} exited while its package was looked up"
        ));
    }
    Ok(package)
}

/// The distribution packages of a program: the one the user ran, and the
/// owner of the executable's own path when that is another one.
struct ProgramPackages {
    /// The owner of the path the process was started as, else of the
    /// executable.
    program: Option<DistroPackage>,
    /// The owner of the executable, when it is not `program`.
    executable: Option<DistroPackage>,
}

impl ProgramPackages {
    /// Looks up the owners of `exe` and of `started_as` in `root`.
    fn find(db: &mut PackageDb, root: &RootFs, exe: &str, started_as: Option<&str>) -> Self {
        let exe_package = owner(db, root, exe);
        match started_as.and_then(|path| owner(db, root, path)) {
            Some(program) if exe_package.as_ref().is_some_and(|e| e.name != program.name) => Self {
                program: Some(program),
                executable: exe_package,
            },
            Some(program) => Self {
                program: Some(program),
                executable: None,
            },
            None => Self {
                program: exe_package,
                executable: None,
            },
        }
    }
}

/// A distribution package owning a file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct DistroPackage {
    /// `dpkg` or `rpm`.
    pub(super) manager: &'static str,
    /// Package name, without a multi-arch qualifier.
    pub(super) name: String,
    /// Installed version, as the package manager prints it.
    pub(super) version: Option<String>,
    /// The package's vendor, when the package manager records one (rpm).
    pub(super) vendor: Option<String>,
    /// The maintainer's name (dpkg), a last resort for the vendor.
    pub(super) maintainer: Option<String>,
}

/// The dpkg or rpm package owning `path` in `root`.
fn owner(db: &mut PackageDb, root: &RootFs, path: &str) -> Option<DistroPackage> {
    db.dpkg_owner(root, path)
        .or_else(|| rpm::rpm_owner(root, path))
}

/// The configuration files of `package` in `root`: dpkg's `Conffiles:`
/// (obsolete ones left out), or rpm's `%config` files.
fn conffiles(db: &mut PackageDb, root: &RootFs, package: &DistroPackage) -> Vec<String> {
    match package.manager {
        "rpm" => rpm::rpm_conffiles(root, &package.name),
        _ => db.dpkg_conffiles(root, &package.name),
    }
}

/// The package the program of process `pid` comes from (as the Package
/// section names it, looked up in `db`) and that package's configuration
/// files, as the process sees them; `None` when no package owns the
/// program.
pub(crate) fn program_conffiles(
    pid: u32,
    root: &RootFs,
    command_line: &CommandLine,
    db: &mut PackageDb,
) -> Option<(String, Vec<String>)> {
    let exe = root::proc_link(pid, "exe").ok()?;
    let started_as = started_as::started_as(pid, root, command_line);
    // As ProgramPackages::find chooses, without searching for the
    // executable's owner when the started path has one.
    let program = started_as
        .and_then(|path| owner(db, root, &path))
        .or_else(|| owner(db, root, &exe))?;
    let conffiles = conffiles(db, root, &program);
    Some((program.name, conffiles))
}

/// Fills the package, Python and vendor/product/version fields of process
/// `pid`, whose executable is `exe` (as the process sees it) and which was
/// started as `started_as` when that is another path.
fn describe_origin(
    package: &mut Package,
    db: &mut PackageDb,
    root: &RootFs,
    os: &OsRelease,
    pid: u32,
    exe: &str,
    started_as: Option<String>,
) {
    let python = if python::is_interpreter(exe) {
        python::inspect(pid, root, exe)
    } else {
        PythonFacts::default()
    };
    // The program of an interpreter running a packaged script is the
    // script (`/usr/bin/heat-api` → `heat-api`); the interpreter's package
    // stays as the executable's.
    let packages = match python.script.as_deref().and_then(|s| owner(db, root, s)) {
        Some(script) => ProgramPackages {
            executable: owner(db, root, exe).filter(|e| e.name != script.name),
            program: Some(script),
        },
        None => ProgramPackages::find(db, root, exe, started_as.as_deref()),
    };
    package.started_as = started_as;
    package.executable_package = packages.executable.map(|distro| distro.name);
    let exe_package = packages.program;
    let mut owner_of = |path: &str| owner(db, root, path);
    let vendor_of = |distro: &DistroPackage| {
        distro
            .vendor
            .clone()
            .or_else(|| os.vendor())
            .or_else(|| distro.maintainer.clone())
    };
    let distribution_owner = python
        .distribution
        .as_ref()
        .and_then(|dist| owner_of(&dist.path));
    package.python_distribution_package = distribution_owner
        .as_ref()
        .map(|distro| distro.name.clone());
    let (vendor, product, version) = if let Some(dist) = &python.distribution {
        let vendor = distribution_owner
            .as_ref()
            .and_then(vendor_of)
            .or_else(|| dist.author.clone());
        (vendor, Some(dist.name.clone()), dist.version.clone())
    } else if let Some(distro) = &exe_package {
        (
            vendor_of(distro),
            Some(distro.name.clone()),
            distro.version.clone(),
        )
    } else {
        (None, None, None)
    };
    package.vendor = vendor;
    package.product = product;
    package.version = version;
    if let Some(distro) = exe_package {
        package.package_manager = Some(distro.manager.to_owned());
        package.distro_package = Some(distro.name);
        package.distro_package_version = distro.version;
    }
    package.python_main = python.main;
    if let Some(dist) = python.distribution {
        package.python_distribution = Some(dist.name);
        package.python_distribution_version = dist.version;
        package.python_distribution_path = Some(dist.path);
    }
}

/// The executable of a process, as far as `/proc/PID/exe` tells.
struct Executable {
    /// Its path as the process sees it, without the deleted marker.
    path: String,
    deleted: bool,
    build_id: Option<String>,
    interpreter: Option<String>,
    go_version: Option<String>,
    /// The open executable itself, for comparing it with files by path.
    file: Option<File>,
}

impl Executable {
    /// Where the agent reaches this very file by path: the path itself, else
    /// the path inside `/proc/PID/root`; `None` when neither leads to it.
    fn host_path(&self, root: Option<&RootFs>) -> Option<String> {
        let exe = self.file.as_ref()?.metadata().ok()?;
        let same_file = |meta: fs::Metadata| meta.dev() == exe.dev() && meta.ino() == exe.ino();
        if fs::metadata(&self.path).is_ok_and(same_file) {
            return Some(self.path.clone());
        }
        let root = root?;
        root.metadata(&self.path)
            .is_ok_and(same_file)
            .then(|| root.host_view(&self.path))
    }
}

/// Reads `/proc/PID/exe`: `None` for a process without an executable (a
/// kernel thread, a zombie) or whose link cannot be read.
fn executable(pid: u32) -> Option<Executable> {
    let exe_link = format!("/proc/{pid}/exe");
    let target = fs::read_link(&exe_link)
        .inspect_err(|error| {
            if error.kind() != io::ErrorKind::NotFound {
                log::debug!("cannot read {exe_link}: {}", describe_io_error(error));
            }
        })
        .ok()?;
    let file = File::open(&exe_link)
        .inspect_err(|error| log::debug!("cannot open {exe_link}: {}", describe_io_error(error)))
        .ok();
    let (path, deleted) = split_deleted(target.as_os_str(), file.as_ref());
    let facts = file
        .as_ref()
        .and_then(|file| {
            elf::read_elf_facts(file)
                .inspect_err(|error| log::debug!("cannot parse {exe_link}: {error}"))
                .ok()
        })
        .unwrap_or_default();
    Some(Executable {
        path: path.to_string_lossy().into_owned(),
        deleted,
        build_id: facts.build_id,
        interpreter: facts.interpreter,
        go_version: facts.go_version,
        file,
    })
}

/// True when process `pid` has a mount namespace other than the host's.
///
/// The host's is that of the outermost of the agent's ancestors whose
/// namespace can be read: pid 1's, or, where pid 1 is hidden, the process
/// just below it. Not the agent's own: a sandboxed agent (systemd's
/// `ProtectSystem=`) or one in a container (`--pid host`) runs in a mount
/// namespace of its own.
fn own_mount_namespace(pid: u32) -> bool {
    let namespace =
        |pid: u32| fs::metadata(format!("/proc/{pid}/ns/mnt")).map(|meta| (meta.dev(), meta.ino()));
    let mut host = namespace(std::process::id()).ok();
    let mut ancestor = std::process::id();
    while let Some(parent) = parent_pid(ancestor).filter(|&parent| parent != 0) {
        if let Ok(theirs) = namespace(parent) {
            host = Some(theirs);
        }
        ancestor = parent;
    }
    match (host, namespace(pid)) {
        (Some(host), Ok(theirs)) => host != theirs,
        _ => false,
    }
}

/// The parent of process `pid`, from `/proc/PID/stat`.
fn parent_pid(pid: u32) -> Option<u32> {
    u32::try_from(crate::proc::files::stat(pid)?.ppid).ok()
}

/// Splits the kernel's ` (deleted)` marker off an exe link target.
///
/// The marker is believed only if the open executable really has no links
/// left (when it could be opened), since a file may be named `x (deleted)`.
fn split_deleted<'a>(target: &'a OsStr, exe: Option<&File>) -> (&'a OsStr, bool) {
    let Some(path) = target.as_bytes().strip_suffix(DELETED_SUFFIX) else {
        return (target, false);
    };
    let unlinked = exe.is_none_or(|file| file.metadata().is_ok_and(|meta| meta.nlink() == 0));
    if unlinked {
        (OsStr::from_bytes(path), true)
    } else {
        (target, false)
    }
}

/// The running kernel's release, as `uname -r` prints it.
pub fn kernel_release() -> String {
    rustix::system::uname()
        .release()
        .to_string_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead as _, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use crate::test_support::Reaped;

    fn build_id_of(path: &Path) -> Option<String> {
        let bytes = fs::read(path).expect("read executable");
        let file = object::File::parse(&*bytes).expect("parse executable");
        object::Object::build_id(&file)
            .expect("notes parse")
            .map(|id| id.iter().map(|b| format!("{b:02x}")).collect())
    }

    fn dpkg_version(package: &str) -> String {
        let out = Command::new("dpkg-query")
            .args(["-W", "-f", "${Version}", package])
            .output()
            .expect("run dpkg-query");
        String::from_utf8(out.stdout).expect("utf-8 version")
    }

    /// Waits until process `pid` shows its arguments: execve fills them in
    /// after `/proc/PID/exe` already names the new program.
    pub(super) fn wait_for_command_line(pid: u32) {
        for _ in 0..500 {
            if fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|args| !args.is_empty()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        panic!("process {pid} never showed its command line");
    }

    /// Spawns `command` and waits for its first stdout line, so the process
    /// has certainly exec'd and set up.
    fn spawn_ready(command: &mut Command) -> Reaped {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("read ready line");
        assert_eq!(line.trim(), "ready", "the child did not start");
        Reaped(child)
    }

    /// A scratch directory with a fake distribution `mydist` 1.2.3 whose
    /// package `myservice` prints `ready` and sleeps; removed on drop.
    struct FakeSite(std::path::PathBuf);

    impl FakeSite {
        fn new(label: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("gmr-site-{label}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(dir.join("myservice")).expect("mkdir");
            fs::create_dir_all(dir.join("mydist-1.2.3.dist-info")).expect("mkdir");
            fs::write(
                dir.join("myservice/__init__.py"),
                "import time\nprint('ready', flush=True)\ntime.sleep(60)\n",
            )
            .expect("write module");
            fs::write(
                dir.join("mydist-1.2.3.dist-info/RECORD"),
                "myservice/__init__.py,sha256=x,60\nmydist-1.2.3.dist-info/RECORD,,\n",
            )
            .expect("write RECORD");
            Self(dir)
        }

        fn path(&self) -> &str {
            self.0.to_str().expect("utf-8 temp dir")
        }
    }

    impl Drop for FakeSite {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn package_of_this_process() {
        let package = package(std::process::id(), &mut PackageDb::new()).expect("package");
        let exe = std::env::current_exe().expect("current_exe");
        assert_eq!(package.executable.as_deref(), exe.to_str());
        assert_eq!(package.executable_host_path.as_deref(), exe.to_str());
        assert!(!package.executable_deleted);
        assert!(!package.own_mount_namespace);
        let build_id = package.build_id.expect("test binary has a build-id");
        assert!(build_id.len() >= 16, "{build_id}");
        assert_eq!(Some(build_id), build_id_of(&exe));
        assert_eq!(package.gmr_version, env!("CARGO_PKG_VERSION"));
        // Built by cargo, owned by no package.
        assert_eq!(package.distro_package, None);
        assert_eq!(package.product, None);
        assert!(package.operating_system.is_some());
        let mut uname = Command::new("uname").arg("-r").output().expect("uname -r");
        assert!(uname.status.success());
        uname.stdout.pop();
        assert_eq!(package.kernel.as_bytes(), uname.stdout);
    }

    #[test]
    fn nonexistent_process() {
        assert_eq!(
            package(u32::MAX, &mut PackageDb::new()).expect_err("no such process"),
            "process 4294967295 does not exist"
        );
    }

    #[test]
    fn packaged_binary_names_its_package_and_vendor() {
        let child = Reaped(
            Command::new("/bin/sleep")
                .arg("30")
                .spawn()
                .expect("spawn sleep"),
        );
        // spawn returns once the child has exec'd: /proc/PID/exe is sleep;
        // its argument area is set up a moment later, still in execve.
        wait_for_command_line(child.0.id());
        let package = package(child.0.id(), &mut PackageDb::new()).expect("package");
        assert_eq!(package.executable.as_deref(), Some("/usr/bin/sleep"));
        assert_eq!(
            package.executable_host_path.as_deref(),
            Some("/usr/bin/sleep")
        );
        assert_eq!(package.distro_package.as_deref(), Some("coreutils"));
        // /bin/sleep is /usr/bin/sleep through the merged /usr: one owner.
        assert_eq!(package.started_as.as_deref(), Some("/bin/sleep"));
        assert_eq!(package.executable_package, None);
        assert_eq!(package.package_manager.as_deref(), Some("dpkg"));
        let version = dpkg_version("coreutils");
        assert_eq!(
            package.distro_package_version.as_deref(),
            Some(version.as_str())
        );
        assert_eq!(package.vendor.as_deref(), Some("Debian"));
        assert_eq!(package.product.as_deref(), Some("coreutils"));
        assert_eq!(package.version, Some(version));
        let loader = package.elf_interpreter.expect("sleep is dynamic");
        assert!(loader.contains("ld-linux"), "{loader}");
        assert_eq!(package.python_main, None);
    }

    #[test]
    fn python_module_of_a_fake_distribution() {
        let site = FakeSite::new("module");
        let child = spawn_ready(
            Command::new("/usr/bin/python3")
                .args(["-m", "myservice"])
                .env("PYTHONPATH", site.path()),
        );
        let package = package(child.0.id(), &mut PackageDb::new()).expect("package");
        assert_eq!(package.executable.as_deref(), Some("/usr/bin/python3.11"));
        // Started as the symlink /usr/bin/python3: its owner is the package.
        assert_eq!(package.started_as.as_deref(), Some("/usr/bin/python3"));
        assert_eq!(package.distro_package.as_deref(), Some("python3-minimal"));
        assert_eq!(
            package.executable_package.as_deref(),
            Some("python3.11-minimal")
        );
        assert_eq!(package.python_main.as_deref(), Some("-m myservice"));
        assert_eq!(package.python_distribution.as_deref(), Some("mydist"));
        assert_eq!(
            package.python_distribution_version.as_deref(),
            Some("1.2.3")
        );
        assert_eq!(
            package.python_distribution_path,
            Some(format!("{}/mydist-1.2.3.dist-info", site.path()))
        );
        assert_eq!(package.product.as_deref(), Some("mydist"));
        assert_eq!(package.version.as_deref(), Some("1.2.3"));
        // Neither packaged nor with an author: nobody to name.
        assert_eq!(package.vendor, None);
    }

    #[test]
    fn python_script_of_a_fake_distribution() {
        let site = FakeSite::new("script");
        let script = format!("{}/myservice/__init__.py", site.path());
        let child = spawn_ready(
            Command::new("/usr/bin/python3")
                .args(["-u", &script])
                .env("PYTHONPATH", site.path()),
        );
        let package = package(child.0.id(), &mut PackageDb::new()).expect("package");
        assert_eq!(package.python_main.as_deref(), Some(script.as_str()));
        assert_eq!(package.product.as_deref(), Some("mydist"));
    }

    #[test]
    fn python_command_string_falls_back_to_the_interpreter_package() {
        let child = spawn_ready(Command::new("/usr/bin/python3").args([
            "-c",
            "import time; print('ready', flush=True); time.sleep(60)",
        ]));
        let package = package(child.0.id(), &mut PackageDb::new()).expect("package");
        assert_eq!(package.python_main.as_deref(), Some("<command string>"));
        assert_eq!(package.python_distribution, None);
        assert_eq!(package.product.as_deref(), Some("python3-minimal"));
        assert_eq!(package.vendor.as_deref(), Some("Debian"));
        assert_eq!(package.version, Some(dpkg_version("python3-minimal")));
    }

    #[test]
    fn python_in_a_venv_sees_the_venv_site_packages() {
        let Some(base) = fs::read_dir("/root/.pyenv/versions")
            .into_iter()
            .flatten()
            .filter_map(Result::ok)
            .map(|entry| entry.path().join("bin/python3"))
            .find(|python| python.exists() && python.to_string_lossy().contains("/3.1"))
        else {
            println!("SKIP: no pyenv Python 3.1x");
            return;
        };
        let scratch = FakeSite::new("venv");
        let venv = scratch.0.join("venv");
        let status = Command::new(&base)
            .args(["-m", "venv", "--without-pip"])
            .arg(&venv)
            .status()
            .expect("run venv");
        assert!(status.success(), "{} -m venv failed", base.display());
        let lib = fs::read_dir(venv.join("lib"))
            .expect("venv lib")
            .find_map(Result::ok)
            .expect("lib/pythonX.Y")
            .path()
            .join("site-packages");
        for name in ["myservice", "mydist-1.2.3.dist-info"] {
            fs::rename(scratch.0.join(name), lib.join(name)).expect("move into venv");
        }
        let child = spawn_ready(
            Command::new(venv.join("bin/python"))
                .args(["-m", "myservice"])
                .env_remove("PYTHONPATH"),
        );
        let package = package(child.0.id(), &mut PackageDb::new()).expect("package");
        let exe = package.executable.expect("exe");
        assert!(exe.starts_with("/root/.pyenv/versions/"), "{exe}");
        assert_eq!(package.product.as_deref(), Some("mydist"));
        assert_eq!(
            package.python_distribution_path,
            Some(format!("{}/mydist-1.2.3.dist-info", lib.display()))
        );
    }

    #[test]
    fn binary_in_its_own_mount_namespace() {
        // A tmpfs only the child's namespace has, holding its own sleep.
        let child = spawn_ready(Command::new("unshare").args([
            "-m",
            "sh",
            "-c",
            "mount -t tmpfs gmr-test /mnt && cp /bin/sleep /mnt/gmr-sleep && echo ready \
             && exec /mnt/gmr-sleep 60",
        ]));
        let pid = child.0.id();
        // `ready` comes just before the exec.
        for _ in 0..500 {
            if fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e.ends_with("gmr-sleep")) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let package = package(pid, &mut PackageDb::new()).expect("package");
        assert_eq!(package.executable.as_deref(), Some("/mnt/gmr-sleep"));
        assert!(package.own_mount_namespace);
        assert!(!package.executable_deleted);
        assert_eq!(
            package.executable_host_path,
            Some(format!("/proc/{pid}/root/mnt/gmr-sleep"))
        );
        assert_eq!(package.build_id, build_id_of(Path::new("/bin/sleep")));
        assert_eq!(package.distro_package, None);
        assert!(package.operating_system.is_some());
    }

    #[test]
    fn deleted_executable_keeps_its_build_id() {
        let original = Path::new("/bin/sleep");
        let expected_id = build_id_of(original);
        // Next to the test binary: a directory that certainly allows exec.
        let exe = std::env::current_exe().expect("current_exe");
        let copy = exe.with_file_name(format!("gmr-package-test-sleep-{}", std::process::id()));
        fs::copy(original, &copy).expect("copy sleep");
        // Another test thread forking while the copy was open for writing
        // can make exec fail with ETXTBSY for a moment; retry briefly.
        let mut attempts = 0;
        let child = loop {
            match Command::new(&copy).arg("30").spawn() {
                Ok(child) => break Reaped(child),
                Err(error) if error.raw_os_error() == Some(libc::ETXTBSY) && attempts < 50 => {
                    attempts += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(error) => panic!("spawn copy of sleep: {error}"),
            }
        };
        fs::remove_file(&copy).expect("delete copy");
        let package = package(child.0.id(), &mut PackageDb::new()).expect("package");
        assert_eq!(package.executable.as_deref(), copy.to_str());
        assert!(package.executable_deleted);
        assert_eq!(package.executable_host_path, None);
        assert_eq!(package.build_id, expected_id);
        assert!(package.elf_interpreter.is_some());
        assert_eq!(package.distro_package, None);
    }

    #[test]
    fn deleted_marker_needs_an_unlinked_file() {
        let live = File::open("/bin/sh").expect("open /bin/sh");
        let target = OsStr::new("/opt/x (deleted)");
        assert_eq!(split_deleted(target, Some(&live)), (target, false));
        assert_eq!(split_deleted(target, None), (OsStr::new("/opt/x"), true));
        assert_eq!(
            split_deleted(OsStr::new("/bin/sh"), Some(&live)),
            (OsStr::new("/bin/sh"), false)
        );
    }
}
