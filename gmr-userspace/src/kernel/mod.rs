//! The kernel side, seen from userspace: BTF offsets, loading the
//! embedded eBPF programs, and the kernel's function symbols.

pub mod btf;
pub mod kallsyms;
pub mod loader;
pub mod offsets;
