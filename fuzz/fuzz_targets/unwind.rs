//! The unwinder on arbitrary registers and stack bytes, with this host's
//! libc as the one module (so DWARF CFI is evaluated for addresses in it,
//! frame pointers elsewhere), as a capture would hand them over.
//!
//! Input: the 21 saved registers (little-endian u64, in `UserRegs` order),
//! the stack snapshot's base address (u64), one byte whose bits say which
//! pages were copied, then the stack bytes (at most 8 pages, zero-padded to
//! whole pages). libc is placed at [`LIBC_BASE`].

#![no_main]

use std::sync::{Arc, LazyLock, Once};

use gmr_common::{STACK_PAGE_SIZE, UserRegs};
use gmr_userspace::{
    capture::model::StackSnapshot,
    unwind::{ProcessModules, frame_limit, unwind},
};
use libfuzzer_sys::fuzz_target;

/// Where libc is mapped, whole, from file offset 0.
const LIBC_BASE: u64 = 0x7f00_0000_0000;
/// The library mapped; Debian's multiarch path.
const LIBC: &str = "/lib/x86_64-linux-gnu/libc.so.6";
/// Bytes before the stack: the registers, the base and the page bits.
const HEADER: usize = size_of::<UserRegs>() + 8 + 1;

/// Lets panics raised in framehop's code reach gmr's unwind loop, which
/// catches them and ends the stack (test
/// `a_panic_in_framehop_ends_the_stack_with_a_reason`), instead of
/// libFuzzer's hook aborting on them: framehop 0.16 underflows `cfa - 8` on
/// garbage registers (docs/fuzzing.md). Every other panic still aborts.
fn let_framehop_panics_through() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let abort = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !info
                .location()
                .is_some_and(|at| at.file().contains("/framehop-"))
            {
                abort(info);
            }
        }));
    });
}

static MODULES: LazyLock<ProcessModules> = LazyLock::new(|| {
    let bytes: Arc<[u8]> = std::fs::read(LIBC)
        .unwrap_or_else(|e| panic!("{LIBC}: {e}"))
        .into();
    let len = bytes.len() as u64;
    let mut modules = ProcessModules::default();
    modules
        .add_image(LIBC, bytes, LIBC_BASE..LIBC_BASE + len, 0)
        .unwrap_or_else(|e| panic!("{LIBC}: {e}"));
    modules
});

fuzz_target!(|data: &[u8]| {
    let_framehop_panics_through();
    if data.len() < HEADER {
        return;
    }
    let word = |i: usize| u64::from_le_bytes(data[i * 8..i * 8 + 8].try_into().unwrap());
    let regs = UserRegs {
        r15: word(0),
        r14: word(1),
        r13: word(2),
        r12: word(3),
        bp: word(4),
        bx: word(5),
        r11: word(6),
        r10: word(7),
        r9: word(8),
        r8: word(9),
        ax: word(10),
        cx: word(11),
        dx: word(12),
        si: word(13),
        di: word(14),
        orig_ax: word(15),
        ip: word(16),
        cs: word(17),
        flags: word(18),
        sp: word(19),
        ss: word(20),
    };
    let base = word(21);
    let valid_bits = data[HEADER - 1];
    let max = 8 * STACK_PAGE_SIZE;
    let mut bytes = data[HEADER..].to_vec();
    bytes.truncate(max);
    bytes.resize(bytes.len().div_ceil(STACK_PAGE_SIZE) * STACK_PAGE_SIZE, 0);
    let pages = bytes.len() / STACK_PAGE_SIZE;
    let stack = StackSnapshot {
        base,
        bytes,
        page_valid: (0..pages).map(|p| valid_bits & (1 << p) != 0).collect(),
    };
    let modules = &*MODULES;
    let out = unwind(modules, &regs, &stack, &mut |address, buf| {
        modules.read_code(address, buf)
    });
    assert!(out.frames.len() <= frame_limit(&stack));
    for frame in &out.frames {
        let _ = frame.lookup_address();
        let _ = modules.module_at(frame.address);
    }
    let _ = out.end.to_string();
});
