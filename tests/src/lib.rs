//! Test support for gmr's integration tests.
//!
//! - [`agent`] runs the real `gmr-agent` and reads its reports.
//! - [`agent_config`] builds the agent configuration files tests run with.
//! - [`fixtures`] builds the parked C and Rust fixture programs and the
//!   one-file C fault fixtures.
//! - [`process`] runs a fixture and follows its stdout/stderr protocol.
//! - [`cgroup`] makes throwaway cgroup v2 groups that kill what they hold.
//! - [`expect`] says where each fixture's threads are parked.
//! - [`scratch`] makes throwaway directories (for unit tests too) and finds report files in them.
//! - [`python`] finds the CPython interpreters to test against.
//! - [`podman`] runs throwaway podman containers the way this host allows.
//! - [`otlp`] runs an OTLP/HTTP receiver that decodes with the official
//!   `opentelemetry-proto` package.
//! - [`gdb`] takes reference backtraces with gdb and scores a report against them.
//! - [`openstack`] starts Debian's OpenStack services and compares the
//!   agent's reports with their own oslo reports.
//! - [`realworld`] starts unmodified Debian daemons and checks the agent's
//!   reports on them.
//! - [`syscalls`] sends signals and touches files without `unsafe`.

pub mod agent;
pub mod agent_config;
pub mod cgroup;
pub mod expect;
pub mod fixtures;
pub mod gdb;
pub mod go_fixtures;
pub mod openstack;
pub mod otlp;
pub mod podman;
pub mod process;
pub mod python;
pub mod realworld;
pub mod scratch;
pub mod syscalls;

pub use cgroup::{TestCgroup, cgroup2_mount};
pub use fixtures::{
    CVariant, build_c_fixture, build_c_program, build_cpp_fixture, build_rust_fixture, strip_debug,
};
pub use gdb::{
    GdbThread, MatchReport, Names, ThreadMatch, gdb_backtraces, match_ratio, match_ratio_by,
    normalize_name,
};
pub use process::{Fixture, spawn_when_not_busy};

use std::path::PathBuf;

/// The gmr workspace root (the parent of this crate's directory).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .expect("gmr-tests lives inside the workspace")
        .to_path_buf()
}

/// Whether the test runs as root; if not, prints `SKIP: <reason>` and
/// returns false so the caller can return early.
pub fn require_root() -> bool {
    let euid = rustix::process::geteuid().as_raw();
    if euid != 0 {
        println!("SKIP: needs root (eBPF, cgroups, ptrace); running as uid {euid}");
        return false;
    }
    true
}
