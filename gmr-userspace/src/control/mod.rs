//! The agent's control socket: `gmr-agent trigger` and `gmr-agent list`
//! talk to a running agent over a unix socket, one JSON line each way.
//!
//! The socket is root-only (0600) unless a group is configured (0660); the
//! peer's credentials (SO_PEERCRED) name the requester in the reports.

pub mod client;
pub mod protocol;
pub mod server;

/// Where the agent listens by default.
pub const DEFAULT_SOCKET: &str = "/run/gmr/agent.sock";
