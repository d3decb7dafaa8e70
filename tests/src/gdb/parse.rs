//! Parsing the output of gdb's `thread apply all bt`.

use super::GdbThread;

/// Parses every `Thread N (...)` block and its `#N` frame lines.
pub(crate) fn parse_backtraces(output: &str) -> Vec<GdbThread> {
    let mut threads: Vec<GdbThread> = Vec::new();
    for line in output.lines() {
        if let Some((tid, name)) = parse_thread_header(line) {
            threads.push(GdbThread {
                tid,
                name,
                frames: Vec::new(),
                tail_call_frames: Vec::new(),
            });
        } else if let (Some(thread), Some(frame)) = (threads.last_mut(), parse_frame(line)) {
            thread.frames.push(frame);
        }
    }
    threads
}

/// Parses `Thread 3 (Thread 0x7f.. (LWP 1234) "reader"):` (or
/// `Thread 1 (process 1234):`, or `Thread 4 (LWP 1234 "reader"):` for a
/// thread not made by pthread, as Go's) into the tid and the quoted name.
fn parse_thread_header(line: &str) -> Option<(u32, Option<String>)> {
    let rest = line.strip_prefix("Thread ")?;
    let (_, after_id) = rest
        .split_once("(LWP ")
        .or_else(|| rest.split_once("(process "))?;
    let (tid, _) = after_id.split_once(')')?;
    let tid = tid.split_whitespace().next()?.parse().ok()?;
    let name = match (after_id.find('"'), after_id.rfind('"')) {
        (Some(open), Some(close)) if open < close => Some(after_id[open + 1..close].to_owned()),
        _ => None,
    };
    Some((tid, name))
}

/// Parses a frame line into the function name:
/// `#1  0x00.. in sleeper_inner () at parked.c:20` or, when the pc is at
/// a line start or the frame is inlined, `#0  spinner_inner () at ...`.
fn parse_frame(line: &str) -> Option<String> {
    let rest = line.strip_prefix('#')?;
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.trim_start();
    let rest = match rest.strip_prefix("0x") {
        Some(address) => address.split_once(" in ")?.1,
        None => rest,
    };
    let name = &rest[..argument_list_start(rest)];
    (!name.is_empty()).then(|| name.to_owned())
}

/// Byte index of the ` (` that opens the argument list, skipping any inside
/// `<...>` or `(...)` of the name itself (e.g. Rust's
/// `call_once<(), (dyn FnOnce<(), Output=()> + Send)>`); the whole length if
/// there is none.
fn argument_list_start(text: &str) -> usize {
    let mut angle = 0i32;
    let mut paren = 0i32;
    let mut previous = '\0';
    for (index, c) in text.char_indices() {
        match c {
            '(' if angle == 0 && paren == 0 && previous == ' ' => return index - 1,
            '<' => angle += 1,
            '>' if previous != '-' => angle -= 1,
            '(' => paren += 1,
            ')' => paren -= 1,
            _ => {}
        }
        previous = c;
    }
    text.len()
}

/// The `gmr-tailcall <lwp> <index>` lines printed by the tail-call script.
pub fn parse_tail_calls(stdout: &str) -> Vec<(u32, usize)> {
    stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.strip_prefix("gmr-tailcall ")?.split_whitespace();
            Some((words.next()?.parse().ok()?, words.next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn thread<'a>(threads: &'a [GdbThread], name: &str) -> &'a GdbThread {
        threads
            .iter()
            .find(|t| t.name.as_deref() == Some(name))
            .unwrap_or_else(|| panic!("no thread named {name}"))
    }

    #[test]
    fn parses_c_fixture_with_libc_debuginfo() {
        let threads = parse_backtraces(include_str!("testdata/c-libc-debuginfo.txt"));
        let tids: Vec<u32> = threads.iter().map(|t| t.tid).collect();
        assert_eq!(tids, [9306, 9305, 9303, 9302, 9301]);
        assert_eq!(
            thread(&threads, "sleeper").frames,
            [
                "__GI___clock_nanosleep",
                "__GI___nanosleep",
                "sleeper_inner",
                "sleeper_outer",
                "thread_main",
                "start_thread",
                "clone3"
            ]
        );
        assert_eq!(
            thread(&threads, "waiter").frames[..6],
            [
                "__futex_abstimed_wait_common64",
                "__futex_abstimed_wait_common",
                "__GI___futex_abstimed_wait_cancelable64",
                "__pthread_cond_wait_common",
                "___pthread_cond_wait",
                "waiter_inner"
            ]
        );
        assert_eq!(
            thread(&threads, "reader").frames[..3],
            ["__GI___libc_read", "__GI___libc_read", "reader_inner"]
        );
        assert_eq!(thread(&threads, "spinner").frames[0], "spinner_inner");
        assert_eq!(
            thread(&threads, "parked").frames,
            [
                "__GI___clock_nanosleep",
                "__GI___nanosleep",
                "main_wait",
                "main"
            ]
        );
    }

    #[test]
    fn parses_c_fixture_without_libc_debuginfo() {
        let threads = parse_backtraces(include_str!("testdata/c-no-libc-debuginfo.txt"));
        assert_eq!(threads.len(), 5);
        assert_eq!(
            thread(&threads, "waiter").frames,
            [
                "??",
                "pthread_cond_wait",
                "waiter_inner",
                "waiter_outer",
                "thread_main",
                "??",
                "??"
            ]
        );
        assert_eq!(
            thread(&threads, "sleeper").frames[..3],
            ["clock_nanosleep", "nanosleep", "sleeper_inner"]
        );
        assert_eq!(thread(&threads, "reader").frames[0], "read");
    }

    #[test]
    fn parses_rust_fixture_names_with_generics_and_spaces() {
        let threads = parse_backtraces(include_str!("testdata/rust-release.txt"));
        assert_eq!(threads.len(), 4);
        let channel = thread(&threads, "channel");
        assert_eq!(channel.tid, 10236);
        assert_eq!(channel.frames.len(), 29);
        assert_eq!(channel.frames[12], "std::sync::mpsc::Receiver::recv<()>");
        assert_eq!(channel.frames[13], "rust_parked::channel_inner");
        assert_eq!(
            channel.frames[25],
            "alloc::boxed::{impl#31}::call_once<(), (dyn core::ops::function::FnOnce<(), \
             Output=()> + core::marker::Send), alloc::alloc::Global>"
        );
        let main = thread(&threads, "rust-parked");
        assert_eq!(
            main.frames[4..6],
            ["rust_parked::main_wait", "rust_parked::main"]
        );
        assert_eq!(main.frames.last().map(String::as_str), Some("_start"));
    }

    #[test]
    fn parses_headers_and_frames() {
        assert_eq!(
            parse_thread_header(r#"Thread 3 (Thread 0x7f52d06db6c0 (LWP 9303) "reader"):"#),
            Some((9303, Some("reader".to_owned())))
        );
        assert_eq!(
            parse_thread_header("Thread 1 (process 77):"),
            Some((77, None))
        );
        assert_eq!(
            parse_thread_header(r#"Thread 4 (LWP 31182 "parked"):"#),
            Some((31182, Some("parked".to_owned())))
        );
        assert_eq!(
            parse_thread_header("Thread debugging using libthread_db enabled"),
            None
        );
        assert_eq!(
            parse_frame("#0  spinner_inner () at parked.c:40").as_deref(),
            Some("spinner_inner")
        );
        assert_eq!(
            parse_frame("#12 0x00007f in ?? () from /lib/x86_64-linux-gnu/libc.so.6").as_deref(),
            Some("??")
        );
        assert_eq!(
            parse_frame("#2  0x0000 in f<fn() -> i32> (x=1) at a.rs:3").as_deref(),
            Some("f<fn() -> i32>")
        );
        assert_eq!(parse_frame("Backtrace stopped: previous frame inner"), None);
    }
}
