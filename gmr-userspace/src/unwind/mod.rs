//! Unwind: turns saved registers and stack bytes into frame addresses.
//!
//! [`unwind`] is pure: stack memory comes only from the captured
//! [`StackSnapshot`] and code bytes from a caller-supplied reader, so it can
//! be tested from byte arrays. framehop does the per-frame work (DWARF CFI
//! where a module has it, frame pointers elsewhere); this loop keeps the
//! registers between frames so it can step over signal frames, which
//! framehop does not understand, and decides why the stack ended.
//! Go code ends its stacks where the Go runtime's traceback does (read
//! from its function table, [`crate::go`]).
//! [`modules`] turns `/proc/PID/maps` into the modules framehop needs.

mod elf;
pub mod modules;
mod signal;

#[cfg(test)]
mod live_tests;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::fmt;
use std::panic::AssertUnwindSafe;

use framehop::x86_64::{CacheX86_64, Reg, UnwindRegsX86_64};
use framehop::{FrameAddress, Unwinder as _};
use gmr_common::UserRegs;

use crate::capture::model::StackSnapshot;
use crate::go::StackBoundary;

pub use modules::{ModuleCache, ModuleInfo, ModulesError, ProcessModules, SkippedModule};

/// Fewest frames a stack may have before [`StackEnd::MaxDepth`]; see
/// [`frame_limit`].
const MIN_FRAME_LIMIT: usize = 256;
/// Least stack one frame takes: the x86_64 ABI keeps `sp` 16-byte aligned
/// at every call, so each caller's frame spans at least 16 bytes.
const MIN_FRAME_BYTES: usize = 16;
/// First address past x86_64 user space with 4-level paging. Anything at or
/// above it is not code a thread could return to.
const USER_SPACE_END: u64 = 0x0000_8000_0000_0000;
/// The first page never holds code (`vm.mmap_min_addr` keeps it unmapped).
const USER_SPACE_START: u64 = 0x1000;

/// One frame of an unwound stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Frame {
    /// The program counter (innermost frame, or the interrupted code after a
    /// signal frame) or a return address.
    pub address: u64,
    /// True when `address` is a return address, so the call that made this
    /// frame is the instruction before it.
    pub is_return_address: bool,
    /// True when `address` is in a sigreturn trampoline: the frame marks
    /// where a signal handler was called.
    pub is_signal_trampoline: bool,
}

impl Frame {
    /// The address to symbolize: inside the call instruction for return
    /// addresses, so a call ending a function is not blamed on the next one.
    pub fn lookup_address(&self) -> u64 {
        if self.is_return_address {
            self.address.saturating_sub(1)
        } else {
            self.address
        }
    }
}

impl From<FrameAddress> for Frame {
    fn from(address: FrameAddress) -> Self {
        Frame {
            address: address.address(),
            is_return_address: address.is_return_address(),
            is_signal_trampoline: false,
        }
    }
}

/// Why unwinding stopped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StackEnd {
    /// The outermost frame was reached.
    Complete,
    /// The next frame needs stack memory at this address, which was not
    /// captured (beyond the copied pages, or in a page that could not be
    /// copied).
    TruncatedStack(u64),
    /// The stack could not be followed further.
    UnwindError(String),
    /// This many frames ([`frame_limit`]) were produced and there were more.
    MaxDepth(usize),
}

impl fmt::Display for StackEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StackEnd::Complete => f.write_str("complete"),
            StackEnd::TruncatedStack(address) => {
                write!(f, "stack memory at {address:#x} was not captured")
            }
            StackEnd::UnwindError(reason) => f.write_str(reason),
            StackEnd::MaxDepth(limit) => write!(f, "stopped after {limit} frames"),
        }
    }
}

/// An unwound stack: frames innermost first, and why it ends there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnwoundStack {
    /// Frame 0 is the saved program counter.
    pub frames: Vec<Frame>,
    /// Why there are no more frames.
    pub end: StackEnd,
}

/// What unwinding learns about code addresses, shared by the threads of one
/// report: most of them pass through the same few functions, so each
/// unwind rule is worked out, and each frame checked for a signal
/// trampoline, once. Valid for one [`ProcessModules`] only.
#[derive(Default)]
pub struct UnwindCache {
    rules: CacheX86_64,
    /// Keyed by address and whether it is a return address.
    trampolines: HashMap<(u64, bool), bool>,
}

/// Most frames unwound from `stack`: as many as its bytes can hold
/// (at least [`MIN_FRAME_LIMIT`]), so a deep recursion unwinds whole, however
/// deep, while a signal frame that restores itself (garbage, or a crafted
/// stack) cannot loop forever: it is the one step that need not move `sp`
/// up.
pub fn frame_limit(stack: &StackSnapshot) -> usize {
    MIN_FRAME_LIMIT.max(stack.bytes.len() / MIN_FRAME_BYTES)
}

/// Unwinds one thread from its saved registers and captured stack.
///
/// `code` fills a buffer with the code bytes at an address and returns false
/// when it cannot; it is only used to recognise signal trampolines.
/// Unwinding stops after [`frame_limit`] frames, at a zero or non-user
/// return address, or when the stack pointer does not move up.
pub fn unwind(
    modules: &ProcessModules,
    regs: &UserRegs,
    stack: &StackSnapshot,
    code: &mut impl FnMut(u64, &mut [u8]) -> bool,
) -> UnwoundStack {
    unwind_cached(&mut UnwindCache::default(), modules, regs, stack, code)
}

/// [`unwind`] with a cache shared by the threads of one process.
pub fn unwind_cached(
    cache: &mut UnwindCache,
    modules: &ProcessModules,
    regs: &UserRegs,
    stack: &StackSnapshot,
    code: &mut impl FnMut(u64, &mut [u8]) -> bool,
) -> UnwoundStack {
    let mut frames = Vec::new();
    if !is_user_address(regs.ip) {
        return UnwoundStack {
            frames,
            end: StackEnd::UnwindError(format!(
                "program counter {:#x} is not a user-space address",
                regs.ip
            )),
        };
    }
    let unwinder = modules.unwinder();
    let mut unwind_regs = unwind_regs(regs);
    let mut read_stack = |address: u64| stack.read_u64(address).ok_or(());
    let mut address = FrameAddress::from_instruction_pointer(regs.ip);
    let limit = frame_limit(stack);
    let end = loop {
        if frames.len() == limit {
            break StackEnd::MaxDepth(limit);
        }
        let is_trampoline = *cache
            .trampolines
            .entry((address.address(), address.is_return_address()))
            .or_insert_with(|| signal::is_trampoline(address, code));
        if is_trampoline {
            frames.push(Frame {
                address: address.address(),
                is_return_address: false,
                is_signal_trampoline: true,
            });
            if let Err(unreadable) = signal::restore_interrupted(&mut unwind_regs, stack) {
                break unreadable_stack(stack, unreadable);
            }
            let interrupted = unwind_regs.ip();
            if !is_user_address(interrupted) {
                break StackEnd::UnwindError(format!(
                    "signal frame holds program counter {interrupted:#x}, not a user-space address"
                ));
            }
            // The interrupted code did not call anything: its pc is exact,
            // and it may have been anywhere in its function (even a
            // prologue), which framehop handles for a first frame.
            address = FrameAddress::from_instruction_pointer(interrupted);
            continue;
        }
        let frame = Frame::from(address);
        frames.push(frame);
        let go_boundary = go_stack_boundary(modules, &frame);
        // Past a Go function that switched stacks the frame pointer chain
        // may go on into the stack it came from (often captured too); when
        // it does not, the switch is why, not the unwinder.
        let ended = |end: StackEnd| match &go_boundary {
            Some((StackBoundary::Switch, function)) => StackEnd::UnwindError(format!(
                "{function} switched stacks (Go's system stack or a cgo call) and the stack it came from was not followed"
            )),
            _ => end,
        };
        let sp = unwind_regs.sp();
        // A Go function (other than one that switched stacks) steps by its
        // frame size from the Go table, as the Go runtime does: frame
        // pointers alone skip the caller of a frameless function.
        let go_step = match go_boundary {
            Some((StackBoundary::Switch, _)) => None,
            _ => go_frame_step(modules, &frame, &mut unwind_regs, stack),
        };
        // framehop computes some addresses unchecked (0.16: `cfa - 8` for a
        // CFA below 8, from garbage registers); where that panics (builds
        // with overflow checks) it ends this stack, not the report.
        let step = match go_step {
            Some(step) => Ok(step),
            None => std::panic::catch_unwind(AssertUnwindSafe(|| {
                unwinder.unwind_frame(address, &mut unwind_regs, &mut cache.rules, &mut read_stack)
            })),
        };
        let Ok(step) = step else {
            break ended(StackEnd::UnwindError(format!(
                "the unwinder failed at {:#x} (framehop panicked)",
                address.address()
            )));
        };
        if let Some((StackBoundary::Top, _)) = go_boundary {
            // The Go runtime's traceback ends here; the one caller below
            // it in Go code (`runtime.clone` under `runtime.mstart`) is a
            // real return address, which gdb shows too.
            if let Ok(Some(caller)) = step
                && let Some(caller) = FrameAddress::from_return_address(caller)
                && is_go_code(modules, caller.address() - 1)
            {
                frames.push(Frame::from(caller));
            }
            break StackEnd::Complete;
        }
        match step {
            Ok(None) | Ok(Some(0)) => break StackEnd::Complete,
            Ok(Some(return_address)) if !is_user_address(return_address) => {
                break ended(StackEnd::UnwindError(format!(
                    "return address {return_address:#x} is not a user-space address"
                )));
            }
            Ok(Some(_)) if unwind_regs.sp() <= sp => {
                break ended(StackEnd::UnwindError(format!(
                    "stack pointer did not move up ({sp:#x} to {:#x})",
                    unwind_regs.sp()
                )));
            }
            // Go calls its stack-switching functions from Go code only: a
            // caller anywhere else is a stale word, not a frame.
            Ok(Some(return_address))
                if matches!(go_boundary, Some((StackBoundary::Switch, _)))
                    && !is_go_code(modules, return_address - 1) =>
            {
                break ended(StackEnd::UnwindError(format!(
                    "return address {return_address:#x} is not in Go code"
                )));
            }
            Ok(Some(return_address)) => {
                let Some(next) = FrameAddress::from_return_address(return_address) else {
                    break StackEnd::Complete;
                };
                address = next;
            }
            Err(framehop::Error::CouldNotReadStack(unreadable)) => {
                break ended(unreadable_stack(stack, unreadable));
            }
            Err(error) => break ended(StackEnd::UnwindError(sentence_case(&error.to_string()))),
        }
    };
    UnwoundStack { frames, end }
}

/// Whether `frame` is in a Go function where the Go runtime's own
/// traceback stops (the first function of a goroutine or thread, or one
/// that switched stacks), with the function's name.
fn go_stack_boundary(modules: &ProcessModules, frame: &Frame) -> Option<(StackBoundary, String)> {
    let module = modules.module_at(frame.address)?;
    let pc = module.stated_address(frame.lookup_address())?;
    module.go_binary()?.stack_boundary(pc)
}

/// Whether `address` is in a Go function.
fn is_go_code(modules: &ProcessModules, address: u64) -> bool {
    modules.module_at(address).is_some_and(|module| {
        module
            .stated_address(address)
            .zip(module.go_binary())
            .is_some_and(|(pc, go)| go.table().func_at(pc).is_some())
    })
}

/// Steps over `frame` when it is in Go code, with the frame size the Go
/// table gives for its pc (pcsp): the return address lies just above the
/// frame, and a function with a frame saved the caller's frame pointer just
/// below it. `None` outside Go code or where the table has no size.
fn go_frame_step(
    modules: &ProcessModules,
    frame: &Frame,
    regs: &mut UnwindRegsX86_64,
    stack: &StackSnapshot,
) -> Option<Result<Option<u64>, framehop::Error>> {
    let module = modules.module_at(frame.address)?;
    let pc = module.stated_address(frame.lookup_address())?;
    let table = module.go_binary()?.table();
    let size = table.frame_size(table.func_at(pc)?, pc)?;
    let sp = regs.sp();
    let return_slot = sp.checked_add(size)?;
    let read = |address: u64| {
        stack
            .read_u64(address)
            .ok_or(framehop::Error::CouldNotReadStack(address))
    };
    let step = (|| {
        let return_address = read(return_slot)?;
        let bp = match size {
            0 => regs.bp(),
            _ => read(return_slot - 8)?,
        };
        regs.set_ip(return_address);
        regs.set_sp(return_slot + 8);
        regs.set_bp(bp);
        Ok(Some(return_address))
    })();
    Some(step)
}

/// framehop's registers from the saved user registers. framehop itself
/// only reads ip, sp and bp; the rest are carried so a signal frame's
/// context replaces a complete set.
fn unwind_regs(regs: &UserRegs) -> UnwindRegsX86_64 {
    let mut out = UnwindRegsX86_64::new(regs.ip, regs.sp, regs.bp);
    for (reg, value) in [
        (Reg::RAX, regs.ax),
        (Reg::RDX, regs.dx),
        (Reg::RCX, regs.cx),
        (Reg::RBX, regs.bx),
        (Reg::RSI, regs.si),
        (Reg::RDI, regs.di),
        (Reg::R8, regs.r8),
        (Reg::R9, regs.r9),
        (Reg::R10, regs.r10),
        (Reg::R11, regs.r11),
        (Reg::R12, regs.r12),
        (Reg::R13, regs.r13),
        (Reg::R14, regs.r14),
        (Reg::R15, regs.r15),
    ] {
        out.set(reg, value);
    }
    out
}

/// Why a read of stack memory at `address` failed. Addresses from the
/// captured base upwards are stack that simply was not captured; anything
/// else came from a register or slot that does not point into this stack.
fn unreadable_stack(stack: &StackSnapshot, address: u64) -> StackEnd {
    if address >= stack.base && is_user_address(address) {
        StackEnd::TruncatedStack(address)
    } else {
        StackEnd::UnwindError(format!(
            "could not read stack memory at {address:#x}, outside the captured stack at {:#x}",
            stack.base
        ))
    }
}

/// framehop's messages start with a capital; ours continue a sentence.
fn sentence_case(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_lowercase().chain(chars).collect())
        .unwrap_or_default()
}

fn is_user_address(address: u64) -> bool {
    (USER_SPACE_START..USER_SPACE_END).contains(&address)
}
