//! The agent's configuration file (`/etc/gmr/agent.yaml`): YAML parsing
//! into the schema, then every check that needs no host (signal, formats,
//! interval). Any text must give a configuration or an error, never a panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = gmr_userspace::config::check_text_for_fuzzing(text);
    }
});
