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
//! reads, so a batch of deep stacks can outgrow the ring. Before copying,
//! the program compares the pages it needs with the ring's free room; when
//! they do not fit and the ring holds unconsumed pages it returns 1, which
//! makes the kernel end the batch without this thread (`bpf_iter_run_prog`
//! turns 1 into `-EAGAIN`; `bpf_seq_read` rolls the thread's record back
//! and starts the next read with it). Only when an empty ring is too small
//! are the pages that fit sent, marked [`STACK_LIMIT_RING`]; the loader
//! sizes the ring so the capped stack of one thread always fits.

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
    maps::{CAPTURE_TGID, RECORD_SCRATCH, STACK_PAGES, max_stack_pages, offsets},
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

/// Records one thread of the process in `CAPTURE_TGID`.
#[unsafe(no_mangle)]
#[unsafe(link_section = "iter.s/task")]
pub extern "C" fn capture_threads(ctx: *mut IterTaskContext) -> i32 {
    // SAFETY: the kernel passes a valid context.
    let (meta, task) = unsafe { ((*ctx).meta, (*ctx).task) };
    if task.is_null() {
        return 0;
    }
    let task_bytes = task as *const u8;
    let Some(&wanted) = CAPTURE_TGID.get(0) else {
        return 0;
    };
    if task_tgid(task_bytes) != wanted {
        return 0;
    }
    let Some(record) = RECORD_SCRATCH.get_ptr_mut(0) else {
        return 0;
    };
    // SAFETY: a per-CPU map value; sleepable programs run with migration
    // disabled, so no other program on this CPU uses it meanwhile.
    let record = unsafe { &mut *record };
    fill_record(record, task);
    if record.flags & THREAD_FLAG_KERNEL == 0 && record.stack_base != 0 {
        let Some(pages) = plan_user_stack(record, task) else {
            return RETRY;
        };
        record.stack_pages = copy_user_stack(record, pages, task);
    }
    // SAFETY: meta and its seq_file are valid for the iterator's lifetime.
    unsafe {
        bpf_seq_write(
            (*meta).seq,
            record as *const ThreadRecord as *const c_void,
            size_of::<ThreadRecord>() as u32,
        );
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
/// (`record.stack_limit`, `stack_vma_end`, `stack_vma_status`); `None` when
/// they do not fit the ring's free room now but will once userspace drained
/// it. Without the mapping, the plan is the cap, unless a page is unreadable.
#[inline(always)]
fn plan_user_stack(record: &mut ThreadRecord, task: *mut task_struct) -> Option<u32> {
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
    let mut pages = cap;
    record.stack_limit = STACK_LIMIT_CAP;
    if status == 0 && vma_end > record.stack_base {
        record.stack_vma_end = vma_end;
        let mapped = (vma_end - record.stack_base).div_ceil(STACK_PAGE_SIZE as u64);
        if mapped <= cap as u64 {
            pages = mapped as u32;
            record.stack_limit = STACK_LIMIT_MAPPING;
        }
    }
    let size = STACK_PAGES.query(BPF_RB_RING_SIZE as u64);
    let queued = STACK_PAGES.query(BPF_RB_AVAIL_DATA as u64);
    let room = size.saturating_sub(queued) / STACK_CHUNK_RING_BYTES;
    if (pages as u64) > room {
        if queued != 0 {
            return None;
        }
        pages = room as u32;
        record.stack_limit = STACK_LIMIT_RING;
    }
    Some(pages)
}

/// `bpf_find_vma` callback: stores the end of the mapping found.
#[inline(never)]
extern "C" fn note_vma_end(_task: *mut task_struct, vma: *mut c_void, end: *mut c_void) -> i64 {
    let vm_end: u64 = read(vma as *const u8, offsets().vma_end).unwrap_or(0);
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
    /// Pages sent so far.
    sent: u32,
    /// The planned `STACK_LIMIT_*`, until a page cannot be read or reserved.
    limit: u32,
    /// Zero.
    reserved: u32,
}

/// Sends up to `pages` user-stack pages from `record.stack_base` upwards,
/// up to and including the first one that cannot be read; returns how many
/// were sent, and updates `record.stack_limit` when a page could not be read
/// or reserved.
#[inline(always)]
fn copy_user_stack(record: &mut ThreadRecord, pages: u32, task: *mut task_struct) -> u32 {
    let mut copy = PageCopy {
        task,
        base: record.stack_base,
        tid: record.tid,
        sent: 0,
        limit: record.stack_limit,
        reserved: 0,
    };
    // SAFETY: the callback only touches `copy`, which outlives the call.
    unsafe {
        bpf_loop(
            pages,
            copy_page as *mut c_void,
            &mut copy as *mut PageCopy as *mut c_void,
            0,
        );
    }
    record.stack_limit = copy.limit;
    copy.sent
}

/// One `bpf_loop` step: sends page `index`; 1 (stop) after a page that could
/// not be read, or when the ring has no room left after all.
#[inline(never)]
extern "C" fn copy_page(index: u32, copy: *mut c_void) -> i64 {
    // SAFETY: `copy` is the caller's `PageCopy` (bpf_loop passes it through).
    let copy = unsafe { &mut *(copy as *mut PageCopy) };
    let Some(mut entry) = STACK_PAGES.reserve::<StackChunk>(0) else {
        copy.limit = STACK_LIMIT_RING;
        return 1;
    };
    let chunk = entry.as_mut_ptr();
    let address = copy.base + index as u64 * STACK_PAGE_SIZE as u64;
    // SAFETY: `chunk` points at a reserved ring-buffer record.
    let status = unsafe {
        (*chunk).tid = copy.tid;
        (*chunk).page = index;
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
    copy.sent += 1;
    if status != 0 {
        copy.limit = STACK_LIMIT_UNREADABLE;
        return 1;
    }
    0
}
