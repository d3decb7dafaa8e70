//! Python stacks in the Threads section: each Python thread's frames
//! replace the interpreter's eval-loop frames in its native stack, and are
//! kept on their own as the thread's Python stack, with its GIL ownership.
//!
//! One call of `_PyEval_EvalFrameDefault` runs one Python frame up to 3.10
//! and several from 3.11, so the Python chain is split at the frames that
//! began an eval call (`entry`) and the groups go to the eval frames in
//! order, innermost first. The Python stacks are read right after the
//! native capture, yet a running thread can move in between: when the
//! groups and the eval frames do not pair up one to one, nothing is
//! merged, and the note says what each view holds and how far apart the
//! two reads were. A Python failure never costs the native stacks: it
//! becomes a note.

use std::time::{Duration, Instant};

use crate::model::{FrameKind, PythonRuntime, Thread, Threads, UserFrame};
use crate::python::source::SourceFiles;
use crate::python::{PythonFrame, PythonThread};
use crate::sections::context::ReportContext;

/// The interpreter's eval loop, as symbolized (`.cold` parts included).
const EVAL_FRAME: &str = "_PyEval_EvalFrameDefault";

/// The Python side of a process at one moment, before it meets the
/// native stacks.
pub struct PythonSnapshot {
    pid: u32,
    /// From the end of the native capture to the end of this read.
    after_capture: Duration,
    /// The interpreter and its threads; `Err` is a note for the report.
    read: Result<(PythonRuntime, Vec<PythonThread>), String>,
}

/// Reads the Python thread states of the process `context` describes;
/// `None` when it runs no CPython. Called right after the native capture
/// (which ended at `captured`), before the other sections start and before
/// the slower unwinding and symbolizing, so both describe nearly the same
/// moment.
pub fn read_python(context: &ReportContext, captured: Instant) -> Option<PythonSnapshot> {
    let started = Instant::now();
    let pid = context.pid;
    let interpreter = match &context.python {
        Ok(Some(interpreter)) => interpreter,
        Ok(None) => return None,
        Err(error) => {
            return Some(PythonSnapshot {
                pid,
                after_capture: captured.elapsed(),
                read: Err(format!("Python stacks not read: {error}")),
            });
        }
    };
    let runtime = PythonRuntime {
        version: interpreter.version.to_string(),
        binary: interpreter.binary.clone(),
    };
    let read = match interpreter.threads() {
        Ok(threads) => {
            log::debug!(
                "pid {pid}: Python {} stacks of {} threads read in {:?}",
                interpreter.version,
                threads.len(),
                started.elapsed()
            );
            Ok((runtime, threads))
        }
        Err(error) => Err(format!(
            "Python {}: cannot read thread states: {error}",
            runtime.version
        )),
    };
    Some(PythonSnapshot {
        pid,
        after_capture: captured.elapsed(),
        read,
    })
}

/// Puts the Python stacks of `snapshot` into `threads`: merged into each
/// matching thread's user stack and kept on their own, with source lines.
pub fn add_python_stacks(threads: &mut Threads, snapshot: PythonSnapshot) {
    let (runtime, python_threads) = match snapshot.read {
        Ok(read) => read,
        Err(note) => {
            threads.python_note = Some(note);
            return;
        }
    };
    threads.python = Some(runtime);
    let mut sources = SourceFiles::new(snapshot.pid);
    let mut unmatched = 0;
    for python in &python_threads {
        let Some(thread) = threads
            .threads
            .iter_mut()
            .find(|t| python.native_tid == Some(t.tid))
        else {
            unmatched += 1;
            continue;
        };
        thread.holds_gil = python.holds_gil;
        thread.python_ident = Some(python.pthread_id);
        thread.python_note.clone_from(&python.unreliable);
        let frames = python
            .frames
            .iter()
            .map(|frame| python_frame_model(frame, &mut sources))
            .collect::<Vec<_>>();
        if python.unreliable.is_none() {
            thread.python_note = merge(thread, &python.frames, &frames, snapshot.after_capture);
        }
        thread.python_frames = Some(frames);
    }
    if unmatched > 0 {
        threads.python_note = Some(format!(
            "{unmatched} Python thread state(s) could not be matched to an OS thread"
        ));
    }
}

/// A Python frame as a report frame, with its source line.
pub fn python_frame_model(frame: &PythonFrame, sources: &mut SourceFiles) -> UserFrame {
    UserFrame {
        kind: FrameKind::Python,
        address: frame.address,
        function: Some(frame.function.clone()),
        module: None,
        module_offset: None,
        file: Some(frame.file.clone()),
        line: frame.line,
        inlined: false,
        tail_call: false,
        source: frame.line.and_then(|line| sources.line(&frame.file, line)),
    }
}

/// Puts `frames` (the model of `python`, read `after_capture` past the
/// native capture) in place of the eval-loop frames of `thread`'s user
/// stack when each eval call pairs with one eval-loop frame; otherwise
/// leaves the native stack as captured and returns a note saying why.
fn merge(
    thread: &mut Thread,
    python: &[PythonFrame],
    frames: &[UserFrame],
    after_capture: Duration,
) -> Option<String> {
    let mut groups = Vec::new();
    let mut start = 0;
    for (index, frame) in python.iter().enumerate() {
        if frame.entry {
            groups.push(&frames[start..=index]);
            start = index + 1;
        }
    }
    if start < frames.len() {
        groups.push(&frames[start..]);
    }
    let evals = thread
        .user_stack
        .iter()
        .filter(|frame| is_eval_frame(frame))
        .count();
    if evals != groups.len() {
        return Some(format!(
            "not merged: the native stack has {evals} eval-loop frame(s), the Python stack, \
             read {:.1} ms after it, {} eval call(s): the thread ran between the two reads \
             (or its native stack ends early); both are shown as read",
            after_capture.as_secs_f64() * 1e3,
            groups.len()
        ));
    }
    let mut groups_left = groups.iter();
    let merged = thread
        .user_stack
        .drain(..)
        .flat_map(|frame| match is_eval_frame(&frame) {
            true => groups_left
                .next()
                .map_or_else(|| vec![frame], |group| group.to_vec()),
            false => vec![frame],
        })
        .collect();
    thread.user_stack = merged;
    None
}

/// True for a native frame of the interpreter's eval loop.
fn is_eval_frame(frame: &UserFrame) -> bool {
    frame.kind == FrameKind::Native
        && frame.function.as_deref().is_some_and(|name| {
            name == EVAL_FRAME
                || name
                    .strip_prefix(EVAL_FRAME)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::merge;
    use crate::model::{FrameKind, Thread, UserFrame};
    use crate::python::PythonFrame;

    fn native(name: &str) -> UserFrame {
        UserFrame {
            kind: FrameKind::Native,
            address: 1,
            function: Some(name.to_owned()),
            module: None,
            module_offset: None,
            file: None,
            line: None,
            inlined: false,
            tail_call: false,
            source: None,
        }
    }

    fn python(name: &str, entry: bool) -> PythonFrame {
        PythonFrame {
            function: name.to_owned(),
            qualname: None,
            file: "/m.py".to_owned(),
            line: Some(1),
            entry,
            address: 2,
            code: 3,
        }
    }

    fn names(frames: &[UserFrame]) -> Vec<String> {
        frames
            .iter()
            .map(|f| {
                let kind = if f.kind == FrameKind::Python {
                    "py:"
                } else {
                    ""
                };
                format!("{kind}{}", f.function.as_deref().unwrap_or("?"))
            })
            .collect()
    }

    fn thread(stack: &[&str]) -> Thread {
        Thread {
            user_stack: stack.iter().map(|name| native(name)).collect(),
            ..Thread::new(1, "t", "S (sleeping)")
        }
    }

    fn model(frames: &[PythonFrame]) -> Vec<UserFrame> {
        frames
            .iter()
            .map(|f| UserFrame {
                kind: FrameKind::Python,
                ..native(&f.function)
            })
            .collect()
    }

    #[test]
    fn groups_replace_eval_frames_in_order() {
        let mut t = thread(&[
            "sem_wait",
            "_PyEval_EvalFrameDefault",
            "call_c",
            "_PyEval_EvalFrameDefault.cold",
            "main",
        ]);
        let py = [
            python("inner", false),
            python("middle", true),
            python("outer", false),
            python("module", true),
        ];
        assert_eq!(merge(&mut t, &py, &model(&py), Duration::ZERO), None);
        assert_eq!(
            names(&t.user_stack),
            [
                "sem_wait",
                "py:inner",
                "py:middle",
                "call_c",
                "py:outer",
                "py:module",
                "main"
            ]
        );
    }

    #[test]
    fn a_mismatch_leaves_the_native_stack_as_captured_with_a_note() {
        let stack = ["sem_wait", "_PyEval_EvalFrameDefault", "_start"];
        let mut t = thread(&stack);
        let py = [python("inner", true), python("outer", true)];
        let note = merge(&mut t, &py, &model(&py), Duration::from_micros(2500)).expect("note");
        assert!(
            note.starts_with(
                "not merged: the native stack has 1 eval-loop frame(s), the Python stack, \
                 read 2.5 ms after it, 2 eval call(s)"
            ),
            "{note}"
        );
        assert_eq!(names(&t.user_stack), stack, "nothing past _start");
    }
}
