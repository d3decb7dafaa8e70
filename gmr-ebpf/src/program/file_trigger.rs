//! The file trigger: notices a tag's trigger file being touched, in the
//! toucher's context.
//!
//! Every ctime change of any inode passes one of three `timestamp`
//! tracepoints (Linux 6.13+): `ctime_ns_xchg` or `ctime_xchg_skip` on
//! multigrain filesystems (ext4, xfs, btrfs, tmpfs), `inode_set_ctime_to_ts`
//! on the others. The programs are BTF tracepoints (`tp_btf`): they get the
//! tracepoint's arguments as they are, so the kernel builds no trace record
//! for the millions of ctime changes that are not trigger files, and the
//! verifier knows the first is a `struct inode *`, so its inode number is a
//! plain load. Each tests that number's bit in `TRIGGER_INO_FILTER`, so
//! nearly every ctime change ends there; on a hit the program reads the
//! device and looks (device, inode number), as the tracepoints' records
//! would hold them, up in `TRIGGER_FILES`. A match emits a [`TriggerEvent`]
//! of kind [`TRIGGER_KIND_FILE`] with the current task as requester, at
//! most once per [`FILE_TRIGGER_MIN_INTERVAL_NS`] per file.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_boot_ns,
    },
    macros::btf_tracepoint,
    programs::BtfTracePointContext,
};
use gmr_common::{
    COMM_LEN, FILE_TRIGGER_MIN_INTERVAL_NS, TRIGGER_KIND_FILE, TriggerEvent, TriggerFileKey,
    trigger_ino_bit,
};

use crate::program::{
    kernel::read,
    maps::{TRIGGER_FILES, TRIGGERS, offset, trigger_ino_filter},
};

/// `timestamp:ctime_ns_xchg`, `TP_PROTO(struct inode *inode, u32 old,
/// u32 new, u32 cur)`: a multigrain inode got a new ctime.
#[btf_tracepoint(function = "ctime_ns_xchg")]
pub fn file_ctime_ns_xchg(ctx: BtfTracePointContext) -> i32 {
    ctime_changed(ctx.arg::<*const u8>(0))
}

/// `timestamp:ctime_xchg_skip`, `TP_PROTO(struct inode *inode, struct
/// timespec64 *ctime)`: a multigrain inode's ctime was set to the value it
/// already had (a second touch within one clock tick).
#[btf_tracepoint(function = "ctime_xchg_skip")]
pub fn file_ctime_xchg_skip(ctx: BtfTracePointContext) -> i32 {
    ctime_changed(ctx.arg::<*const u8>(0))
}

/// `timestamp:inode_set_ctime_to_ts`, `TP_PROTO(struct inode *inode,
/// struct timespec64 *ctime)`: any other inode got a new ctime.
#[btf_tracepoint(function = "inode_set_ctime_to_ts")]
pub fn file_inode_set_ctime_to_ts(ctx: BtfTracePointContext) -> i32 {
    ctime_changed(ctx.arg::<*const u8>(0))
}

/// Emits an event when `inode` (`inode->i_sb->s_dev`, `inode->i_ino`, as
/// the tracepoints' records have them) is an armed trigger file and its
/// last event is old enough; inode numbers not in the filter end first.
#[inline(always)]
fn ctime_changed(inode: *const u8) -> i32 {
    // SAFETY: a tp_btf argument. The offset is a constant to the verifier
    // (a frozen read-only global), which checks it against `struct inode`
    // and makes the load one that cannot fault.
    let ino = unsafe {
        core::ptr::read_volatile(inode.add(offset(|o| &o.inode_ino) as usize) as *const u64)
    };
    if trigger_ino_filter() & trigger_ino_bit(ino) == 0 {
        return 0;
    }
    let Some(sb) = read::<*const u8>(inode, offset(|o| &o.inode_sb)) else {
        return 0;
    };
    let Some(dev) = read::<u32>(sb, offset(|o| &o.super_block_dev)) else {
        return 0;
    };
    let key = TriggerFileKey {
        ino,
        dev,
        reserved: 0,
    };
    let Some(state) = TRIGGER_FILES.get_ptr_mut(key) else {
        return 0;
    };
    // SAFETY: no preconditions.
    let now = unsafe { bpf_ktime_get_boot_ns() };
    // SAFETY: a live map value. Not atomic: touches on several CPUs in the
    // same instant may each pass the check, which costs an extra event or
    // two, never a lost one.
    let tag_index = unsafe {
        let last = (*state).last_event_ns;
        if last != 0 && now.wrapping_sub(last) < FILE_TRIGGER_MIN_INTERVAL_NS {
            return 0;
        }
        (*state).last_event_ns = now;
        (*state).tag_index
    };
    let Some(mut entry) = TRIGGERS.reserve::<TriggerEvent>(0) else {
        return 0;
    };
    let pid_tgid = bpf_get_current_pid_tgid();
    entry.write(TriggerEvent {
        boot_time_ns: now,
        tagged_cgroup_id: 0,
        file_ino: ino,
        target_tgid: 0,
        target_tid: 0,
        sender_tgid: (pid_tgid >> 32) as u32,
        sender_tid: pid_tgid as u32,
        sender_uid: bpf_get_current_uid_gid() as u32,
        signal: 0,
        result: 0,
        kind: TRIGGER_KIND_FILE,
        tag_index,
        file_dev: dev,
        target_comm: [0; COMM_LEN],
        sender_comm: bpf_get_current_comm().unwrap_or([0; COMM_LEN]),
    });
    entry.submit(0);
    0
}
