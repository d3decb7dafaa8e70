//! The signal trigger: observes the trigger signal in the sender's context.

use aya_ebpf::{
    helpers::{
        bpf_get_current_comm, bpf_get_current_pid_tgid, bpf_get_current_uid_gid,
        bpf_ktime_get_boot_ns,
    },
    macros::raw_tracepoint,
    programs::RawTracePointContext,
};
use gmr_common::{COMM_LEN, TRIGGER_KIND_SIGNAL, TriggerEvent};

use crate::program::{
    kernel::{read, tagged_cgroup_of, task_comm, task_tgid},
    maps::{TRIGGERS, offset, trigger_signal},
};

/// `TP_PROTO(int sig, struct kernel_siginfo *info, struct task_struct *task,
/// int group, int result)`.
#[raw_tracepoint(tracepoint = "signal_generate")]
pub fn signal_generate(ctx: RawTracePointContext) -> i32 {
    let signal = ctx.arg::<u64>(0) as u32;
    if signal != trigger_signal() {
        return 0;
    }
    let task = ctx.arg::<u64>(2) as *const u8;
    let Some(tagged_cgroup_id) = tagged_cgroup_of(task) else {
        return 0;
    };
    emit_signal_event(task, tagged_cgroup_id, signal, ctx.arg::<u64>(4) as u32);
    0
}

/// Sends a [`TRIGGER_KIND_SIGNAL`] event for `signal` to `task` (in
/// `tagged_cgroup_id`) with the current task as sender. Shared with the
/// guard, which runs in the sender's context too.
#[inline(always)]
pub fn emit_signal_event(task: *const u8, tagged_cgroup_id: u64, signal: u32, result: u32) {
    let pid_tgid = bpf_get_current_pid_tgid();
    let Some(mut entry) = TRIGGERS.reserve::<TriggerEvent>(0) else {
        return;
    };
    entry.write(TriggerEvent {
        // SAFETY: no preconditions.
        boot_time_ns: unsafe { bpf_ktime_get_boot_ns() },
        tagged_cgroup_id,
        file_ino: 0,
        target_tgid: task_tgid(task),
        target_tid: read(task, offset(|o| &o.task_pid)).unwrap_or(0),
        sender_tgid: (pid_tgid >> 32) as u32,
        sender_tid: pid_tgid as u32,
        sender_uid: bpf_get_current_uid_gid() as u32,
        signal,
        result,
        kind: TRIGGER_KIND_SIGNAL,
        tag_index: 0,
        file_dev: 0,
        target_comm: task_comm(task),
        sender_comm: bpf_get_current_comm().unwrap_or([0; COMM_LEN]),
    });
    entry.submit(0);
}
