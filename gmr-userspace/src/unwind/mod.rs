//! Unwind: turns saved registers and stack bytes into frame addresses.
