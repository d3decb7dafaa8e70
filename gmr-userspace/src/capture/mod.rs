//! Capture: runs the kernel iterator and returns per-thread registers and stacks.

pub mod model;
