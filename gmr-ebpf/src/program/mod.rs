//! The programs, maps and helpers (BPF target only).

mod capture;
mod file_trigger;
mod guard;
mod kernel;
mod maps;
mod trigger;

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

/// The kernel only loads programs that declare a GPL-compatible licence when
/// they call GPL-only helpers (`bpf_probe_read_kernel`, `bpf_get_task_stack`).
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
