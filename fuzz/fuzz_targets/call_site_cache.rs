//! The per-boot call-site cache files under `/run/gmr/cache`: the file
//! header under a fixed key, then its payload as one image's call sites.
//! Whatever decodes must encode to a payload that decodes to the same;
//! nothing malformed may decode, and no count a file claims may allocate
//! more than the file could hold.

#![no_main]

use gmr_userspace::{
    kernel::boot_cache::{BootKey, decode},
    symbolize::call_site_cache,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let key = BootKey::new("fuzz-boot", "6.18.0", b"");
    let Ok(Some(payload)) = decode(data, &key) else {
        return;
    };
    if let Ok((sources, calls)) = call_site_cache::decode_any(payload) {
        let again = call_site_cache::encode(&sources, &calls);
        assert_eq!(
            call_site_cache::decode(&again, &sources).ok().flatten(),
            Some(calls),
            "decoded call sites encode to a payload that decodes to the same"
        );
    }
});
