//! The Threads section: every OS thread with its state, kernel stack and
//! symbolized user stack.
//!
//! Stacks of all threads are symbolized in one batch each (user, kernel), so
//! the process's memory map and kallsyms are consulted once per report. A
//! thread whose stack cannot be followed keeps the frames found so far and
//! a note saying why it ends there. In a CPython process, Python frames
//! take the place of the interpreter's eval-loop frames (see
//! `python_stacks`).

use std::cell::LazyCell;
use std::io;
use std::path::PathBuf;
use std::rc::Rc;

use super::python_stacks::{PythonSnapshot, add_python_stacks};
use crate::capture::model::{ProcessCapture, StackCopyEnd, ThreadCapture};
use crate::model::{FrameKind, KernelFrame, Thread, Threads, UserFrame};
use crate::proc::pid_namespace::NamespaceTids;
use crate::report::stage_times::StageTimes;
use crate::symbolize::{
    Symbolizer,
    jit::{self, PerfMap},
};
use crate::unwind::{self, Frame, ProcessModules, StackEnd, UnwindCache, UnwoundStack};

// `task_struct.__state` and `exit_state` bits (include/linux/sched.h).
const TASK_INTERRUPTIBLE: u32 = 0x1;
const TASK_UNINTERRUPTIBLE: u32 = 0x2;
const TASK_STOPPED: u32 = 0x4;
const TASK_TRACED: u32 = 0x8;
const EXIT_DEAD: u32 = 0x10;
const EXIT_ZOMBIE: u32 = 0x20;
const TASK_PARKED: u32 = 0x40;
const TASK_DEAD: u32 = 0x80;
const TASK_NOLOAD: u32 = 0x400;
const TASK_RTLOCK_WAIT: u32 = 0x1000;
const TASK_FROZEN: u32 = 0x8000;
const TASK_IDLE: u32 = TASK_UNINTERRUPTIBLE | TASK_NOLOAD;
const TASK_REPORT: u32 = TASK_INTERRUPTIBLE
    | TASK_UNINTERRUPTIBLE
    | TASK_STOPPED
    | TASK_TRACED
    | EXIT_DEAD
    | EXIT_ZOMBIE
    | TASK_PARKED;
/// The one reported state outside `TASK_REPORT`.
const TASK_REPORT_IDLE: u32 = TASK_REPORT + 1;
/// `/proc/PID/status` names, indexed by the highest reported bit.
const STATE_NAMES: [&str; 9] = [
    "R (running)",
    "S (sleeping)",
    "D (disk sleep)",
    "T (stopped)",
    "t (tracing stop)",
    "X (dead)",
    "Z (zombie)",
    "P (parked)",
    "I (idle)",
];

/// The section's title.
pub const TITLE: &str = "Threads";

/// Builds the Threads section from a capture and the Python stacks read
/// right after it (`python`), adding
/// the time spent unwinding and symbolizing to `stages`.
pub fn threads(
    capture: &ProcessCapture,
    python: Option<PythonSnapshot>,
    modules: &ProcessModules,
    symbolizer: &Symbolizer,
    stages: &mut StageTimes,
) -> Threads {
    let ns_tids = NamespaceTids::read_if_nested(capture.pid);
    let mut read_code = |address: u64, buf: &mut [u8]| modules.read_code(address, buf);
    let mut cache = UnwindCache::default();
    let unwound = StageTimes::time(&mut stages.unwind, || {
        capture
            .threads
            .iter()
            .map(|thread| {
                (!thread.kernel_thread).then(|| {
                    let (regs, stack) = (&thread.regs, &thread.user_stack);
                    unwind::unwind_cached(&mut cache, modules, regs, stack, &mut read_code)
                })
            })
            .collect::<Vec<_>>()
    });
    let user_stacks = unwound
        .iter()
        .map(|stack| stack.as_ref().map_or(&[][..], |s| &s.frames[..]))
        .collect::<Vec<&[Frame]>>();
    let (user, kernel) = StageTimes::time(&mut stages.symbolize, || {
        let user = symbolizer.symbolize_user_stacks(capture.pid, &user_stacks, modules);
        let kernel_addrs = capture
            .threads
            .iter()
            .flat_map(|thread| thread.kernel_stack.iter().copied())
            .collect::<Vec<_>>();
        (user, symbolizer.symbolize_kernel(&kernel_addrs))
    });
    let mut kernel = kernel.into_iter();
    // Read once for every thread that needs it, not once per thread.
    let perf_map = LazyCell::new(|| {
        (
            jit::perf_map_path(capture.pid),
            symbolizer.perf_map(capture.pid),
            capture.pid,
        )
    });
    let threads = capture
        .threads
        .iter()
        .zip(unwound.iter())
        .zip(user)
        .map(|((thread, unwound), user_stack)| {
            let live = !thread.kernel_thread && !thread.has_exited();
            let user_stack_note = [
                user_stack_note(thread, unwound.as_ref(), modules),
                live.then(|| unnamed_code_note(&user_stack, modules, &perf_map))
                    .flatten(),
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>();
            Thread {
                ns_tid: match &ns_tids {
                    Some(ns_tids) => ns_tids.to_namespace(thread.tid),
                    None => Some(thread.tid),
                },
                on_cpu: thread.on_cpu,
                kernel_stack: thread
                    .kernel_stack
                    .iter()
                    .map(|&address| {
                        kernel.next().unwrap_or(KernelFrame {
                            address,
                            function: None,
                        })
                    })
                    .collect(),
                kernel_stack_note: thread.kernel_stack_error.clone(),
                user_stack,
                user_stack_note: (!user_stack_note.is_empty()).then(|| user_stack_note.join("; ")),
                ..Thread::new(thread.tid, thread.comm.clone(), state_name(thread.state))
            }
        })
        .collect();
    let notes: Vec<String> = [completeness_note(capture), exec_note(capture)]
        .into_iter()
        .flatten()
        .collect();
    let mut threads = Threads {
        threads,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        python: None,
        python_note: None,
    };
    if let Some(python) = python {
        add_python_stacks(&mut threads, python);
    }
    threads
}

/// Whether the process ran another program since the capture began, which
/// makes its memory map (read after the capture) describe another image.
/// An exec under way at either end shows as no image at that end.
fn exec_note(capture: &ProcessCapture) -> Option<String> {
    let now = crate::proc::files::program_image(capture.pid);
    let exec_seen = match (capture.program_image, now) {
        (Some(before), Some(now)) => before != now,
        // No image when the capture began, one now: it was inside an exec.
        (None, Some(_)) => true,
        (Some(_), None) => crate::proc::files::is_between_images(capture.pid),
        (None, None) => false,
    };
    exec_seen.then(|| {
        "the process exec'd another program during the report: its stacks were captured \
         from one image and symbolized against the next, so frames may be unsymbolized or wrong"
            .to_owned()
    })
}

/// Why the thread list may lack threads the process had.
fn completeness_note(capture: &ProcessCapture) -> Option<String> {
    if capture.threads.iter().all(ThreadCapture::has_exited) {
        return Some(
            "the process has exited: only its zombie is left, not yet reaped by its parent"
                .to_owned(),
        );
    }
    let captured = capture.threads.len();
    let of = capture
        .threads_at_start
        .filter(|&n| n as usize > captured)
        .map(|n| format!(" of the {n} it had when capture began"))
        .unwrap_or_default();
    if capture.exited_during_capture {
        Some(format!(
            "the process exited during capture: {captured} thread(s){of} were captured before it did"
        ))
    } else if !of.is_empty() {
        Some(format!(
            "{captured} thread(s){of} were captured; the others exited meanwhile"
        ))
    } else {
        None
    }
}

/// The Threads section when the process's memory map cannot be read (a
/// hidden or unreadable `/proc/PID/maps`): names, states and kernel stacks
/// as captured, user stacks unwound by frame pointers alone and left
/// unsymbolized, each thread saying why.
pub fn threads_without_modules(
    capture: &ProcessCapture,
    python: Option<PythonSnapshot>,
    symbolizer: &Symbolizer,
    maps_error: &str,
    stages: &mut StageTimes,
) -> Threads {
    let mut section = threads(
        capture,
        python,
        &ProcessModules::default(),
        symbolizer,
        stages,
    );
    for (thread, captured) in section.threads.iter_mut().zip(&capture.threads) {
        if !captured.kernel_thread && !captured.has_exited() {
            thread.user_stack_note = Some(format!(
                "{maps_error}: user frames are unsymbolized frame-pointer guesses"
            ));
        }
    }
    section
}

/// The `/proc/PID/status` state of a task, following the kernel's
/// `__task_state_index()`. `state` is `task_struct.__state`, optionally
/// OR-ed with `exit_state`. Without `exit_state`, a task past `do_exit()`
/// (`TASK_DEAD`) is reported dead: it is a zombie or being reaped.
pub fn state_name(state: u32) -> &'static str {
    let exit_state = if state & TASK_DEAD != 0 && state & (EXIT_DEAD | EXIT_ZOMBIE) == 0 {
        EXIT_DEAD
    } else {
        0
    };
    let mut report = (state | exit_state) & TASK_REPORT;
    if state & TASK_IDLE == TASK_IDLE {
        report = TASK_REPORT_IDLE;
    }
    // The kernel reports rtmutex waiters and frozen tasks as D.
    if state & (TASK_RTLOCK_WAIT | TASK_FROZEN) != 0 {
        report = TASK_UNINTERRUPTIBLE;
    }
    // fls(): the index one past the highest set bit, 0 for none.
    let index = (u32::BITS - report.leading_zeros()) as usize;
    STATE_NAMES.get(index).copied().unwrap_or("? (unknown)")
}

/// Why the user stack is missing, ends early, or may be stale.
fn user_stack_note(
    thread: &ThreadCapture,
    unwound: Option<&UnwoundStack>,
    modules: &ProcessModules,
) -> Option<String> {
    let Some(unwound) = unwound else {
        return Some("kernel thread: no user stack".to_owned());
    };
    if thread.has_exited() {
        return Some("the thread has exited: no user stack left".to_owned());
    }
    let mut notes = Vec::new();
    if thread.on_cpu {
        notes.push("running on CPU: registers may be up to one tick old".to_owned());
    }
    let stack = &thread.user_stack;
    if !stack.page_valid.iter().any(|&valid| valid) {
        notes.push("user stack could not be copied; only the program counter is known".to_owned());
    } else {
        match &unwound.end {
            StackEnd::Complete => {}
            StackEnd::TruncatedStack(address) => notes.push(truncation_note(thread, *address)),
            StackEnd::UnwindError(reason) => notes.push(format!("unwinding stopped: {reason}")),
            StackEnd::MaxDepth(limit) => notes.push(format!(
                "stopped after {limit} frames; deeper frames omitted"
            )),
        }
        if unwound.end != StackEnd::Complete {
            notes.extend(unwind_info_note(unwound.frames.last(), modules));
        }
    }
    (!notes.is_empty()).then(|| notes.join("; "))
}

/// Whose code the frames of `stack` outside every mapped file are, when
/// the runtime's perf map does not name them; `perf_map` is the process's
/// map path, map and pid, read on first use.
fn unnamed_code_note(
    stack: &[UserFrame],
    modules: &ProcessModules,
    perf_map: &LazyCell<
        (PathBuf, Option<Rc<PerfMap>>, u32),
        impl FnOnce() -> (PathBuf, Option<Rc<PerfMap>>, u32),
    >,
) -> Option<String> {
    let unnamed = stack
        .iter()
        .filter(|frame| frame.function.is_none() && frame.module.is_none())
        .filter(|frame| frame.kind == FrameKind::Native)
        .count();
    (unnamed > 0).then(|| {
        let (path, map, pid) = &**perf_map;
        jit::unnamed_code_note(unnamed, modules, map.as_deref(), path, *pid)
    })
}

/// Why the frame unwinding stopped at had only frame pointers to go by,
/// which is the usual reason a stack ends early.
fn unwind_info_note(last: Option<&Frame>, modules: &ProcessModules) -> Option<String> {
    let address = last?.address;
    if let Some(skipped) = modules.skipped_at(address) {
        return Some(format!(
            "no unwind tables for {} ({}); frame pointers were tried",
            skipped.path, skipped.reason
        ));
    }
    match modules.module_at(address) {
        Some(module) if !module.has_unwind_info => Some(format!(
            "{} has no unwind tables; frame pointers were tried",
            module.path
        )),
        Some(_) => None,
        None => Some(format!(
            "{address:#x} is outside every mapped file (JIT or generated code?); frame pointers were tried"
        )),
    }
}

/// Why the stack memory at `address`, which the next frame needed, is not
/// in the copy: which limit stopped the copy, with its numbers.
fn truncation_note(thread: &ThreadCapture, address: u64) -> String {
    let stack = &thread.user_stack;
    let captured = stack.bytes.len() as u64;
    let offset = address.saturating_sub(stack.base);
    if offset < captured {
        let lookup = match thread.user_stack_end {
            StackCopyEnd::Unreadable {
                mapping_error: Some(errno),
            } => format!(
                " (the stack's mapping was not found: {}; the copy went on to the first unreadable page)",
                io::Error::from_raw_os_error(errno)
            ),
            _ => String::new(),
        };
        return format!(
            "stack truncated: the page holding {address:#x} could not be copied{lookup}"
        );
    }
    let why = match thread.user_stack_end {
        StackCopyEnd::Cap {
            cap_bytes,
            mapping_end: Some(end),
        } => format!(
            "the {} KiB cap (max_stack_bytes) stopped the copy {} KiB below the end of the stack's mapping at {end:#x}",
            cap_bytes / 1024,
            end.saturating_sub(stack.base + captured) / 1024
        ),
        StackCopyEnd::Cap {
            cap_bytes,
            mapping_end: None,
        } => format!(
            "the {} KiB cap (max_stack_bytes) stopped the copy (the stack's mapping was not found)",
            cap_bytes / 1024
        ),
        StackCopyEnd::Ring => "the capture's ring buffer had no room for more".to_owned(),
        StackCopyEnd::MappingEnd { end } => format!(
            "that is past the end of the stack's mapping at {end:#x}, so a frame points outside its stack"
        ),
        StackCopyEnd::Unreadable { .. } | StackCopyEnd::NotCopied => {
            "the page after it could not be copied".to_owned()
        }
    };
    format!(
        "stack truncated: {address:#x} is beyond the {} KiB copied from the page holding sp: {why}",
        captured / 1024
    )
}

#[cfg(test)]
mod tests {
    use gmr_common::UserRegs;

    use super::{state_name, threads, threads_without_modules, truncation_note};
    use crate::capture::model::{ProcessCapture, StackCopyEnd, StackSnapshot, ThreadCapture};
    use crate::report::stage_times::StageTimes;
    use crate::symbolize::Symbolizer;
    use crate::unwind::ProcessModules;

    fn thread(tid: u32, kernel_thread: bool, on_cpu: bool, stack: StackSnapshot) -> ThreadCapture {
        ThreadCapture {
            tid,
            comm: format!("t{tid}"),
            state: if on_cpu { 0 } else { 1 },
            on_cpu,
            kernel_thread,
            regs: UserRegs {
                ip: 0x40_1000,
                sp: 0x7ffd_0000_0010,
                ..UserRegs::default()
            },
            kernel_stack: Vec::new(),
            kernel_stack_error: None,
            user_stack: stack,
            user_stack_end: StackCopyEnd::Ring,
        }
    }

    #[test]
    fn truncation_notes_name_the_limit_with_its_numbers() {
        let stack = StackSnapshot {
            base: 0x7ffd_0000_0000,
            bytes: vec![0; 8192],
            page_valid: vec![true, false],
        };
        let mut capped = thread(1, false, false, stack);
        capped.user_stack_end = StackCopyEnd::Cap {
            cap_bytes: 8192,
            mapping_end: Some(0x7ffd_0010_2000),
        };
        assert_eq!(
            truncation_note(&capped, 0x7ffd_0000_2008),
            "stack truncated: 0x7ffd00002008 is beyond the 8 KiB copied from the page holding sp: \
             the 8 KiB cap (max_stack_bytes) stopped the copy 1024 KiB below the end of the \
             stack's mapping at 0x7ffd00102000"
        );
        let ring = ThreadCapture {
            user_stack_end: StackCopyEnd::Ring,
            ..capped.clone()
        };
        let note = truncation_note(&ring, 0x7ffd_0000_2008);
        assert!(note.ends_with("ring buffer had no room for more"), "{note}");
        let unreadable = ThreadCapture {
            user_stack_end: StackCopyEnd::Unreadable {
                mapping_error: Some(libc::EBUSY),
            },
            ..capped
        };
        let note = truncation_note(&unreadable, 0x7ffd_0000_1008);
        assert!(
            note.starts_with("stack truncated: the page holding 0x7ffd00001008 could not be copied (the stack's mapping was not found: Device or resource busy"),
            "{note}"
        );
    }

    #[test]
    fn notes_explain_missing_and_partial_stacks() {
        let uncopied = StackSnapshot {
            base: 0x7ffd_0000_0000,
            bytes: vec![0; 4096],
            page_valid: vec![false],
        };
        let copied = StackSnapshot {
            page_valid: vec![true],
            ..uncopied.clone()
        };
        // pid 0 keeps the symbolizer away from any real process.
        let capture = ProcessCapture {
            pid: 0,
            threads: vec![
                thread(1, true, false, StackSnapshot::default()),
                thread(2, false, false, uncopied),
                thread(3, false, true, copied.clone()),
                ThreadCapture {
                    regs: UserRegs {
                        ip: 0x40_1000,
                        sp: 0x7ffd_0000_0010,
                        bp: 0x5555_0000_0000,
                        ..UserRegs::default()
                    },
                    ..thread(4, false, false, copied)
                },
            ],
            ..ProcessCapture::default()
        };
        let section = threads(
            &capture,
            None,
            &ProcessModules::default(),
            &Symbolizer::new(),
            &mut StageTimes::default(),
        );
        let notes = section
            .threads
            .iter()
            .map(|t| t.user_stack_note.as_deref().unwrap_or(""))
            .collect::<Vec<_>>();
        assert_eq!(notes[0], "kernel thread: no user stack");
        assert!(section.threads[0].user_stack.is_empty());
        assert!(
            notes[1].starts_with("user stack could not be copied"),
            "{}",
            notes[1]
        );
        assert_eq!(section.threads[1].user_stack[0].address, 0x40_1000);
        assert!(notes[2].starts_with("running on CPU"), "{}", notes[2]);
        assert_eq!(section.threads[2].state, "R (running)");
        assert!(
            notes[3].starts_with("unwinding stopped: frame pointer"),
            "{}",
            notes[3]
        );
        assert!(
            notes[3].contains("outside every mapped file"),
            "{}",
            notes[3]
        );
    }

    #[test]
    fn the_section_note_says_why_threads_are_missing() {
        let copied = StackSnapshot {
            base: 0x7ffd_0000_0000,
            bytes: vec![0; 4096],
            page_valid: vec![true],
        };
        let dying = ThreadCapture {
            state: 0x80,
            ..thread(2, false, false, copied.clone())
        };
        let mut capture = ProcessCapture {
            pid: 0,
            threads: vec![thread(1, false, false, copied), dying],
            threads_at_start: Some(5),
            ..ProcessCapture::default()
        };
        let symbolizer = Symbolizer::new();
        let modules = ProcessModules::default();
        let note = threads(
            &capture,
            None,
            &modules,
            &symbolizer,
            &mut StageTimes::default(),
        )
        .note
        .unwrap();
        assert_eq!(
            note,
            "2 thread(s) of the 5 it had when capture began were captured; the others exited meanwhile"
        );
        capture.exited_during_capture = true;
        let section = threads(
            &capture,
            None,
            &modules,
            &symbolizer,
            &mut StageTimes::default(),
        );
        assert!(
            section
                .note
                .unwrap()
                .starts_with("the process exited during capture: 2 thread(s) of the 5")
        );
        assert_eq!(
            section.threads[1].user_stack_note.as_deref(),
            Some("the thread has exited: no user stack left")
        );
        capture.threads_at_start = Some(2);
        capture.exited_during_capture = false;
        assert_eq!(
            threads(
                &capture,
                None,
                &modules,
                &symbolizer,
                &mut StageTimes::default(),
            )
            .note,
            None
        );

        let bare = threads_without_modules(
            &capture,
            None,
            &symbolizer,
            "could not read /proc/1/maps",
            &mut StageTimes::default(),
        );
        let first = bare.threads[0].user_stack_note.as_deref().unwrap();
        assert!(
            first.starts_with("could not read /proc/1/maps: "),
            "{first}"
        );
        assert!(
            bare.threads[1]
                .user_stack_note
                .as_deref()
                .unwrap()
                .starts_with("the thread has exited"),
            "an exited thread keeps its own reason"
        );

        capture.threads.remove(0);
        let zombie = threads(
            &capture,
            None,
            &modules,
            &symbolizer,
            &mut StageTimes::default(),
        );
        assert_eq!(
            zombie.note.as_deref(),
            Some("the process has exited: only its zombie is left, not yet reaped by its parent")
        );
    }

    #[test]
    fn states_read_like_proc() {
        assert_eq!(state_name(0), "R (running)");
        assert_eq!(state_name(0x1), "S (sleeping)");
        assert_eq!(state_name(0x2), "D (disk sleep)");
        assert_eq!(state_name(0x102), "D (disk sleep)");
        assert_eq!(state_name(0x4), "T (stopped)");
        assert_eq!(state_name(0x104), "T (stopped)");
        assert_eq!(state_name(0x8), "t (tracing stop)");
        assert_eq!(state_name(0x10), "X (dead)");
        assert_eq!(state_name(0x20), "Z (zombie)");
        assert_eq!(state_name(0x80 | 0x20), "Z (zombie)");
        assert_eq!(state_name(0x80), "X (dead)");
        assert_eq!(state_name(0x40), "P (parked)");
        assert_eq!(state_name(0x402), "I (idle)");
        assert_eq!(state_name(0x8000), "D (disk sleep)");
        assert_eq!(state_name(0x1001), "D (disk sleep)");
    }
}
