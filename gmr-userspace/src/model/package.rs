//! The Package section: what is running, and on which host.

use serde::Serialize;

/// What is running: the executable and the host it runs on.
#[derive(Clone, Debug, Serialize)]
pub struct Package {
    /// Executable path as the process sees it (`/proc/PID/exe`).
    pub executable: Option<String>,
    /// True when the executable was deleted or replaced since it started.
    pub executable_deleted: bool,
    /// GNU build-id of the executable, hex.
    pub build_id: Option<String>,
    /// gmr's version.
    pub gmr_version: String,
    /// Kernel release (`uname -r`).
    pub kernel: String,
}
