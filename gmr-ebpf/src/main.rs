//! gmr's kernel programs.
//!
//! Small programs, each doing only what must happen in the kernel:
//! - `signal_generate` (raw tracepoint, sender context) notices the trigger
//!   signal being generated for a task in a tagged cgroup and emits a
//!   [`gmr_common::TriggerEvent`];
//! - `task_kill` (LSM, optional: only where the BPF LSM is active) refuses
//!   the trigger signal to a tagged task that would die of it, emitting the
//!   same event;
//! - the `timestamp` tracepoints notice a tag's trigger file being touched;
//! - `capture_threads` (sleepable task iterator) records every thread of one
//!   process: registers, kernel stack, and user-stack pages.
//!
//! Everything else (unwinding, symbols, the report) happens in userspace.
//! Built for the host this is an empty binary, so the workspace builds as a
//! whole; `gmr-userspace`'s build script builds it for BPF.
#![cfg_attr(target_arch = "bpf", no_std)]
#![cfg_attr(target_arch = "bpf", no_main)]

#[cfg(target_arch = "bpf")]
mod program;

#[cfg(not(target_arch = "bpf"))]
fn main() {}
