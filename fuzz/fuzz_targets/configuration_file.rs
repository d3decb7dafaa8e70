//! A service's configuration file as the Configuration section shows it:
//! format from the name or sniffed from the text, parsed (oslo INI, YAML,
//! TOML, JSON), flattened into groups and masked, or shown line by line and
//! masked (nginx, apache, haproxy, netrc, .pgpass, key-value, text, or a
//! file whose parse failed, with the parse error).
//!
//! Input: one byte choosing the file name (and so the format), then the
//! file's bytes (invalid UTF-8 replaced, as the section reads files).

#![no_main]

use gmr_userspace::sections::configuration::config_file_for_fuzzing;
use libfuzzer_sys::fuzz_target;

/// Names whose extension picks each parser; the last has none, so the
/// format is sniffed from the text.
const NAMES: [&str; 7] = [
    "/etc/nova/nova.conf",
    "/etc/app/app.ini",
    "/etc/app/app.yaml",
    "/etc/app/app.toml",
    "/etc/app/app.json",
    "/etc/app/settings",
    "/etc/nginx/nginx.conf",
];

fuzz_target!(|data: &[u8]| {
    let Some((&choice, bytes)) = data.split_first() else {
        return;
    };
    let name = NAMES[usize::from(choice) % NAMES.len()];
    let text = String::from_utf8_lossy(bytes).into_owned();
    let file = config_file_for_fuzzing(name, text);
    assert!(
        file.error.is_some() || file.raw.is_none() || !file.format.is_parsed(),
        "a parsed format's lines are shown only with a parse error"
    );
    assert!(
        file.raw.is_some() || file.format.is_parsed(),
        "a format gmr does not parse is shown line by line"
    );
});
