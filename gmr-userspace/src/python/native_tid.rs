//! OS thread ids from a thread state's `pthread_t`: for Python 3.9 and
//! 3.10, whose thread states hold nothing else, and for thread states whose
//! `native_thread_id` is stale (a state made before `fork()` and used by
//! the child without `PyOS_AfterFork_Child`, as uWSGI's forked workers do:
//! it still names the parent's thread).
//!
//! With glibc a `pthread_t` is the address of the thread's `struct
//! pthread`, which holds the kernel's thread id at a fixed offset that
//! differs between glibc builds (and which `fork()` updates in the child).
//! The offset is found from the process itself: where thread states with a
//! valid `native_thread_id` exist, the one where each `struct pthread`
//! holds that id; otherwise the one where the most thread states' `struct
//! pthread`s hold ids of the process's threads (in its own pid namespace),
//! all different: a thread pool's threads come and go while the list is
//! read, and a state whose thread has just exited, or whose thread has not
//! yet started, must not cost every other thread its id.

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
    /// found when no offset holds an id of one of `tasks`.
    pub fn calibrate(memory: &ProcessMemory, pthread_ids: &[u64], tasks: &NamespaceTids) -> Self {
        let mut distinct = pthread_ids.to_vec();
        distinct.sort_unstable();
        distinct.dedup();
        let blocks: Vec<Vec<u8>> = distinct
            .iter()
            .filter_map(|&id| pthread_block(memory, id))
            .collect();
        PthreadTids {
            offset: best_offset(&blocks, |tid| tasks.contains(tid)).map(|o| o as u64),
        }
    }

    /// Finds the offset from threads whose id is already known, as
    /// `(pthread_t, tid)` pairs; none is found when no offset holds every
    /// known id whose `struct pthread` can be read.
    pub fn calibrate_known(memory: &ProcessMemory, known: &[(u64, u32)]) -> Self {
        let readable: Vec<(Vec<u8>, u32)> = known
            .iter()
            .filter_map(|&(id, tid)| Some((pthread_block(memory, id)?, tid)))
            .collect();
        let (blocks, tids): (Vec<_>, Vec<_>) = readable.into_iter().unzip();
        let offset = offset_holding(&blocks, &tids);
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

/// The searched bytes of the `struct pthread` at `pthread_id`; none when
/// they cannot be read (a thread that just exited may have taken its
/// stack, and the struct with it, away).
fn pthread_block(memory: &ProcessMemory, pthread_id: u64) -> Option<Vec<u8>> {
    memory.read_bytes(pthread_id, SEARCH).ok()
}

/// The 4-byte aligned offset where the most blocks hold different thread
/// ids that `is_task` accepts (the first such offset on a tie); none when
/// no block holds one anywhere.
///
/// Not every block need agree: a thread state can outlive its thread (the
/// thread exited while the list was read) or precede it (CPython creates
/// a new thread's state in the thread that starts it, with the starter's
/// `pthread_t` until the new thread runs), and such a block holds no id of
/// its own.
fn best_offset(blocks: &[Vec<u8>], is_task: impl Fn(u32) -> bool) -> Option<usize> {
    let holding = |offset: usize| {
        let mut seen = HashSet::new();
        blocks
            .iter()
            .map(|block| u32::from_le_bytes(block[offset..offset + 4].try_into().expect("4 bytes")))
            .filter(|&id| is_task(id) && seen.insert(id))
            .count()
    };
    let (count, offset) = (0..SEARCH)
        .step_by(4)
        .map(|offset| (holding(offset), offset))
        .max_by_key(|&(count, offset)| (count, std::cmp::Reverse(offset)))?;
    (count > 0).then_some(offset)
}

/// The first 4-byte aligned offset where each block holds its own id of
/// `tids`.
fn offset_holding(blocks: &[Vec<u8>], tids: &[u32]) -> Option<usize> {
    if blocks.is_empty() {
        return None;
    }
    (0..SEARCH).step_by(4).find(|&offset| {
        blocks
            .iter()
            .zip(tids)
            .all(|(block, &tid)| block[offset..offset + 4] == tid.to_le_bytes())
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::{SEARCH, best_offset, offset_holding};

    #[test]
    fn finds_the_offset_most_threads_agree_on() {
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
        assert_eq!(best_offset(&blocks, is_task), Some(0x2d0));
        assert_eq!(best_offset(&blocks[..1], is_task), Some(16));
        assert_eq!(best_offset(&[], is_task), None);
        // A state whose thread has exited, and one not yet taken by its
        // thread (holding its starter's id), leave the others their ids.
        let stale = [
            block(100, 100),
            block(101, 100),
            block(102, 100),
            block(999, 100),
            block(101, 100),
        ];
        assert_eq!(best_offset(&stale, is_task), Some(0x2d0));
        let strangers = [block(998, 997), block(999, 997)];
        assert_eq!(best_offset(&strangers, is_task), None);
    }

    #[test]
    fn known_ids_pick_the_offset_that_holds_each() {
        let block = |tid: u32| {
            let mut block = vec![0; SEARCH];
            // Every block holds the main thread's id early on, as a decoy
            // that fits the first block only.
            block[16..20].copy_from_slice(&100u32.to_le_bytes());
            block[0x2d0..0x2d4].copy_from_slice(&tid.to_le_bytes());
            block
        };
        assert_eq!(
            offset_holding(&[block(100), block(101)], &[100, 101]),
            Some(0x2d0)
        );
        assert_eq!(offset_holding(&[block(100)], &[102]), None);
        assert_eq!(offset_holding(&[], &[]), None);
    }
}
