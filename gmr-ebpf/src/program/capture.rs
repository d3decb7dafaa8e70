//! The capture iterator: records every thread of one process, without
//! stopping it.
//!
//! A sleepable task iterator (`iter.s/task`), so it may fault in user pages
//! with `bpf_copy_from_user_task`. Per thread it writes one
//! [`ThreadRecord`] to the iterator's seq_file and up to
//! [`USER_STACK_PAGES`] [`StackChunk`]s to the stack ring buffer, one page
//! each. The pages above the stack's own mapping are not the thread's
//! stack, so the first page that cannot be read is the last one sent.

use core::{ffi::c_void, mem::size_of};

use aya_ebpf::{
    bindings::task_struct,
    helpers::generated::{
        bpf_copy_from_user_task, bpf_get_task_stack, bpf_probe_read_kernel, bpf_seq_write,
        bpf_task_pt_regs,
    },
};
use gmr_common::{
    STACK_PAGE_SIZE, StackChunk, THREAD_FLAG_EXITING, THREAD_FLAG_KERNEL, THREAD_RECORD_MAGIC,
    ThreadRecord, USER_STACK_PAGES, UserRegs,
};

use crate::program::{
    kernel::{read, task_comm, task_tgid},
    maps::{CAPTURE_TGID, RECORD_SCRATCH, STACK_PAGES, offsets},
};

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
    if record.flags & THREAD_FLAG_KERNEL == 0 {
        record.stack_pages = copy_user_stack(record.tid, record.stack_base, task);
    }
    // SAFETY: meta and its seq_file are valid for the iterator's lifetime.
    unsafe {
        bpf_seq_write(
            (*meta).seq,
            record as *const ThreadRecord as *const c_void,
            size_of::<ThreadRecord>() as u32,
        );
    }
    0
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

/// Sends the user-stack pages from `base` upwards, up to and including the
/// first one that cannot be read; returns how many were sent.
#[inline(always)]
fn copy_user_stack(tid: u32, base: u64, task: *mut task_struct) -> u32 {
    if base == 0 {
        return 0;
    }
    let mut sent = 0;
    for page in 0..USER_STACK_PAGES {
        let Some(mut entry) = STACK_PAGES.reserve::<StackChunk>(0) else {
            break;
        };
        let chunk = entry.as_mut_ptr();
        let address = base + page as u64 * STACK_PAGE_SIZE as u64;
        // SAFETY: `chunk` points at a reserved ring-buffer record.
        let status = unsafe {
            (*chunk).tid = tid;
            (*chunk).page = page;
            (*chunk).reserved = 0;
            (*chunk).address = address;
            (*chunk).status = bpf_copy_from_user_task(
                (*chunk).data.as_mut_ptr() as *mut c_void,
                STACK_PAGE_SIZE as u32,
                address as *const c_void,
                task,
                0,
            ) as i32;
            (*chunk).status
        };
        entry.submit(0);
        sent += 1;
        if status != 0 {
            break;
        }
    }
    sent
}
