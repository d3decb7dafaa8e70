//! The per-boot cache files under `/run/gmr/cache`: the file header under
//! a fixed key, then its payload as both kinds of cache (the kernel symbol
//! table and the BTF layout). Whatever decodes must answer lookups without
//! panicking; nothing malformed may decode.

#![no_main]

use gmr_userspace::kernel::{
    boot_cache::{BootKey, decode},
    kallsyms::KernelSymbols,
    offsets::KernelLayout,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = BootKey::new("fuzz-boot", "6.18.0", b"");
    let Ok(Some(payload)) = decode(data, &key) else {
        return;
    };
    if let Ok(symbols) = KernelSymbols::decode(payload) {
        for address in [0, 0xffff_ffff_8100_0000, u64::MAX] {
            let _ = symbols.find(address).map(|symbol| symbol.to_string());
        }
        assert!(
            KernelSymbols::decode(&symbols.encode()).is_ok(),
            "a decoded table encodes to one that decodes"
        );
    }
    if let Ok(layout) = KernelLayout::decode(payload) {
        assert_eq!(KernelLayout::decode(&layout.encode()).ok(), Some(layout));
    }
});
