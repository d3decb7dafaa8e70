//! Empty library target: it lets `gmr-userspace` name this crate as a
//! build-dependency, so cargo rebuilds the agent when the programs change.
#![no_std]
