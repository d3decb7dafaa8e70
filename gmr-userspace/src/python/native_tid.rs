//! OS thread ids for Python 3.9 and 3.10, whose thread states hold only a
//! `pthread_t`.
//!
//! With glibc a `pthread_t` is the address of the thread's `struct
//! pthread`, which holds the kernel's thread id at a fixed offset that
//! differs between glibc builds. The offset is found from the process
//! itself: the one where every thread state's `struct pthread` holds an id
//! of one of the process's threads (in its own pid namespace), all
//! different.

use std::collections::HashSet;

use crate::proc::memory::ProcessMemory;
use crate::proc::pid_namespace::NamespaceTids;

/// Bytes of `struct pthread` searched (the id is at 0x2d0 in current glibc).
const SEARCH: usize = 0x800;

/// Where the thread id lies in this process's `struct pthread`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PthreadTids {
    offset: Option<u64>,
}

impl PthreadTids {
    /// Finds the offset from the thread states' `pthread_ids`; none is
    /// found when the process's memory cannot be read or no offset fits
    /// every thread of `tasks`.
    pub fn calibrate(memory: &ProcessMemory, pthread_ids: &[u64], tasks: &NamespaceTids) -> Self {
        let blocks = pthread_ids
            .iter()
            .map(|&id| memory.read_bytes(id, SEARCH).ok())
            .collect::<Option<Vec<_>>>();
        let offset = blocks.and_then(|blocks| fitting_offset(&blocks, |tid| tasks.contains(tid)));
        PthreadTids {
            offset: offset.map(|o| o as u64),
        }
    }

    /// The OS thread id (in the target's pid namespace) of the thread whose
    /// `pthread_t` is `pthread_id`.
    pub fn tid_of(&self, memory: &ProcessMemory, pthread_id: u64) -> Option<u32> {
        memory.read_u32(pthread_id + self.offset?).ok()
    }
}

/// The first 4-byte aligned offset where every block holds a different
/// thread id, one `is_task` accepts.
fn fitting_offset(blocks: &[Vec<u8>], is_task: impl Fn(u32) -> bool) -> Option<usize> {
    if blocks.is_empty() {
        return None;
    }
    (0..SEARCH).step_by(4).find(|&offset| {
        let mut seen = HashSet::new();
        blocks.iter().all(|block| {
            let id = u32::from_le_bytes(block[offset..offset + 4].try_into().expect("4 bytes"));
            is_task(id) && seen.insert(id)
        })
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{SEARCH, fitting_offset};

    #[test]
    fn finds_the_offset_every_thread_agrees_on() {
        let block = |tid: u32, decoy: u32| {
            let mut block = vec![0; SEARCH];
            // The main thread's pid appears early in every block, as a decoy.
            block[16..20].copy_from_slice(&decoy.to_le_bytes());
            block[0x2d0..0x2d4].copy_from_slice(&tid.to_le_bytes());
            block
        };
        let tasks = HashSet::from([100, 101, 102]);
        let blocks = [block(100, 100), block(101, 100), block(102, 100)];
        let is_task = |tid| tasks.contains(&tid);
        assert_eq!(fitting_offset(&blocks, is_task), Some(0x2d0));
        assert_eq!(fitting_offset(&blocks[..1], is_task), Some(16));
        assert_eq!(fitting_offset(&[], is_task), None);
    }
}
