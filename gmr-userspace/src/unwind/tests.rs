//! Unwinding synthetic stacks: frame-pointer chains, a signal frame,
//! truncation and garbage. No modules are loaded, so framehop falls back to
//! frame pointers everywhere.

use gmr_common::UserRegs;

use super::{Frame, ProcessModules, StackEnd, UnwindCache, frame_limit, unwind, unwind_cached};
use crate::capture::model::StackSnapshot;

const BASE: u64 = 0x7ffd_1234_0000;
const PAGE: usize = StackSnapshot::PAGE as usize;
const TRAMPOLINE: u64 = 0x7f00_0000_1000;
const SIGRETURN_CODE: [u8; 9] = [0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05];

/// A stack of `pages` valid pages at [`BASE`], written word by word.
struct StackBuilder {
    snapshot: StackSnapshot,
}

impl StackBuilder {
    fn new(pages: usize) -> Self {
        StackBuilder {
            snapshot: StackSnapshot {
                base: BASE,
                bytes: vec![0; pages * PAGE],
                page_valid: vec![true; pages],
            },
        }
    }

    fn word(mut self, address: u64, value: u64) -> Self {
        let offset = (address - BASE) as usize;
        self.snapshot.bytes[offset..offset + 8].copy_from_slice(&value.to_le_bytes());
        self
    }

    /// A frame record at `bp`: the caller's bp, then the return address.
    fn frame(self, bp: u64, caller_bp: u64, return_address: u64) -> Self {
        self.word(bp, caller_bp).word(bp + 8, return_address)
    }

    fn invalidate_page(mut self, page: usize) -> Self {
        self.snapshot.page_valid[page] = false;
        self
    }

    fn build(self) -> StackSnapshot {
        self.snapshot
    }
}

fn regs(ip: u64, sp: u64, bp: u64) -> UserRegs {
    UserRegs {
        ip,
        sp,
        bp,
        ..UserRegs::default()
    }
}

/// Code reader that knows only a sigreturn trampoline at [`TRAMPOLINE`].
fn trampoline_code(address: u64, buf: &mut [u8]) -> bool {
    if address == TRAMPOLINE && buf.len() <= SIGRETURN_CODE.len() {
        buf.copy_from_slice(&SIGRETURN_CODE[..buf.len()]);
        true
    } else {
        false
    }
}

fn no_code(_: u64, _: &mut [u8]) -> bool {
    false
}

/// Unwinds `stack` from `regs` with no module (frame pointers only) and
/// no code readable.
fn unwind_code_less(regs: UserRegs, stack: &StackSnapshot) -> super::UnwoundStack {
    unwind(&ProcessModules::default(), &regs, stack, &mut no_code)
}

fn addresses(frames: &[Frame]) -> Vec<u64> {
    frames.iter().map(|f| f.address).collect()
}

#[test]
fn frame_pointer_chain_unwinds_to_the_end() {
    let stack = StackBuilder::new(2)
        .frame(BASE + 0x100, BASE + 0x200, 0x40_2000)
        .frame(BASE + 0x200, BASE + 0x1300, 0x40_3000)
        .frame(BASE + 0x1300, 0, 0x40_4000)
        .build();
    let out = unwind_code_less(regs(0x40_1000, BASE + 0x10, BASE + 0x100), &stack);
    assert_eq!(
        addresses(&out.frames),
        [0x40_1000, 0x40_2000, 0x40_3000, 0x40_4000]
    );
    assert!(!out.frames[0].is_return_address);
    assert!(out.frames[1..].iter().all(|f| f.is_return_address));
    assert_eq!(out.end, StackEnd::Complete);
}

#[test]
fn zero_return_address_ends_the_stack() {
    let stack = StackBuilder::new(1)
        .frame(BASE + 0x100, BASE + 0x200, 0x40_2000)
        .frame(BASE + 0x200, BASE + 0x300, 0)
        .build();
    let out = unwind_code_less(regs(0x40_1000, BASE, BASE + 0x100), &stack);
    assert_eq!(addresses(&out.frames), [0x40_1000, 0x40_2000]);
    assert_eq!(out.end, StackEnd::Complete);
}

#[test]
fn reading_past_the_captured_pages_is_truncation() {
    let beyond = BASE + 2 * PAGE as u64 + 0x40;
    let stack = StackBuilder::new(2)
        .frame(BASE + 0x100, beyond, 0x40_2000)
        .build();
    let out = unwind_code_less(regs(0x40_1000, BASE, BASE + 0x100), &stack);
    assert_eq!(addresses(&out.frames), [0x40_1000, 0x40_2000]);
    assert_eq!(out.end, StackEnd::TruncatedStack(beyond));
}

#[test]
fn a_shared_cache_gives_the_same_frames_and_reads_code_once() {
    let stack = StackBuilder::new(2)
        .frame(BASE + 0x100, BASE + 0x200, 0x40_2000)
        .frame(BASE + 0x200, 0, 0x40_3000)
        .build();
    let regs = regs(0x40_1000, BASE + 0x10, BASE + 0x100);
    let modules = ProcessModules::default();
    let alone = unwind(&modules, &regs, &stack, &mut no_code);
    let mut cache = UnwindCache::default();
    let mut reads = 0;
    let mut counting = |address: u64, buf: &mut [u8]| {
        reads += 1;
        no_code(address, buf)
    };
    let first = unwind_cached(&mut cache, &modules, &regs, &stack, &mut counting);
    let second = unwind_cached(&mut cache, &modules, &regs, &stack, &mut counting);
    assert_eq!(first, alone);
    assert_eq!(second, alone);
    // Three frames; the innermost is checked at three trampoline offsets.
    assert_eq!(reads, 5, "the second thread's frames came from the cache");
}

#[test]
fn a_page_that_could_not_be_copied_is_truncation() {
    let in_missing_page = BASE + PAGE as u64 + 0x80;
    let stack = StackBuilder::new(3)
        .frame(BASE + 0x100, in_missing_page, 0x40_2000)
        .invalidate_page(1)
        .build();
    let out = unwind_code_less(regs(0x40_1000, BASE, BASE + 0x100), &stack);
    assert_eq!(out.end, StackEnd::TruncatedStack(in_missing_page));
}

#[test]
fn non_canonical_return_address_is_an_error() {
    let stack = StackBuilder::new(1)
        .frame(BASE + 0x100, BASE + 0x200, 0xdead_beef_dead_beef)
        .build();
    let out = unwind_code_less(regs(0x40_1000, BASE, BASE + 0x100), &stack);
    assert_eq!(addresses(&out.frames), [0x40_1000]);
    assert!(
        matches!(&out.end, StackEnd::UnwindError(e) if e.contains("0xdeadbeefdeadbeef")),
        "{:?}",
        out.end
    );
}

#[test]
fn frame_pointer_pointing_down_is_an_error() {
    // The second record's saved bp points below the first: garbage.
    let stack = StackBuilder::new(1)
        .frame(BASE + 0x200, BASE + 0x100, 0x40_2000)
        .frame(BASE + 0x100, BASE + 0x300, 0x40_3000)
        .build();
    let out = unwind_code_less(regs(0x40_1000, BASE + 0x10, BASE + 0x200), &stack);
    assert_eq!(addresses(&out.frames), [0x40_1000, 0x40_2000]);
    assert!(matches!(out.end, StackEnd::UnwindError(_)), "{:?}", out.end);
}

#[test]
fn garbage_stack_pointer_is_an_error_not_truncation() {
    let stack = StackBuilder::new(1).build();
    let out = unwind_code_less(regs(0x40_1000, BASE, 0x5555_0000_0000), &stack);
    assert_eq!(addresses(&out.frames), [0x40_1000]);
    assert!(matches!(out.end, StackEnd::UnwindError(_)), "{:?}", out.end);
}

#[test]
fn zero_program_counter_gives_no_frames() {
    let out = unwind(
        &ProcessModules::default(),
        &regs(0, BASE, 0),
        &StackBuilder::new(1).build(),
        &mut no_code,
    );
    assert!(out.frames.is_empty());
    assert!(matches!(out.end, StackEnd::UnwindError(_)));
}

/// Builds the stack of a handler (frame-pointer based) that was called for a
/// signal interrupting code at `interrupted_ip`, whose own frame record is
/// at `interrupted_bp`.
fn signal_stack(interrupted_ip: u64, interrupted_sp: u64, interrupted_bp: u64) -> StackSnapshot {
    let handler_bp = BASE + 0x40;
    // After the handler returns, sp is handler_bp + 16: the ucontext.
    let ucontext = handler_bp + 16;
    let mcontext = ucontext + 40;
    StackBuilder::new(2)
        .frame(handler_bp, 0x1111, TRAMPOLINE)
        .word(mcontext + 10 * 8, interrupted_bp)
        .word(mcontext + 11 * 8, 0xb0b0)
        .word(mcontext + 15 * 8, interrupted_sp)
        .word(mcontext + 16 * 8, interrupted_ip)
        .frame(interrupted_bp, 0, 0x40_6000)
        .build()
}

#[test]
fn signal_frame_continues_in_the_interrupted_code() {
    let stack = signal_stack(0x40_5000, BASE + 0x400, BASE + 0x600);
    let out = unwind(
        &ProcessModules::default(),
        &regs(0x40_1000, BASE + 0x10, BASE + 0x40),
        &stack,
        &mut trampoline_code,
    );
    assert_eq!(
        out.frames,
        [
            Frame {
                address: 0x40_1000,
                is_return_address: false,
                is_signal_trampoline: false
            },
            Frame {
                address: TRAMPOLINE,
                is_return_address: false,
                is_signal_trampoline: true
            },
            Frame {
                address: 0x40_5000,
                is_return_address: false,
                is_signal_trampoline: false
            },
            Frame {
                address: 0x40_6000,
                is_return_address: true,
                is_signal_trampoline: false
            },
        ]
    );
    assert_eq!(out.end, StackEnd::Complete);
}

#[test]
fn program_counter_inside_the_trampoline_is_a_signal_frame() {
    // The thread is in rt_sigreturn itself: pc just after the syscall and
    // sp at the ucontext.
    let stack = signal_stack(0x40_5000, BASE + 0x400, BASE + 0x600);
    let out = unwind(
        &ProcessModules::default(),
        &regs(TRAMPOLINE + 9, BASE + 0x50, 0),
        &stack,
        &mut trampoline_code,
    );
    assert_eq!(
        addresses(&out.frames),
        [TRAMPOLINE + 9, 0x40_5000, 0x40_6000]
    );
    assert!(out.frames[0].is_signal_trampoline);
    assert_eq!(out.end, StackEnd::Complete);
}

#[test]
fn signal_frame_beyond_the_capture_is_truncation() {
    // Only the handler's frame record was captured, not the context above it.
    let mut stack = StackBuilder::new(1)
        .frame(BASE + 0x40, 0, TRAMPOLINE)
        .build();
    stack.bytes.truncate(0x50);
    let out = unwind(
        &ProcessModules::default(),
        &regs(0x40_1000, BASE + 0x10, BASE + 0x40),
        &stack,
        &mut trampoline_code,
    );
    assert_eq!(addresses(&out.frames), [0x40_1000, TRAMPOLINE]);
    assert_eq!(out.end, StackEnd::TruncatedStack(BASE + 0x50 + 40));
}

#[test]
fn deep_stacks_unwind_whole() {
    let mut builder = StackBuilder::new(8);
    let frames = 2000;
    for i in 0..frames {
        let bp = BASE + 0x10 + 16 * i;
        builder = builder.frame(bp, bp + 16, 0x40_0000 + 0x10 * (i + 1));
    }
    let out = unwind(
        &ProcessModules::default(),
        &regs(0x40_0000, BASE, BASE + 0x10),
        &builder.build(),
        &mut no_code,
    );
    assert_eq!(out.frames.len(), frames as usize + 1);
    assert_eq!(out.end, StackEnd::Complete);
}

#[test]
fn a_signal_frame_restoring_itself_stops_at_the_frame_limit() {
    // In rt_sigreturn, with a context that returns to the same place.
    let sp = BASE + 0x50;
    let mcontext = sp + 40;
    let stack = StackBuilder::new(1)
        .word(mcontext + 15 * 8, sp)
        .word(mcontext + 16 * 8, TRAMPOLINE + 9)
        .build();
    let out = unwind(
        &ProcessModules::default(),
        &regs(TRAMPOLINE + 9, sp, 0),
        &stack,
        &mut trampoline_code,
    );
    let limit = frame_limit(&stack);
    assert_eq!(limit, 256);
    assert_eq!(out.frames.len(), limit);
    assert_eq!(out.end, StackEnd::MaxDepth(limit));
}

/// Copies this thread's registers and stack at a point inside this
/// function, then unwinds them: DWARF CFI of the test binary and the bias
/// computed for it must lead back to the caller.
#[inline(never)]
fn unwind_here() -> (Vec<Frame>, StackEnd) {
    let pc: u64;
    let sp: u64;
    // SAFETY: only reads rip and rsp into registers.
    unsafe {
        std::arch::asm!("lea {pc}, [rip]", "mov {sp}, rsp", pc = out(reg) pc, sp = out(reg) sp);
    }
    let pid = std::process::id();
    let base = sp & !(StackSnapshot::PAGE - 1);
    let mut bytes = vec![0; 8 * PAGE];
    let page_valid = bytes
        .chunks_mut(PAGE)
        .zip(0..)
        .map(|(page, index)| {
            crate::proc::memory::read_exact(pid, base + index * StackSnapshot::PAGE, page).is_ok()
        })
        .collect();
    let stack = StackSnapshot {
        base,
        bytes,
        page_valid,
    };
    let modules = super::ModuleCache::new()
        .modules_for(pid)
        .expect("own maps");
    let out = unwind(&modules, &regs(pc, sp, 0), &stack, &mut |a, b| {
        modules.read_code(a, b)
    });
    (out.frames, out.end)
}

#[test]
fn own_thread_unwinds_with_dwarf() {
    let (frames, end) = unwind_here();
    let caller = own_thread_unwinds_with_dwarf as *const () as u64;
    assert!(frames.len() >= 3, "{frames:x?} {end:?}");
    assert!(
        (caller..caller + 0x1000).contains(&frames[1].address),
        "frame 1 {:#x} is not in the caller at {caller:#x}: {frames:x?}",
        frames[1].address
    );
    assert!(
        !matches!(end, StackEnd::UnwindError(_)),
        "{end:?} after {frames:x?}"
    );
}

/// Found by the `unwind` fuzz target (its seed
/// `crash-framehop-cfa-underflow`): with libc's CFI at the start of its text
/// and a stack pointer of `u64::MAX`, framehop 0.16 computes `cfa - 8` for a
/// CFA of 7 and, with overflow checks, panicked through the report.
#[test]
fn a_panic_in_framehop_ends_the_stack_with_a_reason() {
    const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
    const LIBC_BASE: u64 = 0x7f00_0000_0000;
    let Ok(bytes) = std::fs::read(LIBC) else {
        eprintln!("SKIP: no {LIBC} to take CFI from");
        return;
    };
    let len = bytes.len() as u64;
    let mut modules = ProcessModules::default();
    modules
        .add_image(LIBC, bytes.into(), LIBC_BASE..LIBC_BASE + len, 0)
        .expect("libc is an ELF image");
    let stack = StackSnapshot {
        base: u64::MAX,
        bytes: Vec::new(),
        page_valid: Vec::new(),
    };
    let out = unwind(
        &modules,
        &regs(LIBC_BASE + 0x2_6100, u64::MAX, 0x6600_0001),
        &stack,
        &mut |a, b| modules.read_code(a, b),
    );
    assert_eq!(addresses(&out.frames), [LIBC_BASE + 0x2_6100]);
    assert!(
        matches!(&out.end, StackEnd::UnwindError(reason) if !reason.is_empty()),
        "{:?}",
        out.end
    );
}
