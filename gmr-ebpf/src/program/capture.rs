//! The capture iterator: records every thread of one process, without
//! stopping it.
//!
//! A sleepable task iterator (`iter.s/task`), so it may fault in user pages
//! with `bpf_copy_from_user_task`. Per thread it writes one
//! [`ThreadRecord`] to the iterator's seq_file and the used part of the
//! user stack to the stack ring buffer as [`StackChunk`]s, one page each:
//! from the page holding `sp` to the end of the mapping holding it
//! (`bpf_find_vma`), at most `MAX_STACK_PAGES`. An idle thread near the top
//! of its stack costs a page or two; a 10,000-frame recursion gets all of
//! its megabytes. Where the mapping cannot be found (`-EBUSY` when its lock
//! is contended) the copy goes on up to the first page that cannot be read,
//! which is the old way to find a stack's end. `stack_limit` says which
//! limit ended the copy, so userspace can explain a truncated stack.
//!
//! The page loop is a `bpf_loop`: the verifier checks its body once, where
//! a bounded loop of 2048+ iterations would be walked iteration by
//! iteration (and a larger cap would exceed its complexity limit).
//!
//! Ring room: one `read()` of the iterator runs the program for a batch of
//! threads (one seq_file buffer), and userspace drains the ring only between
//! reads. A thread whose pages do not all fit the room left sends what fits
//! and returns 1: the kernel ends the batch without the thread
//! (`bpf_iter_run_prog` turns 1 into `-EAGAIN`; `bpf_seq_read` rolls its
//! seq_file output back, or fails the `read()` with `EAGAIN` when it was the
//! batch's first) and visits it again in the next read, after the drain.
//! Its record waits in `RECORD_SCRATCH` and its progress in `PENDING_STACK`
//! (for this iterator session), so the next visit goes on from the next
//! page and writes the record once the last is sent. A record that did not
//! fit the seq_file buffer (the kernel shows that thread again in the next
//! read too) stays pending the same way, so its stack is not sent twice. So the ring's size
//! bounds no stack: it stays 4 MiB (8 MiB of the agent's RSS, as the kernel
//! maps it twice) whatever the cap. Sizing the ring to hold one capped stack
//! instead (16 MiB for 8 MiB) measured +24 MiB of RSS on an idle agent.

use core::{ffi::c_void, mem::size_of};

use aya_ebpf::{
    bindings::{BPF_RB_AVAIL_DATA, BPF_RB_RING_SIZE, task_struct},
    helpers::generated::{
        bpf_copy_from_user_task, bpf_find_vma, bpf_get_task_stack, bpf_loop, bpf_probe_read_kernel,
        bpf_seq_write, bpf_task_pt_regs,
    },
};
use gmr_common::{
    STACK_CHUNK_RING_BYTES, STACK_LIMIT_CAP, STACK_LIMIT_MAPPING, STACK_LIMIT_NONE,
    STACK_LIMIT_RING, STACK_LIMIT_UNREADABLE, STACK_PAGE_SIZE, StackChunk, THREAD_FLAG_EXITING,
    THREAD_FLAG_KERNEL, THREAD_RECORD_MAGIC, ThreadRecord, UserRegs,
};

use crate::program::{
    kernel::{read, task_comm, task_tgid},
    maps::{
        CAPTURE_TGID, PENDING_STACK, RECORD_SCRATCH, STACK_PAGES, max_stack_pages, offset, offsets,
    },
};

/// Iterator program result: the thread was recorded.
const RECORDED: i32 = 0;
/// Iterator program result: visit this thread again in the next `read()`.
const RETRY: i32 = 1;

/// `PF_EXITING`: the task is exiting.
const PF_EXITING: u32 = 0x0000_0004;
/// `PF_KTHREAD`: the task is a kernel thread.
const PF_KTHREAD: u32 = 0x0020_0000;

/// `struct bpf_iter_meta` (UAPI-stable layout).
#[repr(C)]
pub struct IterMeta {
    seq: *mut aya_ebpf::bindings::seq_file,
    session_id: u64,
    seq_num: u64,
}

/// `struct bpf_iter__task`: the iterator's context.
#[repr(C)]
pub struct IterTaskContext {
    meta: *mut IterMeta,
    task: *mut task_struct,
}

/// Records one thread of the process in `CAPTURE_TGID`: its record once
/// all of its stack pages are sent, which may take several visits.
#[unsafe(no_mangle)]
#[unsafe(link_section = "iter.s/task")]
pub extern "C" fn capture_threads(ctx: *mut IterTaskContext) -> i32 {
    // SAFETY: the kernel passes a valid context.
    let (meta, task) = unsafe { ((*ctx).meta, (*ctx).task) };
    if task.is_null() {
        return RECORDED;
    }
    let task_bytes = task as *const u8;
    let Some(&wanted) = CAPTURE_TGID.get(0) else {
        return RECORDED;
    };
    if task_tgid(task_bytes) != wanted {
        return RECORDED;
    }
    let (Some(record), Some(pending)) =
        (RECORD_SCRATCH.get_ptr_mut(0), PENDING_STACK.get_ptr_mut(0))
    else {
        return RECORDED;
    };
    // SAFETY: map values; captures run one at a time (userspace owns the
    // ring), and one iterator runs its program for one task at a time.
    let (record, pending) = unsafe { (&mut *record, &mut *pending) };
    // SAFETY: meta is valid for the iterator's lifetime.
    let session = unsafe { (*meta).session_id };
    let tid: u32 = read(task_bytes, offset(|o| &o.task_pid)).unwrap_or(0);
    if !(pending.session == session && pending.tid == tid) {
        fill_record(record, task);
        pending.session = session;
        pending.tid = tid;
        pending.next_page = 0;
        pending.pages = 0;
        if record.flags & THREAD_FLAG_KERNEL == 0 && record.stack_base != 0 {
            pending.pages = plan_user_stack(record, task);
        }
    }
    if pending.next_page < pending.pages {
        let room = ring_room_pages();
        if room == 0 {
            return RETRY;
        }
        let end = pending.pages.min(pending.next_page.saturating_add(room));
        let (next, stopped) = copy_user_stack(record, pending.next_page, end, task);
        pending.next_page = next;
        if stopped {
            pending.pages = next;
        }
        if pending.next_page < pending.pages {
            return RETRY;
        }
    }
    record.stack_pages = pending.next_page;
    // SAFETY: meta and its seq_file are valid for the iterator's lifetime.
    let written = unsafe {
        bpf_seq_write(
            (*meta).seq,
            record as *const ThreadRecord as *const c_void,
            size_of::<ThreadRecord>() as u32,
        )
    };
    // A full seq_file buffer (-EOVERFLOW) makes the kernel show this thread
    // again in the next read: it stays pending, so that visit writes the
    // record without sending the stack again.
    if written == 0 {
        pending.tid = 0;
    }
    RECORDED
}

/// Fills everything but the user stack.
#[inline(always)]
fn fill_record(record: &mut ThreadRecord, task: *mut task_struct) {
    let off = offsets();
    let task_bytes = task as *const u8;
    let pf_flags: u32 = read(task_bytes, off.task_flags).unwrap_or(0);
    record.magic = THREAD_RECORD_MAGIC;
    record.tid = read(task_bytes, off.task_pid).unwrap_or(0);
    record.tgid = task_tgid(task_bytes);
    let state: u32 = read(task_bytes, off.task_state).unwrap_or(0);
    let exit_state: u32 = read(task_bytes, off.task_exit_state).unwrap_or(0);
    record.state = state | exit_state;
    record.on_cpu = read::<i32>(task_bytes, off.task_on_cpu).unwrap_or(0) as u32;
    record.flags = 0;
    if pf_flags & PF_KTHREAD != 0 {
        record.flags |= THREAD_FLAG_KERNEL;
    }
    if pf_flags & PF_EXITING != 0 {
        record.flags |= THREAD_FLAG_EXITING;
    }
    record.comm = task_comm(task_bytes);
    record.stack_pages = 0;
    record.stack_vma_end = 0;
    record.stack_vma_status = 0;
    record.stack_limit = STACK_LIMIT_NONE;
    // SAFETY: helpers validate their pointers; the destinations are ours.
    unsafe {
        let regs = bpf_task_pt_regs(task) as *const c_void;
        if bpf_probe_read_kernel(
            &mut record.regs as *mut UserRegs as *mut c_void,
            size_of::<UserRegs>() as u32,
            regs,
        ) != 0
        {
            record.regs = UserRegs::default();
        }
        record.kernel_stack_bytes = bpf_get_task_stack(
            task,
            record.kernel_stack.as_mut_ptr() as *mut c_void,
            size_of::<[u64; gmr_common::KSTACK_DEPTH]>() as u32,
            0,
        ) as i32;
    }
    record.stack_base = record.regs.sp & !(STACK_PAGE_SIZE as u64 - 1);
}

/// How many pages to copy for the thread in `record`, and why no more
/// (`record.stack_limit`, `stack_vma_end`, `stack_vma_status`). Without the
/// mapping, the plan is the cap, unless a page is unreadable first.
#[inline(always)]
fn plan_user_stack(record: &mut ThreadRecord, task: *mut task_struct) -> u32 {
    let cap = max_stack_pages();
    let mut vma_end: u64 = 0;
    // SAFETY: the callback only writes `vma_end`, which outlives the call.
    let status = unsafe {
        bpf_find_vma(
            task,
            record.regs.sp,
            note_vma_end as *mut c_void,
            &mut vma_end as *mut u64 as *mut c_void,
            0,
        )
    } as i32;
    record.stack_vma_status = status;
    record.stack_limit = STACK_LIMIT_CAP;
    if status == 0 && vma_end > record.stack_base {
        record.stack_vma_end = vma_end;
        let mapped = (vma_end - record.stack_base).div_ceil(STACK_PAGE_SIZE as u64);
        if mapped <= cap as u64 {
            record.stack_limit = STACK_LIMIT_MAPPING;
            return mapped as u32;
        }
    }
    cap
}

/// Whole stack chunks the ring buffer has room for now.
#[inline(always)]
fn ring_room_pages() -> u32 {
    let size = STACK_PAGES.query(BPF_RB_RING_SIZE as u64);
    let queued = STACK_PAGES.query(BPF_RB_AVAIL_DATA as u64);
    (size.saturating_sub(queued) / STACK_CHUNK_RING_BYTES) as u32
}

/// `bpf_find_vma` callback: stores the end of the mapping found.
#[inline(never)]
extern "C" fn note_vma_end(_task: *mut task_struct, vma: *mut c_void, end: *mut c_void) -> i64 {
    let vm_end: u64 = read(vma as *const u8, offset(|o| &o.vma_end)).unwrap_or(0);
    // SAFETY: `end` is the caller's `u64` (the helper passes it through).
    unsafe { *(end as *mut u64) = vm_end };
    0
}

/// What the page loop reads and updates; on the program's stack, passed to
/// each `bpf_loop` step.
#[repr(C)]
struct PageCopy {
    task: *mut task_struct,
    base: u64,
    tid: u32,
    /// Index of the next page to send.
    next: u32,
    /// A `STACK_LIMIT_*` once a page could not be read or reserved, else
    /// [`STACK_LIMIT_NONE`].
    stopped_by: u32,
    /// Zero.
    reserved: u32,
}

/// Sends pages `first..end` of `record`'s user stack, up to and including
/// the first one that cannot be read. Returns the index after the last page
/// sent, and whether a page could not be read or reserved (then
/// `record.stack_limit` says which).
#[inline(always)]
fn copy_user_stack(
    record: &mut ThreadRecord,
    first: u32,
    end: u32,
    task: *mut task_struct,
) -> (u32, bool) {
    let mut copy = PageCopy {
        task,
        base: record.stack_base,
        tid: record.tid,
        next: first,
        stopped_by: STACK_LIMIT_NONE,
        reserved: 0,
    };
    // SAFETY: the callback only touches `copy`, which outlives the call.
    unsafe {
        bpf_loop(
            end.saturating_sub(first),
            copy_page as *mut c_void,
            &mut copy as *mut PageCopy as *mut c_void,
            0,
        );
    }
    let stopped = copy.stopped_by != STACK_LIMIT_NONE;
    if stopped {
        record.stack_limit = copy.stopped_by;
    }
    (copy.next, stopped)
}

/// One `bpf_loop` step: sends the next page; 1 (stop) after a page that
/// could not be read, or when the ring has no room after all.
#[inline(never)]
extern "C" fn copy_page(_index: u32, copy: *mut c_void) -> i64 {
    // SAFETY: `copy` is the caller's `PageCopy` (bpf_loop passes it through).
    let copy = unsafe { &mut *(copy as *mut PageCopy) };
    let Some(mut entry) = STACK_PAGES.reserve::<StackChunk>(0) else {
        copy.stopped_by = STACK_LIMIT_RING;
        return 1;
    };
    let chunk = entry.as_mut_ptr();
    let page = copy.next;
    let address = copy.base + page as u64 * STACK_PAGE_SIZE as u64;
    // SAFETY: `chunk` points at a reserved ring-buffer record.
    let status = unsafe {
        (*chunk).tid = copy.tid;
        (*chunk).page = page;
        (*chunk).reserved = 0;
        (*chunk).address = address;
        (*chunk).status = bpf_copy_from_user_task(
            (*chunk).data.as_mut_ptr() as *mut c_void,
            STACK_PAGE_SIZE as u32,
            address as *const c_void,
            copy.task,
            0,
        ) as i32;
        (*chunk).status
    };
    entry.submit(0);
    copy.next += 1;
    if status != 0 {
        copy.stopped_by = STACK_LIMIT_UNREADABLE;
        return 1;
    }
    0
}
