//! Not harming the target: what the trigger signal would do to a process,
//! the kernel guard that refuses it where it would kill, and the agent's
//! warnings about processes left unprotected.

pub mod disposition;
pub mod guard;
pub mod signal;
pub mod warnings;
