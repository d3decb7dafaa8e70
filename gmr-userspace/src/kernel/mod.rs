//! The kernel side, seen from userspace: BTF offsets, loading the
//! embedded eBPF programs with their options (the stack cap among them),
//! the kernel's function symbols, and the per-boot cache of both.

pub mod attach_btf;
pub mod boot_cache;
pub mod btf;
pub mod kallsyms;
pub mod loader;
pub mod offsets;
pub mod stack_cap;
