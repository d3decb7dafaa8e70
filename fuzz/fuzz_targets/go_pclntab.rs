//! Go's function table (`.gopclntab`): any bytes must parse to a table or
//! an error, and every lookup on a parsed table must answer or say no,
//! never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(table) = gmr_userspace::go::Pclntab::parse(data.into(), Some(0x40_1000)) else {
        return;
    };
    let range = table.text_range();
    for pc in [range.start, range.start.wrapping_add(7), range.end.wrapping_sub(1)] {
        if let Some(func) = table.func_at(pc) {
            let _ = table.name(func);
            let _ = table.frame_size(func, pc);
            let _ = table.stack_boundary(func);
        }
        let _ = table.frames(pc, Some(range.start), &|_, buf: &mut [u8]| {
            buf.fill(0x41);
            true
        });
    }
});
