//! The file trigger: notices a tag's trigger file being touched, in the
//! toucher's context.
//!
//! Every ctime change of any inode passes one of three `timestamp`
//! tracepoints (Linux 6.13+): `ctime_ns_xchg` or `ctime_xchg_skip` on
//! multigrain filesystems (ext4, xfs, btrfs, tmpfs), `inode_set_ctime_to_ts`
//! on the others. Each program only looks its (device, inode) up in
//! `TRIGGER_FILES`, so untouched files cost one hash lookup. A hit emits a
//! [`TriggerEvent`] of kind [`TRIGGER_KIND_FILE`] with the current task as
//! requester, at most once per [`FILE_TRIGGER_MIN_INTERVAL_NS`] per file.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_boot_ns,
    },
    macros::tracepoint,
    programs::TracePointContext,
};
use gmr_common::{
    COMM_LEN, FILE_TRIGGER_MIN_INTERVAL_NS, TRIGGER_KIND_FILE, TimestampFields, TriggerEvent,
    TriggerFileKey,
};

use crate::program::maps::{TRIGGER_FILES, TRIGGERS, timestamp_offsets};

/// `timestamp:ctime_ns_xchg`: a multigrain inode got a new ctime.
#[tracepoint(category = "timestamp", name = "ctime_ns_xchg")]
pub fn file_ctime_ns_xchg(ctx: TracePointContext) -> u32 {
    ctime_changed(&ctx, timestamp_offsets().ctime_ns_xchg)
}

/// `timestamp:ctime_xchg_skip`: a multigrain inode's ctime was set to the
/// value it already had (a second touch within one clock tick).
#[tracepoint(category = "timestamp", name = "ctime_xchg_skip")]
pub fn file_ctime_xchg_skip(ctx: TracePointContext) -> u32 {
    ctime_changed(&ctx, timestamp_offsets().ctime_xchg_skip)
}

/// `timestamp:inode_set_ctime_to_ts`: any other inode got a new ctime.
#[tracepoint(category = "timestamp", name = "inode_set_ctime_to_ts")]
pub fn file_inode_set_ctime_to_ts(ctx: TracePointContext) -> u32 {
    ctime_changed(&ctx, timestamp_offsets().inode_set_ctime_to_ts)
}

/// Emits an event when the record's (dev, ino) is an armed trigger file and
/// its last event is old enough.
#[inline(always)]
fn ctime_changed(ctx: &TracePointContext, fields: TimestampFields) -> u32 {
    // SAFETY: `read_at` goes through bpf_probe_read_kernel, which tolerates
    // any offset; a failed read just means no event.
    let (Ok(dev), Ok(ino)) = (unsafe { ctx.read_at::<u32>(fields.dev as usize) }, unsafe {
        ctx.read_at::<u64>(fields.ino as usize)
    }) else {
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
