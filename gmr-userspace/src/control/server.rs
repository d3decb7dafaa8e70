//! The listening side of the control socket.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use anyhow::{Context as _, Result};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader},
    net::{UnixListener, UnixStream},
};

use super::protocol::{Request, Response};
use crate::model::Requester;

/// Longest request line accepted.
const MAX_REQUEST: usize = 4096;

/// A bound control socket, removed on drop.
pub struct ControlSocket {
    listener: UnixListener,
    path: PathBuf,
}

impl ControlSocket {
    /// Binds `path` (replacing a stale socket), mode 0600, or 0660 owned by
    /// `group` when given.
    pub fn bind(path: &Path, group: Option<u32>) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("removing stale {}", path.display())),
        }
        let listener =
            UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
        let mode = if group.is_some() { 0o660 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        if let Some(gid) = group {
            std::os::unix::fs::chown(path, Some(0), Some(gid))
                .with_context(|| format!("giving {} to group {gid}", path.display()))?;
        }
        Ok(Self {
            listener,
            path: path.to_path_buf(),
        })
    }

    /// Waits for the next client.
    pub async fn accept(&self) -> Result<UnixStream> {
        Ok(self.listener.accept().await?.0)
    }
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Who is on the other end, from the kernel (SO_PEERCRED).
pub fn peer(stream: &UnixStream) -> Result<Requester> {
    let cred = stream.peer_cred()?;
    let pid = cred.pid().and_then(|p| u32::try_from(p).ok()).unwrap_or(0);
    let comm = crate::proc::files::comm(pid);
    Ok(Requester {
        pid,
        uid: cred.uid(),
        comm,
    })
}

/// Reads one request line.
pub async fn read_request(stream: &mut UnixStream) -> Result<Request> {
    let mut line = String::new();
    let mut reader = BufReader::new(stream).take(MAX_REQUEST as u64);
    reader.read_line(&mut line).await?;
    serde_json::from_str(&line).with_context(|| format!("bad control request {:?}", line.trim()))
}

/// Writes one response line.
pub async fn write_response(stream: &mut UnixStream, response: &Response) -> Result<()> {
    let mut line = serde_json::to_string(response)?;
    line.push('\n');
    stream.write_all(line.as_bytes()).await?;
    Ok(())
}
