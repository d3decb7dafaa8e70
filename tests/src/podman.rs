//! podman containers for the tests: the only runtime and limits podman
//! works with on the test machines (Debian's runc, explicit `--ulimit`s),
//! each container removed on drop, also when the test fails.

use std::{
    path::PathBuf,
    process::{Command, Output},
};

/// Open files and processes allowed in a test container: podman needs them
/// explicit here, and they must not exceed the host's hard limits.
pub const ULIMITS: [&str; 4] = [
    "--ulimit",
    "nofile=1024:1024",
    "--ulimit",
    "nproc=1024:1024",
];

/// The only capabilities the agent's container keeps (the README's
/// "fleet" section and `dist/kubernetes/daemonset.yaml` say why each).
pub const AGENT_CAPABILITIES: [&str; 3] = ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];

/// The host paths the agent's container mounts at the same place, and
/// whether read-only: the cgroups, BTF, securityfs (where the host has it),
/// trigger files and socket, reports, configuration.
pub const AGENT_PATHS: [(&str, bool); 6] = [
    ("/sys/fs/cgroup", false),
    ("/sys/kernel/btf", true),
    ("/sys/kernel/security", true),
    ("/run/gmr", false),
    ("/var/lib/gmr", false),
    ("/etc/gmr", true),
];

/// Runs `podman ARGS…` to completion.
#[track_caller]
pub fn podman(args: &[&str]) -> Output {
    Command::new("podman")
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("start podman {args:?}: {e}"))
}

/// The trimmed stdout of `podman ARGS…`, which must succeed.
#[track_caller]
pub fn podman_stdout(args: &[&str]) -> String {
    let out = podman(args);
    assert!(
        out.status.success(),
        "podman {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The Debian root `cargo xtask rootfs` builds for container tests.
pub fn rootfs() -> PathBuf {
    crate::workspace_root().join("target/realworld/rootfs-bookworm")
}

/// A running container, removed (`podman rm -f`) on drop.
pub struct Container {
    /// Its full id, as `podman run` printed it.
    pub id: String,
}

impl Container {
    /// `podman run --detach --name gmr-test-… --runtime runc ULIMITS ARGS…`;
    /// `None` (after a printed SKIP) when podman cannot run it here.
    pub fn run(args: &[&str]) -> Option<Container> {
        static STARTED: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("gmr-test-{}-{n}", std::process::id());
        let mut all = vec!["run", "--detach", "--name", &name, "--runtime", "runc"];
        all.extend(ULIMITS);
        all.extend(args);
        let out = podman(&all);
        if !out.status.success() {
            println!(
                "SKIP: podman cannot run a container here: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            // It may have been created before it failed to start.
            let _ = podman(&["rm", "--force", "--time", "0", &name]);
            return None;
        }
        let id = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Some(Container { id })
    }

    /// `podman inspect --format FORMAT`.
    #[track_caller]
    pub fn inspect(&self, format: &str) -> String {
        podman_stdout(&["inspect", "--format", format, &self.id])
    }

    /// The host's pid of the container's first process.
    #[track_caller]
    pub fn host_pid(&self) -> u32 {
        let pid = self.inspect("{{.State.Pid}}");
        pid.parse()
            .unwrap_or_else(|_| panic!("podman inspect gave pid {pid:?}"))
    }

    /// Everything the container printed so far (stdout and stderr).
    #[track_caller]
    pub fn logs(&self) -> String {
        let out = podman(&["logs", &self.id]);
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = podman(&["rm", "--force", "--time", "0", &self.id]);
    }
}
