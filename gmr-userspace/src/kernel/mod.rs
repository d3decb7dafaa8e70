//! The kernel side, seen from userspace: BTF offsets, loading the
//! embedded eBPF programs with their options (the stack cap among them),
//! and the kernel's function symbols.

pub mod btf;
pub mod kallsyms;
pub mod loader;
pub mod offsets;
pub mod stack_cap;
