//! The signal guard: refuses the trigger signal to a tagged task it would
//! kill, and reports the trigger all the same.
//!
//! An LSM program on `task_kill`, which the kernel consults for signals
//! sent by user processes (`kill`, `tgkill`, `sigqueue`, ...) before
//! anything is queued. When the target's disposition for the trigger
//! signal is the default (`SIG_DFL`), the sender gets `-EPERM` and the
//! agent gets a [`TRIGGER_RESULT_REFUSED`] event, so the report is made and
//! the process lives. A target that catches or ignores the signal is let
//! through; the observer then reports it as usual. Userspace attaches this
//! program only when the signal's default action would harm the target.

use aya_ebpf::{macros::lsm, programs::LsmContext};
use gmr_common::TRIGGER_RESULT_REFUSED;

use crate::program::{
    kernel::{read, tagged_cgroup_of},
    maps::{guard_offsets, trigger_signal},
    trigger::emit_signal_event,
};

/// `EPERM`: the sender's `kill` fails with it.
const EPERM: i32 = 1;
/// `SIG_DFL`: the default action.
const SIG_DFL: u64 = 0;

/// `LSM_HOOK(int, 0, task_kill, struct task_struct *p, struct kernel_siginfo
/// *info, int sig, const struct cred *cred)`, then the previous LSM
/// program's return value.
#[lsm(hook = "task_kill")]
pub fn task_kill(ctx: LsmContext) -> i32 {
    let previous: i32 = ctx.arg(4);
    if previous != 0 {
        // An earlier LSM program refused the signal: so does this one. Only
        // constants are returned, since newer verifiers reject an LSM
        // program whose return value they cannot prove to be an errno.
        return -EPERM;
    }
    let signal: i32 = ctx.arg(2);
    if signal as u32 != trigger_signal() {
        return 0;
    }
    let task: *const u8 = ctx.arg(0);
    if !has_default_disposition(task, signal as u32) {
        return 0;
    }
    let Some(tagged_cgroup_id) = tagged_cgroup_of(task) else {
        return 0;
    };
    emit_signal_event(
        task,
        tagged_cgroup_id,
        signal as u32,
        TRIGGER_RESULT_REFUSED,
    );
    -EPERM
}

/// True when `task->sighand->action[signal - 1].sa.sa_handler` is
/// `SIG_DFL`; false when it is anything else or cannot be read.
#[inline(always)]
fn has_default_disposition(task: *const u8, signal: u32) -> bool {
    let off = guard_offsets();
    let Some(sighand) = read::<*const u8>(task, off.task_sighand) else {
        return false;
    };
    if sighand.is_null() {
        return false;
    }
    let index = signal.wrapping_sub(1) & 63;
    let handler = off.sighand_action + index * off.k_sigaction_size + off.k_sigaction_handler;
    read::<u64>(sighand, handler) == Some(SIG_DFL)
}
