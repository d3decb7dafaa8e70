//! Wire types shared by gmr's eBPF programs and its userspace agent.
//!
//! Only `#[repr(C)]` plain data lives here: ring-buffer events, iterator
//! records, map keys and values, and the kernel struct offsets passed to
//! the programs as globals.
//! Every field is a fixed-width integer laid out without implicit padding, so
//! both sides agree on the bytes. The register layout is x86_64's `pt_regs`.
#![no_std]

/// Length of a kernel task name (`TASK_COMM_LEN`).
pub const COMM_LEN: usize = 16;
/// Kernel stack frames kept per thread.
pub const KSTACK_DEPTH: usize = 64;
/// Size of one user-stack piece copied by the capture iterator.
pub const STACK_PAGE_SIZE: usize = 4096;
/// Bytes one [`StackChunk`] takes in the stack ring buffer: the chunk and
/// the ring's 8-byte record header, rounded up to 8 as the kernel does. The
/// capture program divides the ring's free room by it to know how many
/// pages it can send before userspace drains the ring.
pub const STACK_CHUNK_RING_BYTES: u64 = (size_of::<StackChunk>() as u64 + 8).next_multiple_of(8);
/// Deepest cgroup level the trigger walks when looking for a tagged ancestor.
pub const MAX_CGROUP_LEVEL: u32 = 32;
/// `ThreadRecord::magic`, so a reader notices a misaligned stream at once.
pub const THREAD_RECORD_MAGIC: u32 = 0x474d_5254;

/// `ThreadRecord::flags`: the task is a kernel thread (no user stack).
pub const THREAD_FLAG_KERNEL: u32 = 1;
/// `ThreadRecord::flags`: the task was exiting when captured.
pub const THREAD_FLAG_EXITING: u32 = 2;

/// `ThreadRecord::stack_limit`: the copy reached the end of the mapping
/// holding `sp` (`stack_vma_end`): the whole used stack was sent.
pub const STACK_LIMIT_MAPPING: u32 = 0;
/// `ThreadRecord::stack_limit`: the copy stopped at the configured cap
/// (`max_stack_bytes`) below the end of the stack's mapping.
pub const STACK_LIMIT_CAP: u32 = 1;
/// `ThreadRecord::stack_limit`: a page could not be reserved in the stack
/// ring buffer although its free room said it could (not expected: the
/// program sends no more than the room, and a stack that does not fit goes
/// on after userspace drained the ring).
pub const STACK_LIMIT_RING: u32 = 2;
/// `ThreadRecord::stack_limit`: a page could not be read; it was sent with
/// its error as the last page. Where the mapping holding `sp` was not found
/// (`stack_vma_status`), this is how the copy finds the stack's end.
pub const STACK_LIMIT_UNREADABLE: u32 = 3;
/// `ThreadRecord::stack_limit`: no user stack was copied (a kernel thread,
/// or no stack pointer).
pub const STACK_LIMIT_NONE: u32 = 4;

/// Offsets (in bytes) of the kernel struct fields the programs read.
///
/// Read from the running kernel's BTF at load time; there is no CO-RE for
/// Rust eBPF programs, so nothing here is compiled in.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KernelOffsets {
    /// `task_struct.pid` (the thread id).
    pub task_pid: u32,
    /// `task_struct.tgid` (the process id).
    pub task_tgid: u32,
    /// `task_struct.flags` (`PF_*`).
    pub task_flags: u32,
    /// `task_struct.__state` (or `state` on old kernels).
    pub task_state: u32,
    /// `task_struct.exit_state` (`EXIT_ZOMBIE`, `EXIT_DEAD`).
    pub task_exit_state: u32,
    /// `task_struct.on_cpu`.
    pub task_on_cpu: u32,
    /// `task_struct.comm`.
    pub task_comm: u32,
    /// `task_struct.cgroups` (a `css_set *`).
    pub task_cgroups: u32,
    /// `css_set.dfl_cgrp` (the task's cgroup v2 `cgroup *`).
    pub css_set_dfl_cgrp: u32,
    /// `cgroup.kn` (its `kernfs_node *`).
    pub cgroup_kn: u32,
    /// `cgroup.level` (depth below the root).
    pub cgroup_level: u32,
    /// `cgroup.ancestors` (flexible array of `cgroup *`, indexed by level).
    pub cgroup_ancestors: u32,
    /// `kernfs_node.id` (the cgroup id userspace sees as the inode number).
    pub kernfs_node_id: u32,
    /// `inode.i_ino` (the inode number, 8 bytes).
    pub inode_ino: u32,
    /// `inode.i_sb` (its `super_block *`).
    pub inode_sb: u32,
    /// `super_block.s_dev` (the device, kernel encoding, 4 bytes).
    pub super_block_dev: u32,
    /// `vm_area_struct.vm_end` (first address past the mapping).
    pub vma_end: u32,
}

/// Where the guard finds a task's disposition for a signal:
/// `task->sighand->action[sig - 1].sa.sa_handler`.
///
/// Read from the running kernel's BTF at load time, like [`KernelOffsets`];
/// kept apart so a kernel lacking one of them loses only the guard.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GuardOffsets {
    /// `task_struct.sighand` (a `sighand_struct *`).
    pub task_sighand: u32,
    /// `sighand_struct.action` (array of `struct k_sigaction`, by signal - 1).
    pub sighand_action: u32,
    /// `sizeof(struct k_sigaction)`: the stride of that array.
    pub k_sigaction_size: u32,
    /// `k_sigaction.sa.sa_handler` (`SIG_DFL` 0, `SIG_IGN` 1, else a handler).
    pub k_sigaction_handler: u32,
}

/// `TriggerEvent::kind`: the trigger signal was generated for a task in a
/// tagged cgroup.
pub const TRIGGER_KIND_SIGNAL: u32 = 0;
/// `TriggerEvent::result` of a signal the guard refused (`-EPERM` to the
/// sender) because the target's disposition for it was the default and the
/// default would have killed it. Outside the tracepoint's results (0-4).
pub const TRIGGER_RESULT_REFUSED: u32 = 0x100;
/// `TriggerEvent::kind`: a tag's trigger file had its ctime changed (touched,
/// written, chmod-ed).
pub const TRIGGER_KIND_FILE: u32 = 1;
/// Shortest time between two file trigger events for the same trigger file;
/// the kernel drops changes that come sooner, so a burst of touches cannot
/// flood the ring buffer.
pub const FILE_TRIGGER_MIN_INTERVAL_NS: u64 = 100_000_000;

/// A trigger seen in the kernel, in the requester's context: the trigger
/// signal generated for a task in a tagged cgroup (`signal_generate`) or
/// refused for it (the `task_kill` guard), or a
/// tag's trigger file changed (`timestamp` tracepoints).
///
/// The `sender_*` fields describe the requester: the signal's sender, or the
/// task that changed the trigger file.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TriggerEvent {
    /// `bpf_ktime_get_boot_ns()` when the signal was generated or the file
    /// changed.
    pub boot_time_ns: u64,
    /// Signal: id of the tagged cgroup that matched (the target's or an
    /// ancestor). File: zero.
    pub tagged_cgroup_id: u64,
    /// File: inode number of the trigger file. Signal: zero.
    pub file_ino: u64,
    /// Signal: process id of the target. File: zero.
    pub target_tgid: u32,
    /// Signal: thread id the signal was generated for. File: zero.
    pub target_tid: u32,
    /// Process id of the requester.
    pub sender_tgid: u32,
    /// Thread id of the requester.
    pub sender_tid: u32,
    /// Real uid of the requester.
    pub sender_uid: u32,
    /// Signal: the signal number. File: zero.
    pub signal: u32,
    /// Signal: the tracepoint's `result` (0 delivered, 1 ignored, 2 already
    /// pending, ...), or [`TRIGGER_RESULT_REFUSED`] from the guard. File:
    /// zero.
    pub result: u32,
    /// [`TRIGGER_KIND_SIGNAL`] or [`TRIGGER_KIND_FILE`].
    pub kind: u32,
    /// File: index of the tag the trigger file belongs to. Signal: zero.
    pub tag_index: u32,
    /// File: device of the trigger file, kernel encoding
    /// (`MAJOR << 20 | MINOR`). Signal: zero.
    pub file_dev: u32,
    /// Signal: target thread name. File: zeros.
    pub target_comm: [u8; COMM_LEN],
    /// Requester thread name.
    pub sender_comm: [u8; COMM_LEN],
}

/// Key of the trigger-file map: a file as the kernel names it
/// (`inode->i_sb->s_dev`, `inode->i_ino`).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct TriggerFileKey {
    /// Inode number.
    pub ino: u64,
    /// Device, kernel encoding (`MAJOR << 20 | MINOR`), as in
    /// `super_block.s_dev`.
    pub dev: u32,
    /// Zero: the kernel hashes every byte of the key.
    pub reserved: u32,
}

/// The bit of inode number `ino` in the trigger-file inode filter: a
/// one-word Bloom filter holding every armed file's bit, which the file
/// programs test before reading the device and looking the file up.
pub const fn trigger_ino_bit(ino: u64) -> u64 {
    1 << (ino & 63)
}

/// Value of the trigger-file map.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TriggerFileState {
    /// `bpf_ktime_get_boot_ns()` of the last event sent for this file (0:
    /// none yet); the program updates it to rate-limit events.
    pub last_event_ns: u64,
    /// Index of the tag the file belongs to.
    pub tag_index: u32,
    /// Zero.
    pub reserved: u32,
}

/// The user registers a thread saved on its last kernel entry, in x86_64
/// `struct pt_regs` order.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegs {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub bp: u64,
    pub bx: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub ax: u64,
    pub cx: u64,
    pub dx: u64,
    pub si: u64,
    pub di: u64,
    pub orig_ax: u64,
    pub ip: u64,
    pub cs: u64,
    pub flags: u64,
    pub sp: u64,
    pub ss: u64,
}

/// One thread of the captured process, written by the capture iterator to
/// its seq_file. The user stack follows separately as [`StackChunk`]s.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct ThreadRecord {
    /// Always [`THREAD_RECORD_MAGIC`].
    pub magic: u32,
    /// Thread id.
    pub tid: u32,
    /// Process id.
    pub tgid: u32,
    /// `__state | exit_state`, as /proc derives its state letter
    /// (0 running, 1 interruptible, 2 uninterruptible, 0x20 zombie, ...).
    pub state: u32,
    /// Non-zero if the thread was on a CPU while captured.
    pub on_cpu: u32,
    /// `THREAD_FLAG_*` bits.
    pub flags: u32,
    /// Bytes of `kernel_stack` filled, or a negative errno.
    pub kernel_stack_bytes: i32,
    /// User-stack pieces sent for this thread.
    pub stack_pages: u32,
    /// Address of the first user-stack piece (the page holding `sp`).
    pub stack_base: u64,
    /// End of the mapping holding `sp` (0 when it was not found).
    pub stack_vma_end: u64,
    /// Why the copy stopped where it did: a `STACK_LIMIT_*` value.
    pub stack_limit: u32,
    /// 0 when the mapping holding `sp` was found, else the negative errno
    /// of `bpf_find_vma` (`-EBUSY`: its lock was contended).
    pub stack_vma_status: i32,
    /// Thread name.
    pub comm: [u8; COMM_LEN],
    /// Saved user registers.
    pub regs: UserRegs,
    /// Kernel return addresses, innermost first.
    pub kernel_stack: [u64; KSTACK_DEPTH],
}

/// One page of a thread's user stack, sent through the stack ring buffer.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct StackChunk {
    /// Thread id the page belongs to.
    pub tid: u32,
    /// Index of the page above `ThreadRecord::stack_base`.
    pub page: u32,
    /// 0 when `data` holds the page, else the negative errno of the copy.
    pub status: i32,
    /// Reserved, zero.
    pub reserved: u32,
    /// User address of `data[0]`.
    pub address: u64,
    /// The page's bytes (zeroed when `status` is non-zero).
    pub data: [u8; STACK_PAGE_SIZE],
}

// The sums of the field sizes: no implicit padding anywhere.
const _: () = assert!(core::mem::size_of::<TriggerEvent>() == 3 * 8 + 10 * 4 + 2 * COMM_LEN);
const _: () = assert!(core::mem::size_of::<TriggerFileKey>() == 16);
const _: () = assert!(core::mem::size_of::<TriggerFileState>() == 16);

const _: () = assert!(STACK_CHUNK_RING_BYTES == 4128);

#[cfg(feature = "user")]
mod pod {
    //! Userspace-only: lets aya copy these types in and out of maps.
    use super::*;

    // SAFETY: all are `#[repr(C)]` integers and arrays with no padding.
    unsafe impl aya::Pod for KernelOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for GuardOffsets {}
    // SAFETY: as above.
    unsafe impl aya::Pod for TriggerEvent {}
    // SAFETY: as above.
    unsafe impl aya::Pod for TriggerFileKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for TriggerFileState {}
}
