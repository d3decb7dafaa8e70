//! The path a process was started as: `argv[0]` resolved inside its root.
//!
//! `/proc/PID/exe` names the file after every symlink, and its owner may
//! not be the package the user ran: `/usr/bin/redis-server` is a symlink
//! to `/usr/bin/redis-check-rdb`, owned by `redis-tools`. `argv[0]` keeps
//! the name as started — absolute, relative to the working directory, or a
//! bare name looked up in the process's `PATH` (only from an environment
//! that is still intact). A candidate counts only when it leads to the very
//! file the process executes, so a title or a made-up `argv[0]` never
//! names a package.

use std::fs;
use std::os::unix::fs::MetadataExt as _;

use super::root::{RootFs, absolutize, proc_link};
use crate::sections::process_args::{CommandLine, read_environment};

/// The path process `pid` was started as, when `argv[0]` (or the first
/// word of its title) leads to its executable inside `root`; `None` when
/// nothing does.
pub(crate) fn started_as(pid: u32, root: &RootFs, command_line: &CommandLine) -> Option<String> {
    let exe = fs::metadata(format!("/proc/{pid}/exe")).ok()?;
    let argv0 = command_line.words().into_iter().next()?;
    let candidates: Vec<String> = if argv0.contains('/') {
        let cwd = proc_link(pid, "cwd").ok()?;
        vec![absolutize(&cwd, &argv0)]
    } else {
        let path_variable = read_environment(pid, command_line)
            .ok()?
            .into_iter()
            .find_map(|(name, value)| (name == "PATH").then_some(value))?;
        path_variable
            .split(':')
            .filter(|dir| dir.starts_with('/'))
            .map(|dir| absolutize(dir, &argv0))
            .collect()
    };
    candidates.into_iter().find(|candidate| {
        root.metadata(candidate)
            .is_ok_and(|meta| meta.is_file() && meta.dev() == exe.dev() && meta.ino() == exe.ino())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::CommandExt as _;
    use std::process::Command;

    use crate::sections::process_args::read_command_line;
    use crate::test_support::Reaped;

    fn started_as_of(child: &Reaped) -> Option<String> {
        let pid = child.0.id();
        crate::sections::package::tests::wait_for_command_line(pid);
        let root = RootFs::open(pid).expect("open root");
        started_as(pid, &root, &read_command_line(pid).expect("cmdline"))
    }

    #[test]
    fn symlink_by_path_by_name_and_a_false_name() {
        // /usr/bin/python3 is a symlink to python3.11: kept as started.
        let script = "import time; time.sleep(30)";
        let by_path = Reaped(
            Command::new("/usr/bin/python3")
                .args(["-c", script])
                .spawn()
                .expect("spawn"),
        );
        assert_eq!(started_as_of(&by_path).as_deref(), Some("/usr/bin/python3"));
        let by_name = Reaped(
            Command::new("python3")
                .args(["-c", script])
                .env("PATH", "/nonexistent:/usr/bin")
                .spawn()
                .expect("spawn"),
        );
        assert_eq!(started_as_of(&by_name).as_deref(), Some("/usr/bin/python3"));
        let through_merged_usr =
            Reaped(Command::new("/bin/sleep").arg("30").spawn().expect("spawn"));
        assert_eq!(
            started_as_of(&through_merged_usr).as_deref(),
            Some("/bin/sleep")
        );
        // argv[0] naming another program leads nowhere.
        let false_name = Reaped(
            Command::new("/usr/bin/sleep")
                .arg0("/usr/bin/true")
                .arg("30")
                .spawn()
                .expect("spawn"),
        );
        assert_eq!(started_as_of(&false_name), None);
    }
}
