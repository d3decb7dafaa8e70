//! The kernel side, seen from userspace: BTF offsets and loading the
//! embedded eBPF programs.

pub mod btf;
pub mod loader;
pub mod offsets;
