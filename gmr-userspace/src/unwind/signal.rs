//! Signal frames on x86_64 Linux.
//!
//! A signal handler returns into the sigreturn trampoline (glibc and musl
//! `__restore_rt`, Go's `runtime.sigreturn`), whose code is always
//! `mov $15, %rax; syscall`. When the handler has returned into it, `sp`
//! points at the `ucontext` the kernel pushed (`struct rt_sigframe` minus
//! its `pretcode`), and that context holds every register of the
//! interrupted code, which is where unwinding continues.

use framehop::FrameAddress;
use framehop::x86_64::{Reg, UnwindRegsX86_64};

use crate::capture::model::StackSnapshot;

/// `mov $0xf, %rax` (rt_sigreturn) then `syscall`.
const SIGRETURN_CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];
/// Offsets into the trampoline a program counter can have: its start, the
/// `syscall`, and just after it (where a thread inside rt_sigreturn stops).
const TRAMPOLINE_PC_OFFSETS: [u64; 3] = [0, 7, 9];
/// `ucontext.uc_mcontext` follows `uc_flags`, `uc_link` and `uc_stack`.
const MCONTEXT_OFFSET: u64 = 40;
/// `uc_mcontext.gregs` in order, up to `rsp`; `rip` follows.
const GREGS: [Reg; 16] = [
    Reg::R8,
    Reg::R9,
    Reg::R10,
    Reg::R11,
    Reg::R12,
    Reg::R13,
    Reg::R14,
    Reg::R15,
    Reg::RDI,
    Reg::RSI,
    Reg::RBP,
    Reg::RBX,
    Reg::RDX,
    Reg::RAX,
    Reg::RCX,
    Reg::RSP,
];

/// True when `address` is in a sigreturn trampoline. A return address must
/// be its start (a handler's `ret` lands there); a program counter may be
/// anywhere in it.
pub(super) fn is_trampoline(
    address: FrameAddress,
    code: &mut impl FnMut(u64, &mut [u8]) -> bool,
) -> bool {
    let offsets: &[u64] = if address.is_return_address() {
        &TRAMPOLINE_PC_OFFSETS[..1]
    } else {
        &TRAMPOLINE_PC_OFFSETS
    };
    offsets.iter().any(|&offset| {
        let Some(start) = address.address().checked_sub(offset) else {
            return false;
        };
        let mut bytes = [0; SIGRETURN_CODE.len()];
        code(start, &mut bytes) && bytes == SIGRETURN_CODE
    })
}

/// Replaces `regs` with the interrupted context saved in the signal frame
/// at `regs.sp()`. On failure returns the stack address that could not be
/// read and leaves `regs` alone.
pub(super) fn restore_interrupted(
    regs: &mut UnwindRegsX86_64,
    stack: &StackSnapshot,
) -> Result<(), u64> {
    let mcontext = regs.sp().checked_add(MCONTEXT_OFFSET).ok_or(regs.sp())?;
    let read = |index: u64| {
        let at = mcontext.checked_add(index * 8).ok_or(mcontext)?;
        stack.read_u64(at).ok_or(at)
    };
    let mut restored = *regs;
    for (index, reg) in (0..).zip(GREGS) {
        restored.set(reg, read(index)?);
    }
    restored.set_ip(read(GREGS.len() as u64)?);
    *regs = restored;
    Ok(())
}
