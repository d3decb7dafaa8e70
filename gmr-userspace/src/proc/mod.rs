//! Readers of `/proc/PID` that several stages share: the files a process
//! has open or was started from, its memory map, and its ids across pid
//! namespaces.

pub mod files;
pub mod maps;
pub mod memory;
pub mod mountinfo;
pub mod pid_namespace;
pub mod pidfd;
