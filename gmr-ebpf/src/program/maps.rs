//! Maps and read-only globals shared by the programs.
//!
//! Globals are set by the loader before load (`EbpfLoader::override_global`)
//! and read with `read_volatile` so the compiler cannot fold their defaults;
//! the one in `.bss` is also written by the agent while programs run.

use aya_ebpf::{
    macros::map,
    maps::{Array, HashMap, RingBuf},
};
use gmr_common::{GuardOffsets, KernelOffsets, ThreadRecord, TriggerFileKey, TriggerFileState};

/// The trigger signal number (default SIGUSR2).
#[unsafe(no_mangle)]
static TRIGGER_SIGNAL: u32 = 12;

/// Kernel struct offsets, read from the running kernel's BTF at load time.
#[unsafe(no_mangle)]
static KERNEL_OFFSETS: KernelOffsets = KernelOffsets {
    task_pid: 0,
    task_tgid: 0,
    task_flags: 0,
    task_state: 0,
    task_exit_state: 0,
    task_on_cpu: 0,
    task_comm: 0,
    task_cgroups: 0,
    css_set_dfl_cgrp: 0,
    cgroup_kn: 0,
    cgroup_level: 0,
    cgroup_ancestors: 0,
    kernfs_node_id: 0,
    inode_ino: 0,
    inode_sb: 0,
    super_block_dev: 0,
    vma_end: 0,
};

/// The most user-stack pages copied per thread (`max_stack_bytes` / 4096).
#[unsafe(no_mangle)]
static MAX_STACK_PAGES: u32 = 2048;

/// Where the guard reads a task's signal disposition, from BTF at load time.
#[unsafe(no_mangle)]
static GUARD_OFFSETS: GuardOffsets = GuardOffsets {
    task_sighand: 0,
    sighand_action: 0,
    k_sigaction_size: 0,
    k_sigaction_handler: 0,
};

/// Tagged cgroup ids (the cgroup directory's inode number) → tag index.
#[map]
pub static TAGGED_CGROUPS: HashMap<u64, u32> = HashMap::with_max_entries(4096, 0);

/// Armed trigger files → their tag and rate-limit state; kept current by
/// userspace as files are replaced.
#[map]
pub static TRIGGER_FILES: HashMap<TriggerFileKey, TriggerFileState> =
    HashMap::with_max_entries(1024, 0);

/// [`gmr_common::trigger_ino_bit`] of every inode in `TRIGGER_FILES` (and
/// maybe a few stale ones), so most ctime changes end after one read and
/// one bit test. The object's only `.bss` variable: the agent writes it
/// through aya's `.bss` map (one slot, 8 bytes), and programs read it with
/// a direct load where an array map costs an inlined lookup.
#[unsafe(no_mangle)]
static mut TRIGGER_INO_FILTER: u64 = 0;

/// The inode filter's current word (see [`TRIGGER_INO_FILTER`]).
#[inline(always)]
pub fn trigger_ino_filter() -> u64 {
    // SAFETY: a plain read of a global only the agent writes, as one word.
    unsafe { core::ptr::read_volatile(&raw const TRIGGER_INO_FILTER) }
}

/// Trigger events (signal and file) for userspace.
#[map]
pub static TRIGGERS: RingBuf = RingBuf::with_byte_size(256 * 1024, 0);

/// User-stack pages of the threads being captured. Userspace drains it after
/// every read of the iterator; a stack larger than the room left is sent
/// over several reads (see `capture.rs`), so its size bounds no stack. The
/// kernel maps all of it into the agent (the data twice, for wrap-around):
/// each MiB here is two MiB of the agent's RSS.
#[map]
pub static STACK_PAGES: RingBuf = RingBuf::with_byte_size(4 * 1024 * 1024, 0);

/// Slot 0: the process id the capture iterator records (others are skipped).
#[map]
pub static CAPTURE_TGID: Array<u32> = Array::with_max_entries(1, 0);

/// The record of the thread being captured (too large for the 512-byte
/// stack). Not per CPU: a thread whose stack takes several reads keeps its
/// record here between them, and reads may run on different CPUs.
#[map]
pub static RECORD_SCRATCH: Array<ThreadRecord> = Array::with_max_entries(1, 0);

/// Where the thread in `RECORD_SCRATCH` is in sending its stack.
#[repr(C)]
pub struct PendingStack {
    /// The iterator session (`bpf_iter_meta.session_id`) it belongs to.
    pub session: u64,
    /// Its thread id (0: none pending); cleared once its record is written.
    pub tid: u32,
    /// Index of the next page to send.
    pub next_page: u32,
    /// Pages planned.
    pub pages: u32,
    /// Zero.
    pub reserved: u32,
}

/// Slot 0: the stack being sent over several reads, if any.
#[map]
pub static PENDING_STACK: Array<PendingStack> = Array::with_max_entries(1, 0);

/// The configured trigger signal.
pub fn trigger_signal() -> u32 {
    // SAFETY: a plain read of an immutable global.
    unsafe { core::ptr::read_volatile(&TRIGGER_SIGNAL) }
}

/// The most user-stack pages copied per thread.
pub fn max_stack_pages() -> u32 {
    // SAFETY: a plain read of an immutable global.
    unsafe { core::ptr::read_volatile(&MAX_STACK_PAGES) }
}

/// The kernel struct offsets, every one of them: a load per field, so
/// hot paths that need one or two read them with [`offset`].
pub fn offsets() -> KernelOffsets {
    // SAFETY: a plain read of an immutable global.
    unsafe { core::ptr::read_volatile(&KERNEL_OFFSETS) }
}

/// One kernel struct offset, `field` of [`KernelOffsets`], read alone (one
/// load, a constant to the verifier like the whole struct).
#[inline(always)]
pub fn offset(field: impl FnOnce(&KernelOffsets) -> &u32) -> u32 {
    // SAFETY: a plain read of a field of an immutable global.
    unsafe { core::ptr::read_volatile(field(&KERNEL_OFFSETS)) }
}

/// Where the guard reads a task's signal disposition.
pub fn guard_offsets() -> GuardOffsets {
    // SAFETY: a plain read of an immutable global.
    unsafe { core::ptr::read_volatile(&GUARD_OFFSETS) }
}
