//! Reference backtraces from gdb, and scoring a gmr report against them.

mod matching;
mod normalize;
mod parse;

pub use matching::{MatchReport, Names, ThreadMatch, match_ratio, match_ratio_by};
pub use normalize::normalize_name;

use std::process::Command;

use anyhow::{Context as _, bail};

/// One thread's backtrace as gdb printed it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GdbThread {
    /// The thread's kernel tid (gdb's `LWP`).
    pub tid: u32,
    /// The thread's name (`comm`), when gdb showed one.
    pub name: Option<String>,
    /// Function names, innermost first, exactly as gdb printed them
    /// (`??` where gdb had no symbol).
    pub frames: Vec<String>,
    /// Indexes into `frames` of the frames gdb synthesized from DWARF
    /// call-site information for tail calls. No return address exists for
    /// them on the stack, so no stack walk can see them.
    pub tail_call_frames: Vec<usize>,
}

impl GdbThread {
    /// Whether `names` occur among this thread's frames in this order
    /// (innermost first, gaps allowed), comparing [`normalize_name`] forms.
    pub fn has_frames_in_order(&self, names: &[&str]) -> bool {
        let mut frames = self.frames.iter().map(|f| normalize_name(f));
        names
            .iter()
            .all(|name| frames.any(|frame| frame == normalize_name(name)))
    }
}

/// Prints `gmr-tailcall <lwp> <frame index>` for each frame gdb's frame
/// type calls a tail-call frame (gdb's Python API; Debian's gdb has it).
const TAIL_CALL_SCRIPT: &str = "python exec(\"for th in gdb.selected_inferior().threads():\\n th.switch()\\n f = gdb.newest_frame()\\n i = 0\\n while f is not None:\\n  if f.type() == gdb.TAILCALL_FRAME: print('gmr-tailcall %d %d' % (th.ptid[1], i))\\n  f = f.older()\\n  i += 1\")";

/// Attaches gdb to `pid`, prints every thread's backtrace, detaches, and
/// returns the parsed backtraces in gdb's order.
pub fn gdb_backtraces(pid: u32) -> anyhow::Result<Vec<GdbThread>> {
    let output = Command::new("gdb")
        .args(["-batch", "-nx"])
        .args(["-iex", "set debuginfod enabled off"])
        .args(["-p", &pid.to_string()])
        .args(["-ex", "set pagination off"])
        .args(["-ex", "set width 0"])
        .args(["-ex", "thread apply all bt"])
        .args(["-ex", TAIL_CALL_SCRIPT])
        .output()
        .context("run gdb (is it installed?)")?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        bail!("gdb -p {pid} failed ({}):\n{stderr}", output.status);
    }
    let mut threads = parse::parse_backtraces(&stdout);
    for (tid, index) in parse::parse_tail_calls(&stdout) {
        if let Some(thread) = threads.iter_mut().find(|t| t.tid == tid) {
            thread.tail_call_frames.push(index);
        }
    }
    if threads.is_empty() {
        bail!("gdb -p {pid} printed no backtraces\nstdout:\n{stdout}\nstderr:\n{stderr}");
    }
    Ok(threads)
}
