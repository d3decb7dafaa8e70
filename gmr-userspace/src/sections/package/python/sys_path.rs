//! The directories a Python process has on `sys.path`, worked out from the
//! outside the way CPython's `site` module builds it: the script's directory
//! (or the working directory), `PYTHONPATH`, the user site directory, and the
//! site directories of the interpreter's prefix — or of its virtual
//! environment, when `pyvenv.cfg` sits next to the executable it was started
//! as. Debian's layout (`/usr/lib/python3/dist-packages`,
//! `/usr/local/lib/python3.X/dist-packages`) is included.
//!
//! The standard library and `.pth` additions are left out: distributions are
//! installed in site directories, and `.pth` files are code. Only
//! directories that exist in the process's root are returned.

use std::collections::HashMap;

use super::argv::{Invocation, Main};
use crate::sections::package::root::{RootFs, absolutize, file_name, parent};

/// Largest `pyvenv.cfg` read; real ones are a few lines.
const MAX_PYVENV_CFG_SIZE: u64 = 64 * 1024;

/// What is known about a Python process, read from /proc.
#[derive(Debug)]
pub(super) struct PythonProcess<'a> {
    /// The process's filesystem tree.
    pub(super) root: &'a RootFs,
    /// The interpreter binary, as `/proc/PID/exe` names it.
    pub(super) exe: &'a str,
    /// `argv[0]`: how the interpreter was invoked, before symlinks.
    pub(super) argv0: &'a str,
    /// The parsed command line.
    pub(super) invocation: &'a Invocation,
    /// The process's environment.
    pub(super) env: &'a HashMap<String, String>,
    /// The process's working directory, as it sees it.
    pub(super) cwd: &'a str,
}

/// A virtual environment, from its `pyvenv.cfg`.
#[derive(Debug, Default, PartialEq, Eq)]
struct Venv {
    /// The directory holding `pyvenv.cfg`.
    dir: String,
    /// `home`: the base interpreter's directory.
    home: Option<String>,
    /// `include-system-site-packages = true`.
    include_system_site: bool,
    /// `version` / `version_info`, cut to `X.Y`.
    version: Option<String>,
}

/// The site and search directories of `process`, in `sys.path` order.
pub(super) fn sys_path(process: &PythonProcess<'_>) -> Vec<String> {
    let root = process.root;
    let invocation = process.invocation;
    let venv = find_venv(process);
    let exe_prefix = parent(parent(process.exe));
    let base_prefix = venv
        .as_ref()
        .and_then(|venv| venv.home.as_deref())
        .map_or(exe_prefix, parent);
    let version = python_version(file_name(process.exe))
        .or_else(|| venv.as_ref().and_then(|venv| venv.version.clone()))
        .or_else(|| lib_version(root, base_prefix));
    let env = |name: &str| {
        (!invocation.ignore_environment)
            .then(|| process.env.get(name))
            .flatten()
            .filter(|value| !value.is_empty())
    };

    let mut dirs = Vec::new();
    if !invocation.safe_path {
        dirs.push(match &invocation.main {
            Main::Script(script) => parent(&absolutize(process.cwd, script)).to_owned(),
            _ => process.cwd.to_owned(),
        });
    }
    if let Some(python_path) = env("PYTHONPATH") {
        dirs.extend(
            python_path
                .split(':')
                .filter(|entry| !entry.is_empty())
                .map(|entry| absolutize(process.cwd, entry)),
        );
    }
    if let Some(version) = &version {
        let user_base = env("PYTHONUSERBASE")
            .cloned()
            .or_else(|| process.env.get("HOME").map(|home| format!("{home}/.local")));
        let user_site =
            !invocation.no_user_site && venv.is_none() && env("PYTHONNOUSERSITE").is_none();
        if let Some(user_base) = user_base.filter(|_| user_site) {
            dirs.push(absolutize(
                process.cwd,
                &format!("{user_base}/lib/python{version}/site-packages"),
            ));
        }
        if let Some(venv) = &venv {
            dirs.extend(prefix_site_dirs(&venv.dir, version));
        }
        if venv.as_ref().is_none_or(|venv| venv.include_system_site) {
            dirs.extend(prefix_site_dirs(base_prefix, version));
        }
    }
    let mut seen = std::collections::HashSet::new();
    dirs.retain(|dir| seen.insert(dir.clone()) && root.is_dir(dir));
    dirs
}

/// The site directories of installation prefix `prefix` for Python `version`
/// (`X.Y`), Debian's first.
fn prefix_site_dirs(prefix: &str, version: &str) -> Vec<String> {
    let prefix = if prefix == "/" { "" } else { prefix };
    let mut dirs = Vec::new();
    if prefix == "/usr" {
        // Debian's site.py: local installs, then packaged, then legacy.
        dirs.push(format!("/usr/local/lib/python{version}/dist-packages"));
        dirs.push("/usr/lib/python3/dist-packages".to_owned());
        dirs.push(format!("/usr/lib/python{version}/dist-packages"));
        // Fedora and others also add /usr/local.
        dirs.push(format!("/usr/local/lib/python{version}/site-packages"));
        dirs.push(format!("/usr/local/lib64/python{version}/site-packages"));
    }
    dirs.push(format!("{prefix}/lib/python{version}/site-packages"));
    dirs.push(format!("{prefix}/lib64/python{version}/site-packages"));
    dirs
}

/// `X.Y` from an interpreter file name like `python3.11`; `None` for
/// `python3` or `python`, which do not say.
fn python_version(name: &str) -> Option<String> {
    let version = name.strip_prefix("python")?;
    let (major, minor) = version.split_once('.')?;
    let minor = minor.split('.').next()?;
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    (digits(major) && digits(minor)).then(|| format!("{major}.{minor}"))
}

/// `X.Y` of the newest `lib/pythonX.Y` with a standard library (`os.py`)
/// under `prefix`.
fn lib_version(root: &RootFs, prefix: &str) -> Option<String> {
    let lib = format!("{}/lib", prefix.trim_end_matches('/'));
    let mut versions: Vec<(u32, u32, String)> = root
        .read_dir(&lib)
        .ok()?
        .into_iter()
        .filter_map(|name| {
            let version = python_version(name.to_str()?)?;
            let (major, minor) = version.split_once('.')?;
            Some((major.parse().ok()?, minor.parse().ok()?, version))
        })
        .filter(|(_, _, version)| root.is_file(&format!("{lib}/python{version}/os.py")))
        .collect();
    versions.sort();
    versions.pop().map(|(_, _, version)| version)
}

/// The virtual environment the interpreter runs in, if any: CPython looks
/// for `pyvenv.cfg` next to the executable it was started as, or one level
/// up. `/proc/PID/exe` has its symlinks resolved (a venv's `bin/python` is
/// usually a symlink to the base interpreter), so `argv[0]` is the guide,
/// searched in the process's `PATH` when it has no slash.
fn find_venv(process: &PythonProcess<'_>) -> Option<Venv> {
    let root = process.root;
    let invoked = if process.argv0.contains('/') {
        Some(absolutize(process.cwd, process.argv0))
    } else if process.argv0.is_empty() {
        None
    } else {
        process.env.get("PATH").and_then(|path| {
            path.split(':')
                .filter(|dir| !dir.is_empty())
                .map(|dir| absolutize(process.cwd, &format!("{dir}/{}", process.argv0)))
                .find(|candidate| root.is_file(candidate))
        })
    };
    let mut candidates: Vec<String> = Vec::new();
    for executable in invoked.iter().map(String::as_str).chain([process.exe]) {
        let bin = parent(executable);
        candidates.push(bin.to_owned());
        candidates.push(parent(bin).to_owned());
    }
    candidates.into_iter().find_map(|dir| {
        let cfg = format!("{}/pyvenv.cfg", dir.trim_end_matches('/'));
        let text = root.read_text(&cfg, MAX_PYVENV_CFG_SIZE).ok()?;
        Some(parse_pyvenv_cfg(dir, &text))
    })
}

/// Parses `pyvenv.cfg` (`key = value` lines) of the venv in `dir`.
fn parse_pyvenv_cfg(dir: String, text: &str) -> Venv {
    let mut venv = Venv {
        dir,
        ..Venv::default()
    };
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "home" => venv.home = Some(value.trim_end_matches('/').to_owned()),
            "include-system-site-packages" => {
                venv.include_system_site = value.eq_ignore_ascii_case("true");
            }
            "version" | "version_info" => {
                let mut parts = value.split('.');
                if let (Some(major), Some(minor)) = (parts.next(), parts.next()) {
                    venv.version = Some(format!("{major}.{minor}"));
                }
            }
            _ => {}
        }
    }
    venv
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sections::package::python::argv;

    fn invocation(args: &[&str]) -> Invocation {
        let args: Vec<String> = args.iter().map(|&a| a.to_owned()).collect();
        argv::parse(&args)
    }

    #[test]
    fn versions_from_names() {
        assert_eq!(python_version("python3.11").as_deref(), Some("3.11"));
        assert_eq!(python_version("python3.13.0").as_deref(), Some("3.13"));
        assert_eq!(python_version("python3"), None);
        assert_eq!(python_version("python3.x"), None);
    }

    #[test]
    fn pyvenv_cfg() {
        let venv = parse_pyvenv_cfg(
            "/srv/venv".to_owned(),
            "home = /usr/bin/\ninclude-system-site-packages = True\nversion = 3.11.2\n",
        );
        assert_eq!(venv.home.as_deref(), Some("/usr/bin"));
        assert!(venv.include_system_site);
        assert_eq!(venv.version.as_deref(), Some("3.11"));
        let uv = parse_pyvenv_cfg("/v".to_owned(), "version_info = 3.12.1.final.0\n");
        assert_eq!(uv.version.as_deref(), Some("3.12"));
        assert!(!uv.include_system_site);
    }

    #[test]
    fn debian_python_sees_dist_packages_and_pythonpath() {
        let root = RootFs::open(std::process::id()).expect("own root");
        let invocation = invocation(&["-m", "x"]);
        let env = HashMap::from([
            (
                "PYTHONPATH".to_owned(),
                "/usr/share:relative-missing".to_owned(),
            ),
            ("HOME".to_owned(), "/nonexistent-home".to_owned()),
        ]);
        let process = PythonProcess {
            root: &root,
            exe: "/usr/bin/python3.11",
            argv0: "python3",
            invocation: &invocation,
            env: &env,
            cwd: "/tmp",
        };
        let dirs = sys_path(&process);
        assert_eq!(dirs[..2], ["/tmp", "/usr/share"]);
        assert!(
            dirs.contains(&"/usr/lib/python3/dist-packages".to_owned()),
            "{dirs:?}"
        );
        let isolated = invocation_with_env_ignored();
        let dirs = sys_path(&PythonProcess {
            invocation: &isolated,
            ..process
        });
        assert!(!dirs.contains(&"/usr/share".to_owned()), "{dirs:?}");
        assert!(!dirs.contains(&"/tmp".to_owned()), "{dirs:?}");
    }

    fn invocation_with_env_ignored() -> Invocation {
        invocation(&["-I", "/tmp/x.py"])
    }

    #[test]
    fn pyenv_prefix_site_packages() {
        let root = RootFs::open(std::process::id()).expect("own root");
        let Some(version) = ["3.11.7", "3.12.1"]
            .into_iter()
            .find(|v| root.is_dir(&format!("/root/.pyenv/versions/{v}")))
        else {
            println!("SKIP: no pyenv build");
            return;
        };
        let minor = &version[..version.rfind('.').expect("x.y.z")];
        let invocation = invocation(&["/srv/x.py"]);
        let env = HashMap::new();
        let exe = format!("/root/.pyenv/versions/{version}/bin/python{minor}");
        let dirs = sys_path(&PythonProcess {
            root: &root,
            exe: &exe,
            argv0: &exe,
            invocation: &invocation,
            env: &env,
            cwd: "/",
        });
        let site = format!("/root/.pyenv/versions/{version}/lib/python{minor}/site-packages");
        assert!(dirs.contains(&site), "{dirs:?}");
        assert!(
            !dirs.iter().any(|d| d.contains("dist-packages")),
            "{dirs:?}"
        );
        assert_eq!(
            lib_version(&root, &format!("/root/.pyenv/versions/{version}")).as_deref(),
            Some(minor)
        );
    }
}
