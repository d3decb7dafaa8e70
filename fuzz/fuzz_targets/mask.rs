//! Secret masking on any text: free text, a file shown line by line, a
//! command's output, an option's value under a key (the first line is the
//! key), and a command line (NUL-separated).

#![no_main]

use gmr_userspace::mask::{mask_command_line, mask_file, mask_output, mask_text, mask_value};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = mask_text(&text);
    let _ = mask_file(&text);
    let _ = mask_output(&text);
    let (key, value) = text.split_once('\n').unwrap_or((&text, ""));
    let _ = mask_value(key, value);
    let args: Vec<String> = text.split('\0').map(str::to_owned).collect();
    assert_eq!(mask_command_line(&args).len(), args.len());
});
