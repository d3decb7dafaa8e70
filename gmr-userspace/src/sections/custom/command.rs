//! A command whose output becomes a section: run with a deadline, its
//! output capped and masked as free text with the directives that name a
//! secret beyond doubt ([`crate::mask::mask_output`]). Commands come only
//! from the root-owned agent configuration.

use std::{
    io::Read as _,
    os::unix::process::CommandExt as _,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use crate::{
    mask::{mask_output, mask_text},
    model::TextBlock,
};

/// Most bytes of output kept.
const MAX_OUTPUT: usize = 64 * 1024;

/// Runs `argv` (with `{pid}` replaced) and returns its output.
pub fn run(pid: u32, argv: &[String], timeout: Duration) -> Result<TextBlock, String> {
    let argv: Vec<String> = argv
        .iter()
        .map(|a| a.replace("{pid}", &pid.to_string()))
        .collect();
    let shown = argv.join(" ");
    let (program, args) = argv.split_first().ok_or("empty command")?;
    let mut child = Command::new(program)
        .args(args)
        .env("GMR_PID", pid.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let mut stdout = child.stdout.take().ok_or("no stdout pipe")?;
    let mut stderr = child.stderr.take().ok_or("no stderr pipe")?;
    // Readers on their own threads: a command that fills one pipe while we
    // wait on the other must not stall until the deadline.
    let out = std::thread::spawn(move || read_capped(&mut stdout));
    let err = std::thread::spawn(move || read_capped(&mut stderr));
    let deadline = Instant::now() + timeout;
    let ending = loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break None,
            Ok(Some(status)) => break Some(format!("exited with {status}")),
            Ok(None) if Instant::now() >= deadline => {
                break Some(format!("killed after {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => break Some(format!("lost track of the command: {e}")),
        }
    };
    // Whatever the command left behind (background children holding the
    // pipes open) goes with it.
    let group = rustix::process::Pid::from_child(&child);
    let _ = rustix::process::kill_process_group(group, rustix::process::Signal::KILL);
    let _ = child.wait();
    let (mut text, out_truncated) = out.join().unwrap_or_default();
    let (err_text, err_truncated) = err.join().unwrap_or_default();
    text.push_str(&err_text);
    let mut notes: Vec<String> = ending.into_iter().collect();
    if out_truncated || err_truncated {
        notes.push(format!("output truncated to {MAX_OUTPUT} bytes per stream"));
    }
    Ok(TextBlock {
        source: mask_text(&shown),
        lines: mask_output(&text).lines().map(str::to_owned).collect(),
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}

/// Reads up to [`MAX_OUTPUT`] bytes, then drains the rest so the writer
/// never blocks; says whether anything was dropped.
fn read_capped(pipe: &mut impl std::io::Read) -> (String, bool) {
    let mut kept = Vec::new();
    let _ = pipe.take(MAX_OUTPUT as u64).read_to_end(&mut kept);
    let dropped = std::io::copy(pipe, &mut std::io::sink()).unwrap_or(0);
    (String::from_utf8_lossy(&kept).into_owned(), dropped > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| (*w).to_owned()).collect()
    }

    #[test]
    fn output_is_masked_and_pid_substituted() {
        let block = run(
            42,
            &argv(&[
                "sh",
                "-c",
                "echo pid={pid} env=$GMR_PID; echo password=Hidden-2 >&2; echo requirepass Hidden-3; printf 'bindpw\\nHidden-4\\n'; exit 3",
            ]),
            Duration::from_secs(5),
        )
        .unwrap();
        let text = block.lines.join("\n");
        assert!(text.contains("pid=42 env=42"), "{text}");
        assert!(!text.contains("Hidden-"), "{text}");
        assert!(block.note.unwrap().contains("exit status: 3"));
    }

    #[test]
    fn a_slow_command_is_killed_at_the_deadline() {
        let started = Instant::now();
        let block = run(1, &argv(&["sleep", "30"]), Duration::from_millis(300)).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(block.note.unwrap().contains("killed after"));
    }

    #[test]
    fn background_children_do_not_hold_the_report() {
        let started = Instant::now();
        let block = run(
            1,
            &argv(&["sh", "-c", "sleep 30 & echo started"]),
            Duration::from_secs(10),
        )
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(block.lines, ["started"]);
    }

    #[test]
    fn a_missing_program_is_named() {
        let err = run(1, &argv(&["/no/such/tool", "x"]), Duration::from_secs(1)).unwrap_err();
        assert!(err.contains("/no/such/tool"), "{err}");
    }
}
