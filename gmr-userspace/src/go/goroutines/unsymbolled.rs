//! Finding the runtime's variables in a binary without a symbol table
//! (`-ldflags=-s`), by their contents, each candidate checked so that a
//! wrong one is refused rather than read:
//!
//! - `runtime.gStatusStrings` and `runtime.waitReasonStrings`, arrays of
//!   string headers in the process's `.data`: the first starts with `idle`,
//!   `runnable`, `running`; the second with the empty string, then
//!   `GC assist marking` (both orders are the runtime's since Go 1.11).
//! - `runtime.allgs`, a slice header in the process's `.bss` or
//!   `.noptrbss`: the first goroutine it points at must have id 1 and
//!   start in `runtime.main`, as the main goroutine does, and its last
//!   one must have a status the runtime knows (a pointer to the same array
//!   followed by other words, such as `runtime.allgptr`, fails there).

use object::{Object, ObjectSection};

use super::layout::GLayout;
use super::{G_SCAN, MAX_GOROUTINES};
use crate::go::GoBinary;
use crate::proc::memory::ProcessMemory;

/// The first entries of `runtime.gStatusStrings`.
const STATUS_START: [&[u8]; 3] = [b"idle", b"runnable", b"running"];
/// The first entries of `runtime.waitReasonStrings`.
const WAIT_REASON_START: [&[u8]; 2] = [b"", b"GC assist marking"];
/// Most entries taken from a string array found by content; real ones
/// have about 10 (statuses) and 40 to 60 (wait reasons).
const MAX_STRINGS: usize = 128;
/// Longest entry accepted as a state name.
const MAX_STATE: usize = 64;
/// The largest goroutine status (`_Gdeadextra` in Go 1.27).
const MAX_STATUS: u32 = 11;
/// Bytes of `.bss` read at once.
const CHUNK: usize = 1 << 20;

/// The stated addresses and lengths of the status and wait-reason arrays
/// found in `elf`'s `.data`, read from the process `memory` (loaded
/// `bias` bytes above its stated addresses): a position-independent
/// executable's file holds its pointers unrelocated (the dynamic
/// relocations fill them at load), the process holds them as used.
pub fn string_arrays<'data, R: object::ReadRef<'data>>(
    elf: &object::File<'data, R>,
    memory: &ProcessMemory,
    bias: u64,
) -> Option<((u64, u64), (u64, u64))> {
    let data = elf.section_by_name(".data")?;
    let bytes = memory
        .read_bytes(data.address() + bias, usize::try_from(data.size()).ok()?)
        .ok()?;
    let string_at = |address: u64, len: u64| -> Option<&'data [u8]> {
        if len == 0 {
            return Some(b"");
        }
        let address = address.wrapping_sub(bias);
        let len = usize::try_from(len).ok().filter(|&l| l <= MAX_STATE)?;
        let section = elf
            .sections()
            .find(|s| (s.address()..s.address() + s.size()).contains(&address))?;
        let from = usize::try_from(address - section.address()).ok()?;
        section.data().ok()?.get(from..from.checked_add(len)?)
    };
    let entry = |index: usize| -> Option<&'data [u8]> {
        let at = index.checked_mul(16)?;
        let word = |o: usize| -> Option<u64> {
            Some(u64::from_le_bytes(bytes.get(o..o + 8)?.try_into().ok()?))
        };
        string_at(word(at)?, word(at + 8)?)
    };
    let array_at = |start: &[&[u8]]| -> Option<(u64, u64)> {
        let first = (0..bytes.len() / 16).find(|&i| {
            start
                .iter()
                .enumerate()
                .all(|(k, want)| entry(i + k) == Some(*want))
        })?;
        let count = (first..first + MAX_STRINGS)
            .skip(start.len())
            .take_while(|&i| entry(i).is_some_and(|s| !s.is_empty() && s.is_ascii()))
            .count()
            + start.len();
        Some((data.address() + first as u64 * 16, count as u64))
    };
    Some((array_at(&STATUS_START)?, array_at(&WAIT_REASON_START)?))
}

/// The run-time address of `runtime.allgs` in the process `memory` reads,
/// whose executable `elf` is loaded `bias` bytes above its stated
/// addresses.
pub fn allgs<'data, R: object::ReadRef<'data>>(
    elf: &object::File<'data, R>,
    binary: &GoBinary,
    layout: &GLayout,
    memory: &ProcessMemory,
    bias: u64,
) -> Option<u64> {
    let table = binary.table();
    let has_known_status = |g: u64| -> bool {
        memory
            .read_u32(g + layout.status)
            .is_ok_and(|status| status & !G_SCAN <= MAX_STATUS)
    };
    let is_main_goroutine = |g: u64| -> bool {
        let Ok(bytes) = memory.read_bytes(g, layout.g_size()) else {
            return false;
        };
        let word =
            |o: u64| u64::from_le_bytes(bytes[o as usize..o as usize + 8].try_into().unwrap());
        word(layout.goid) == 1
            && table
                .func_at(word(layout.startpc).wrapping_sub(bias))
                .and_then(|f| table.name(f))
                .is_some_and(|name| name == "runtime.main")
    };
    [".noptrbss", ".bss"].iter().find_map(|name| {
        let section = elf.section_by_name(name)?;
        let (start, size) = (section.address() + bias, section.size());
        (0..size).step_by(CHUNK).find_map(|offset| {
            let len = (size - offset).min(CHUNK as u64 + 16) as usize;
            let bytes = memory.read_bytes(start + offset, len).ok()?;
            let word = |o: usize| u64::from_le_bytes(bytes[o..o + 8].try_into().unwrap());
            (0..len.saturating_sub(24)).step_by(8).find_map(|at| {
                let (pointer, len, cap) = (word(at), word(at + 8), word(at + 16));
                let plausible = pointer != 0
                    && pointer % 8 == 0
                    && len > 0
                    && len <= cap
                    && cap <= MAX_GOROUTINES as u64 * 2;
                let first = plausible.then(|| memory.read_u64(pointer).ok()).flatten()?;
                let last = memory.read_u64(pointer + (len - 1) * 8).ok()?;
                (is_main_goroutine(first) && has_known_status(last))
                    .then_some(start + offset + at as u64)
            })
        })
    })
}
