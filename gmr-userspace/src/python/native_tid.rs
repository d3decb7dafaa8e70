//! OS thread ids for Python 3.9 and 3.10, whose thread states hold only a
//! `pthread_t`.
//!
//! With glibc a `pthread_t` is the address of the thread's `struct
//! pthread`, which holds the kernel's thread id at a fixed offset that
//! differs between glibc builds. The offset is found from the process
//! itself: the one where every thread state's `struct pthread` holds an id
//! of one of the process's threads, all different.

use std::collections::HashSet;

use super::memory::ProcessMemory;

/// Bytes of `struct pthread` searched (the id is at 0x2d0 in current glibc).
const SEARCH: usize = 0x800;

/// Where the thread id lies in this process's `struct pthread`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PthreadTids {
    offset: Option<u64>,
}

impl PthreadTids {
    /// Finds the offset from the thread states' `pthread_ids`; none is
    /// found when the process's threads or memory cannot be read or no
    /// offset fits every thread.
    pub fn calibrate(memory: &ProcessMemory, pthread_ids: &[u64]) -> Self {
        let Ok(tasks) = tids(memory.pid()) else {
            return PthreadTids { offset: None };
        };
        let blocks = pthread_ids
            .iter()
            .map(|&id| memory.read_bytes(id, SEARCH).ok())
            .collect::<Option<Vec<_>>>();
        let offset = blocks.and_then(|blocks| fitting_offset(&blocks, &tasks));
        PthreadTids {
            offset: offset.map(|o| o as u64),
        }
    }

    /// The OS thread id of the thread whose `pthread_t` is `pthread_id`.
    pub fn tid_of(&self, memory: &ProcessMemory, pthread_id: u64) -> Option<u32> {
        memory.read_u32(pthread_id + self.offset?).ok()
    }
}

/// The first 4-byte aligned offset where every block holds a different
/// thread id from `tasks`.
fn fitting_offset(blocks: &[Vec<u8>], tasks: &HashSet<u32>) -> Option<usize> {
    if blocks.is_empty() {
        return None;
    }
    (0..SEARCH).step_by(4).find(|&offset| {
        let mut seen = HashSet::new();
        blocks.iter().all(|block| {
            let id = u32::from_le_bytes(block[offset..offset + 4].try_into().expect("4 bytes"));
            tasks.contains(&id) && seen.insert(id)
        })
    })
}

/// The ids of the threads of process `pid`.
fn tids(pid: u32) -> std::io::Result<HashSet<u32>> {
    std::fs::read_dir(format!("/proc/{pid}/task"))?
        .map(|entry| Ok(entry?.file_name().to_str().and_then(|n| n.parse().ok())))
        .filter_map(Result::transpose)
        .collect()
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
        assert_eq!(fitting_offset(&blocks, &tasks), Some(0x2d0));
        assert_eq!(fitting_offset(&blocks[..1], &tasks), Some(16));
        assert_eq!(fitting_offset(&[], &tasks), None);
    }
}
