//! Starting a daemon by hand the way the corpus needs it: inside its
//! cgroup from its first instruction, with a known environment, its
//! stdout and stderr in files the test reads, and ways to wait for it.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{TestCgroup, process::join_cgroup_before_exec};

/// How long a daemon may take to become ready (javac and initdb included)
/// on a loaded 2-core machine.
pub const READY_TIMEOUT: Duration = Duration::from_secs(90);

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16, String> {
    Ok(free_ports::<1>()?[0])
}

/// `N` distinct ports on 127.0.0.1 that were free a moment ago: all are
/// held until the last is chosen, since a port let go may be handed out
/// again at once (a daemon given the same port twice fails to listen on
/// the second, while the first one answers for it).
pub fn free_ports<const N: usize>() -> Result<[u16; N], String> {
    let listeners = (0..N)
        .map(|_| TcpListener::bind("127.0.0.1:0").map_err(|e| format!("bind 127.0.0.1:0: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ports = [0; N];
    for (port, listener) in ports.iter_mut().zip(&listeners) {
        *port = listener
            .local_addr()
            .map_err(|e| format!("local address: {e}"))?
            .port();
    }
    Ok(ports)
}

/// Writes `text` to `dir/name`, readable by the unprivileged users the
/// daemons switch to whatever the umask, and returns the path.
pub fn write(dir: &Path, name: &str, text: &str) -> Result<PathBuf, String> {
    let path = dir.join(name);
    std::fs::write(&path, text).map_err(|e| format!("write {}: {e}", path.display()))?;
    open_to_all(&path, 0o644)?;
    Ok(path)
}

/// Sets `path`'s mode to `mode` (a directory the daemons' users must
/// traverse, a file they must read).
pub fn open_to_all(path: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {mode:o} {}: {e}", path.display()))
}

/// A daemon's output files: `dir/stdout` and `dir/stderr`, opened for
/// appending so that every writer sharing them (the daemon's children, the
/// agent's copy of a report) adds instead of overwriting.
pub fn output_files(dir: &Path) -> Result<(PathBuf, File, File), String> {
    let open = |name: &str| {
        let path = dir.join(name);
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| format!("open {}: {e}", path.display()))
    };
    Ok((dir.join("stderr"), open("stdout")?, open("stderr")?))
}

/// Spawns `argv` with exactly `env` inside `cgroup` (joined between fork
/// and exec, so no instruction of the daemon runs outside). Its stdout and
/// stderr go to `dir/stdout` and `dir/stderr`.
pub fn spawn_in(
    cgroup: &TestCgroup,
    dir: &Path,
    env: &[(String, String)],
    argv: &[&str],
) -> Result<Child, String> {
    let (_, stdout, stderr) = output_files(dir)?;
    let (program, args) = argv.split_first().ok_or("an empty command line")?;
    let mut command = Command::new(program);
    command
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr);
    join_cgroup_before_exec(&mut command, cgroup);
    command.spawn().map_err(|e| format!("spawn {argv:?}: {e}"))
}

/// Waits until `ready` holds, giving up after [`READY_TIMEOUT`] with an
/// error naming `what` (and the daemon's stderr in `dir`).
pub fn wait_until(what: &str, dir: &Path, mut ready: impl FnMut() -> bool) -> Result<(), String> {
    let start = Instant::now();
    while start.elapsed() < READY_TIMEOUT {
        if ready() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let stderr = std::fs::read_to_string(dir.join("stderr")).unwrap_or_default();
    Err(format!(
        "not ready after {READY_TIMEOUT:?}: {what}; its stderr:\n{stderr}"
    ))
}

/// Whether something accepts connections on 127.0.0.1:`port`.
/// A connection whose own address is its peer's does not count: with
/// nothing listening on a port of the ephemeral range, the kernel may pick
/// that very port as the source and connect the socket to itself.
pub fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|stream| stream.local_addr().ok() != stream.peer_addr().ok())
}

/// An HTTP/1.0 `GET path` on 127.0.0.1:`port`: the whole response.
pub fn http_get(port: u16, path: &str) -> Result<String, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect :{port}: {e}"))?;
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .map_err(|e| format!("send to :{port}: {e}"))?;
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .map_err(|e| format!("read from :{port}: {e}"))?;
    Ok(response)
}

/// Waits until `cgroup` holds exactly `count` processes, and still does
/// half a second later (daemons fork their workers after they listen).
pub fn wait_for_processes(cgroup: &TestCgroup, dir: &Path, count: usize) -> Result<(), String> {
    let mut settled_since: Option<Instant> = None;
    wait_until(&format!("{count} processes in its cgroup"), dir, || {
        if cgroup.processes().len() != count {
            settled_since = None;
            return false;
        }
        let since = *settled_since.get_or_insert_with(Instant::now);
        since.elapsed() >= Duration::from_millis(500)
    })
    .map_err(|e| format!("{e}\nprocesses: {:?}", cgroup.processes()))
}
