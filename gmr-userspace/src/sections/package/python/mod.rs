//! For a Python interpreter, what it runs and which Python distribution
//! that belongs to: the executable says only "python3.11"; the service is
//! the script or module named on its command line.
//!
//! Everything comes from `/proc/PID/{cmdline,environ,cwd}` and files read
//! through the process's root, so it works for containers and never touches
//! the process itself.

mod argv;
mod dist;
mod sys_path;

use std::collections::HashMap;
use std::fs;

use self::argv::{Invocation, Main};
pub(super) use self::dist::Distribution;
use self::sys_path::PythonProcess;
use super::root::{RootFs, absolutize, file_name, proc_link};

/// How much of a file is read to find its `#!` line.
const SHEBANG_HEAD: u64 = 256;

/// What a Python process runs.
#[derive(Debug, Default)]
pub(super) struct PythonFacts {
    /// The report's description of the main program (see `Main::describe`).
    pub(super) main: Option<String>,
    /// The script file, absolute as the process sees it, when a script runs.
    pub(super) script: Option<String>,
    /// The distribution owning the script or module.
    pub(super) distribution: Option<Distribution>,
}

/// True when the executable `exe` (a path) is a CPython interpreter.
pub(super) fn is_interpreter(exe: &str) -> bool {
    argv::is_python_name(file_name(exe))
}

/// Inspects Python process `pid`, whose interpreter is `exe`.
///
/// Unreadable pieces leave their fields empty: a process whose command line
/// cannot be read still has a Package section.
pub(super) fn inspect(pid: u32, root: &RootFs, exe: &str) -> PythonFacts {
    let Some(args) = read_nul_separated(pid, "cmdline") else {
        return PythonFacts::default();
    };
    let cwd = proc_link(pid, "cwd")
        .inspect_err(|error| log::debug!("cannot read /proc/{pid}/cwd: {error}"))
        .unwrap_or_else(|_| "/".to_owned());
    let env: HashMap<String, String> = read_nul_separated(pid, "environ")
        .unwrap_or_default()
        .into_iter()
        .filter_map(|entry| {
            let (key, value) = entry.split_once('=')?;
            Some((key.to_owned(), value.to_owned()))
        })
        .collect();
    let argv0 = args.first().map(String::as_str).unwrap_or_default();
    let invocation = match script_in_argv0(root, argv0, &cwd) {
        Some(script) => Invocation {
            main: Main::Script(script),
            ..argv::parse(&[])
        },
        None => argv::parse(args.get(1..).unwrap_or_default()),
    };
    let process = PythonProcess {
        root,
        exe,
        argv0,
        invocation: &invocation,
        env: &env,
        cwd: &cwd,
    };
    let sys_path = sys_path::sys_path(&process);
    log::debug!("sys.path of process {pid} (site and search directories): {sys_path:?}");
    let (script, distribution) = match &invocation.main {
        Main::Script(script) => {
            let script = absolutize(&cwd, script);
            let distribution = dist::for_script(root, &sys_path, &script);
            (Some(script), distribution)
        }
        Main::Module(module) => (None, dist::for_module(root, &sys_path, module)),
        Main::Command | Main::Stdin | Main::Interactive => (None, None),
    };
    PythonFacts {
        main: Some(match &invocation.main {
            Main::Script(_) => script.clone().unwrap_or_default(),
            other => other.describe(),
        }),
        script,
        distribution,
    }
}

/// `argv[0]` when it is a Python script rather than the interpreter: a
/// process that rewrote its argument vector to its script's name (the kernel
/// itself puts the interpreter first when it runs a `#!` script, and the
/// script second).
fn script_in_argv0(root: &RootFs, argv0: &str, cwd: &str) -> Option<String> {
    if argv0.is_empty() || argv::is_python_name(file_name(argv0)) {
        return None;
    }
    let head = root.read_head(&absolutize(cwd, argv0), SHEBANG_HEAD).ok()?;
    let first_line = head.split(|&b| b == b'\n').next()?;
    let shebang = first_line.strip_prefix(b"#!")?;
    String::from_utf8_lossy(shebang)
        .contains("python")
        .then(|| argv0.to_owned())
}

/// `/proc/PID/<name>` split at its NUL terminators, lossily decoded; empty
/// strings in the middle are kept, as they are real (empty) arguments.
fn read_nul_separated(pid: u32, name: &str) -> Option<Vec<String>> {
    let path = format!("/proc/{pid}/{name}");
    let bytes = fs::read(&path)
        .inspect_err(|error| log::debug!("cannot read {path}: {error}"))
        .ok()?;
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let bytes = bytes.strip_suffix(&[0]).unwrap_or(&bytes);
    Some(
        bytes
            .split(|&b| b == 0)
            .map(|arg| String::from_utf8_lossy(arg).into_owned())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rewritten_argv0_names_a_python_script() {
        let dir = std::env::temp_dir().join(format!("gmr-argv0-{}", std::process::id()));
        fs::create_dir_all(&dir).expect("mkdir");
        fs::write(dir.join("nova-api"), "#!/usr/bin/python3 -s\nimport nova\n").expect("write");
        fs::write(dir.join("tool.sh"), "#!/bin/sh\necho\n").expect("write");
        let root = RootFs::open(std::process::id()).expect("own root");
        let cwd = dir.to_str().expect("utf-8 temp dir");
        let absolute = format!("{cwd}/nova-api");
        assert_eq!(
            script_in_argv0(&root, &absolute, "/"),
            Some(absolute.clone())
        );
        assert_eq!(
            script_in_argv0(&root, "./nova-api", cwd).as_deref(),
            Some("./nova-api")
        );
        assert_eq!(script_in_argv0(&root, "tool.sh", cwd), None);
        assert_eq!(script_in_argv0(&root, "/usr/bin/python3", "/"), None);
        assert_eq!(script_in_argv0(&root, "missing", cwd), None);
        fs::remove_dir_all(&dir).expect("clean up");
    }
}
