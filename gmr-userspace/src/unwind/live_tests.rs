//! Unwinding and symbolizing real processes, captured from `/proc` instead
//! of eBPF.
//!
//! A thread blocked in a syscall has its exact sp and pc in
//! `/proc/PID/task/TID/syscall`, and its stack can be copied with
//! `process_vm_readv`. bp is not known that way, so these exercise DWARF
//! unwinding only. They need root (other processes' memory and
//! `map_files`) and gcc, and skip with a message otherwise.

use std::fs;
use std::hash::{DefaultHasher, Hash as _, Hasher as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::thread;
use std::time::{Duration, Instant};

use gmr_common::UserRegs;

use super::{ModuleCache, StackEnd, unwind};
use crate::capture::model::{ProcessCapture, StackCopyEnd, StackSnapshot, ThreadCapture};
use crate::model::UserFrame;
use crate::proc::memory::read_exact;
use crate::sections::context::ReportContext;
use crate::sections::threads::threads;
use crate::symbolize::Symbolizer;

/// Nested calls that end in `nanosleep`, in three shapes: plain, inside a
/// signal handler, and on two threads. Built with `-fomit-frame-pointer` so
/// only CFI can unwind it, and without sibling calls so every function keeps
/// its frame.
const PROGRAM: &str = r#"
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static inline __attribute__((always_inline)) void sleep_long(void) {
    struct timespec ts = {60, 0};
    nanosleep(&ts, 0);
}
__attribute__((noinline)) void inner(void) { sleep_long(); __asm__ volatile(""); }
__attribute__((noinline)) void middle(void) { inner(); __asm__ volatile(""); }
__attribute__((noinline)) void outer(void) { middle(); __asm__ volatile(""); }

__attribute__((noinline)) void handler_inner(void) { sleep_long(); __asm__ volatile(""); }
__attribute__((noinline)) void on_signal(int sig) { (void)sig; handler_inner(); __asm__ volatile(""); }
__attribute__((noinline)) void raise_signal(void) { raise(SIGUSR1); __asm__ volatile(""); }

static void *thread_main(void *arg) { (void)arg; outer(); return 0; }

int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "";
    if (strcmp(mode, "signal") == 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigaction(SIGUSR1, &sa, 0);
        raise_signal();
    } else if (strcmp(mode, "threads") == 0) {
        pthread_t thread;
        pthread_create(&thread, 0, thread_main, 0);
        outer();
    } else {
        outer();
    }
    return 0;
}
"#;

/// syscall numbers a sleeping thread shows: `nanosleep`, `clock_nanosleep`.
const SLEEP_SYSCALLS: [u64; 2] = [35, 230];
/// Stack pages read: these fixtures' stacks are shallow, and the capture
/// copies no more than what is used.
const STACK_PAGES: usize = 8;

fn skip(test: &str) -> bool {
    if rustix::process::geteuid().as_raw() != 0 {
        eprintln!("skipping {test}: needs root to read another process's memory and map_files");
        return true;
    }
    false
}

/// The test program, built once per test run into a directory named after
/// its source, so runs share one build and leave one directory behind.
fn program() -> Option<&'static Path> {
    static PROGRAM_PATH: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROGRAM_PATH
        .get_or_init(|| {
            let mut hasher = DefaultHasher::new();
            PROGRAM.hash(&mut hasher);
            let dir = std::env::temp_dir().join(format!("gmr-live-tests-{:016x}", hasher.finish()));
            fs::create_dir_all(&dir).ok()?;
            let binary = dir.join("nested");
            if binary.exists() {
                return Some(binary);
            }
            // Written under private names and renamed, so a concurrent run
            // never sees a half-written file.
            let pid = std::process::id();
            let writing = dir.join(format!("nested-{pid}.c"));
            let source = dir.join("nested.c");
            let building = dir.join(format!("nested-{pid}"));
            fs::write(&writing, PROGRAM).ok()?;
            fs::rename(&writing, &source).ok()?;
            let status = Command::new("gcc")
                .args([
                    "-O2",
                    "-g",
                    "-fomit-frame-pointer",
                    "-fno-optimize-sibling-calls",
                    "-pthread",
                    "-o",
                ])
                .arg(&building)
                .arg(&source)
                .status();
            match status {
                Ok(status) if status.success() => {
                    fs::rename(&building, &binary).ok()?;
                    Some(binary)
                }
                other => {
                    eprintln!("could not build the test program with gcc: {other:?}");
                    None
                }
            }
        })
        .as_deref()
}

/// A child process killed when dropped.
struct Child(std::process::Child);

impl Child {
    fn spawn(program: &Path, args: &[&str]) -> Self {
        let child = Command::new(program)
            .args(args)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn test child");
        Child(child)
    }

    fn pid(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Waits until `count` threads of `pid` sleep in nanosleep, returning their
/// ids.
fn sleeping_threads(pid: u32, count: usize) -> Vec<u32> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tids = fs::read_dir(format!("/proc/{pid}/task"))
            .map(|dir| {
                dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
                    .collect::<Vec<u32>>()
            })
            .unwrap_or_default();
        let sleeping = tids
            .iter()
            .copied()
            .filter(|&tid| {
                syscall_sp_pc(pid, tid).is_some_and(|(nr, _, _)| SLEEP_SYSCALLS.contains(&nr))
            })
            .collect::<Vec<_>>();
        if sleeping.len() >= count {
            let mut sleeping = sleeping;
            sleeping.sort_unstable_by_key(|&tid| (tid != pid, tid));
            return sleeping;
        }
        assert!(Instant::now() < deadline, "process {pid} never slept");
        thread::sleep(Duration::from_millis(10));
    }
}

/// `(syscall number, sp, pc)` of a thread blocked in a syscall.
fn syscall_sp_pc(pid: u32, tid: u32) -> Option<(u64, u64, u64)> {
    let text = fs::read_to_string(format!("/proc/{pid}/task/{tid}/syscall")).ok()?;
    let fields = text.split_whitespace().collect::<Vec<_>>();
    let hex = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
    let nr = fields.first()?.parse().ok()?;
    let pc = hex(fields.last()?)?;
    let sp = hex(fields.get(fields.len().checked_sub(2)?)?)?;
    Some((nr, sp, pc))
}

/// The stack pages from the one holding `sp`, as the eBPF capture copies.
fn snapshot(pid: u32, sp: u64) -> StackSnapshot {
    let page = StackSnapshot::PAGE;
    let base = sp & !(page - 1);
    let mut bytes = vec![0; STACK_PAGES * page as usize];
    let page_valid = bytes
        .chunks_mut(page as usize)
        .zip(0..)
        .map(|(chunk, index)| {
            let copied = read_exact(pid, base + index * page, chunk).is_ok();
            if !copied {
                chunk.fill(0);
            }
            copied
        })
        .collect();
    StackSnapshot {
        base,
        bytes,
        page_valid,
    }
}

/// A sleeping thread as the capture would see it, bp unknown.
fn capture_thread(pid: u32, tid: u32) -> ThreadCapture {
    let (_, sp, pc) = syscall_sp_pc(pid, tid).expect("thread is in a syscall");
    let comm = fs::read_to_string(format!("/proc/{pid}/task/{tid}/comm")).unwrap_or_default();
    ThreadCapture {
        tid,
        comm: comm.trim_end().to_owned(),
        state: 1,
        on_cpu: false,
        kernel_thread: false,
        regs: UserRegs {
            ip: pc,
            sp,
            ..UserRegs::default()
        },
        kernel_stack: Vec::new(),
        kernel_stack_error: None,
        user_stack: snapshot(pid, sp),
        user_stack_end: StackCopyEnd::Cap {
            cap_bytes: (STACK_PAGES as u64) * StackSnapshot::PAGE,
            mapping_end: None,
        },
    }
}

fn print_stack(title: &str, frames: &[UserFrame]) {
    eprintln!("{title}:");
    for (index, frame) in frames.iter().enumerate() {
        eprintln!(
            "  #{index:<2} {:#014x} {}{} in {} +{:#x} {}:{}",
            frame.address,
            frame.function.as_deref().unwrap_or("??"),
            if frame.inlined { " [inlined]" } else { "" },
            frame.module.as_deref().unwrap_or("??"),
            frame.module_offset.unwrap_or(0),
            frame.file.as_deref().unwrap_or("?"),
            frame.line.unwrap_or(0),
        );
    }
}

/// Asserts that `expected` names appear in order among the frames'
/// functions, each matched by the frame's name containing it.
fn assert_in_order(frames: &[UserFrame], expected: &[&str]) {
    let names = frames
        .iter()
        .map(|f| f.function.as_deref().unwrap_or("??"))
        .collect::<Vec<_>>();
    let mut rest = names.iter();
    for want in expected {
        assert!(
            rest.any(|name| name.contains(want)),
            "{want} missing or out of order in {names:?}"
        );
    }
}

#[test]
fn nested_c_calls_unwind_and_symbolize() {
    if skip("nested_c_calls_unwind_and_symbolize") {
        return;
    }
    let Some(program) = program() else { return };
    let child = Child::spawn(program, &[]);
    let pid = child.pid();
    let tid = sleeping_threads(pid, 1)[0];
    let thread = capture_thread(pid, tid);

    let mut cache = ModuleCache::new();
    let started = Instant::now();
    cache.modules_for(pid).expect("modules");
    let cold = started.elapsed();
    let started = Instant::now();
    let modules = cache.modules_for(pid).expect("modules");
    let warm = started.elapsed();
    eprintln!(
        "module load: cold {cold:?}, warm {warm:?} ({} modules, {} skipped)",
        modules.modules().len(),
        modules.skipped().len()
    );
    assert!(modules.skipped().is_empty(), "{:?}", modules.skipped());

    let symbolizer = Symbolizer::new();
    let mut timings = Vec::new();
    let mut result = None;
    for _ in 0..3 {
        let started = Instant::now();
        let unwound = unwind(&modules, &thread.regs, &thread.user_stack, &mut |a, b| {
            modules.read_code(a, b)
        });
        let unwound_at = started.elapsed();
        let frames = symbolizer.symbolize_user(pid, &unwound.frames, &modules);
        timings.push((unwound_at, started.elapsed()));
        result = Some((unwound, frames));
    }
    eprintln!("unwind, unwind+symbolize per run (first is cold): {timings:?}");
    let (unwound, frames) = result.expect("ran");
    print_stack("nested C program", &frames);

    assert_eq!(unwound.end, StackEnd::Complete);
    assert_in_order(
        &frames,
        &[
            "clock_nanosleep",
            "sleep_long",
            "inner",
            "middle",
            "outer",
            "main",
        ],
    );
    let sleep_long = frames
        .iter()
        .find(|f| f.function.as_deref() == Some("sleep_long"))
        .expect("inlined frame");
    assert!(sleep_long.inlined);
    let inner = frames
        .iter()
        .find(|f| f.function.as_deref() == Some("inner"))
        .expect("inner");
    assert!(!inner.inlined);
    assert_eq!(inner.address, sleep_long.address);
    assert!(
        inner
            .file
            .as_deref()
            .is_some_and(|f| f.ends_with("nested.c"))
    );
    assert!(
        inner
            .module
            .as_deref()
            .is_some_and(|m| m.ends_with("/nested"))
    );
}

#[test]
fn signal_handler_frames_lead_back_to_the_interrupted_code() {
    if skip("signal_handler_frames_lead_back_to_the_interrupted_code") {
        return;
    }
    let Some(program) = program() else { return };
    let child = Child::spawn(program, &["signal"]);
    let pid = child.pid();
    let tid = sleeping_threads(pid, 1)[0];
    let thread = capture_thread(pid, tid);
    let modules = ModuleCache::new().modules_for(pid).expect("modules");
    let unwound = unwind(&modules, &thread.regs, &thread.user_stack, &mut |a, b| {
        modules.read_code(a, b)
    });
    let frames = Symbolizer::new().symbolize_user(pid, &unwound.frames, &modules);
    print_stack("signal handler", &frames);

    assert_eq!(unwound.end, StackEnd::Complete);
    assert_eq!(
        unwound
            .frames
            .iter()
            .filter(|f| f.is_signal_trampoline)
            .count(),
        1
    );
    assert_in_order(
        &frames,
        &[
            "clock_nanosleep",
            "handler_inner",
            "on_signal",
            "raise",
            "raise_signal",
            "main",
        ],
    );
}

#[test]
fn threads_section_covers_every_thread() {
    if skip("threads_section_covers_every_thread") {
        return;
    }
    let Some(program) = program() else { return };
    let child = Child::spawn(program, &["threads"]);
    let pid = child.pid();
    let tids = sleeping_threads(pid, 2);
    let capture = ProcessCapture {
        pid,
        threads: tids.iter().map(|&tid| capture_thread(pid, tid)).collect(),
        ..ProcessCapture::default()
    };
    let context = ReportContext::read(pid);
    let maps = context.maps.as_ref().expect("maps");
    let modules = ModuleCache::new().modules_in(pid, maps);
    let python = crate::sections::python_stacks::read_python(&context, std::time::Instant::now());
    let section = threads(
        &capture,
        python,
        &modules,
        &Symbolizer::new(),
        &mut crate::report::stage_times::StageTimes::default(),
    );

    assert_eq!(section.threads.len(), 2);
    for thread in &section.threads {
        print_stack(
            &format!("thread {} ({})", thread.tid, thread.state),
            &thread.user_stack,
        );
        assert_eq!(thread.state, "S (sleeping)");
        assert_eq!(thread.user_stack_note, None);
        assert_in_order(
            &thread.user_stack,
            &["clock_nanosleep", "inner", "middle", "outer"],
        );
    }
    assert_in_order(&section.threads[0].user_stack, &["outer", "main"]);
    assert_in_order(&section.threads[1].user_stack, &["outer", "thread_main"]);
}

#[test]
fn deleted_binary_is_read_through_map_files() {
    if skip("deleted_binary_is_read_through_map_files") {
        return;
    }
    let Some(program) = program() else { return };
    let copy = program.with_file_name(format!("nested-deleted-{}", std::process::id()));
    fs::copy(program, &copy).expect("copy program");
    let child = Child::spawn(&copy, &[]);
    let pid = child.pid();
    let tid = sleeping_threads(pid, 1)[0];
    fs::remove_file(&copy).expect("delete program");
    let thread = capture_thread(pid, tid);
    let modules = ModuleCache::new().modules_for(pid).expect("modules");
    assert!(modules.modules().iter().any(|m| m.deleted));
    let unwound = unwind(&modules, &thread.regs, &thread.user_stack, &mut |a, b| {
        modules.read_code(a, b)
    });
    let frames = Symbolizer::new().symbolize_user(pid, &unwound.frames, &modules);
    print_stack("deleted binary", &frames);
    assert_eq!(unwound.end, StackEnd::Complete);
    assert_in_order(&frames, &["inner", "middle", "outer", "main"]);
}

#[test]
fn coreutils_sleep_unwinds_to_its_entry_point() {
    if skip("coreutils_sleep_unwinds_to_its_entry_point") {
        return;
    }
    let child = Child::spawn(Path::new("sleep"), &["60"]);
    let pid = child.pid();
    let tid = sleeping_threads(pid, 1)[0];
    let thread = capture_thread(pid, tid);
    let modules = ModuleCache::new().modules_for(pid).expect("modules");
    let unwound = unwind(&modules, &thread.regs, &thread.user_stack, &mut |a, b| {
        modules.read_code(a, b)
    });
    let frames = Symbolizer::new().symbolize_user(pid, &unwound.frames, &modules);
    print_stack("sleep 60", &frames);
    assert_eq!(unwound.end, StackEnd::Complete);
    assert_in_order(&frames, &["clock_nanosleep"]);
    assert!(unwound.frames.len() >= 4, "{:?}", unwound.frames);
}

#[test]
fn kernel_addresses_resolve_through_kallsyms() {
    if skip("kernel_addresses_resolve_through_kallsyms") {
        return;
    }
    let kallsyms = fs::read_to_string("/proc/kallsyms").expect("kallsyms");
    let schedule = kallsyms
        .lines()
        .find_map(|line| {
            let mut fields = line.split_whitespace();
            let address = fields.next()?;
            let kind = fields.next()?;
            let name = fields.next()?;
            (name == "schedule" && kind.eq_ignore_ascii_case("t"))
                .then(|| u64::from_str_radix(address, 16).ok())
                .flatten()
        })
        .expect("schedule in kallsyms");
    let symbolizer = Symbolizer::new();
    let mut timings = Vec::new();
    let mut frames = Vec::new();
    for _ in 0..3 {
        let started = Instant::now();
        frames = symbolizer.symbolize_kernel(&[schedule + 0x10, 0x10]);
        timings.push(started.elapsed());
    }
    eprintln!("kernel symbolization per call (first is cold): {timings:?}");
    assert_eq!(frames[0].function.as_deref(), Some("schedule+0x10"));
    assert_eq!(frames[1].address, 0x10);
    assert_eq!(frames[1].function, None);
}

/// Open descriptors of this process on `path`.
fn descriptors_on(path: &Path) -> usize {
    fs::read_dir("/proc/self/fd")
        .map(|entries| {
            entries
                .flatten()
                .filter(|entry| fs::read_link(entry.path()).is_ok_and(|target| target == path))
                .count()
        })
        .unwrap_or_default()
}

#[test]
fn processes_of_one_program_share_its_parsed_file() {
    if skip("processes_of_one_program_share_its_parsed_file") {
        return;
    }
    let Some(program) = program() else { return };
    // A copy no other test opens, so the descriptor counts are this test's.
    let scratch = gmr_tests::scratch::Scratch::new("shared-file");
    let copy = scratch.join("nested");
    fs::copy(program, &copy).expect("copy the test program");
    let copy = fs::canonicalize(&copy).expect("the copy's real path");
    let children = [Child::spawn(&copy, &[]), Child::spawn(&copy, &[])];
    let mut cache = ModuleCache::new();
    let symbolizer = Symbolizer::new();
    let mut opened = Vec::new();
    for child in &children {
        let pid = child.pid();
        let thread = capture_thread(pid, sleeping_threads(pid, 1)[0]);
        let modules = cache.modules_for(pid).expect("modules");
        let unwound = unwind(&modules, &thread.regs, &thread.user_stack, &mut |a, b| {
            modules.read_code(a, b)
        });
        let before = descriptors_on(&copy);
        let frames = symbolizer.symbolize_user(pid, &unwound.frames, &modules);
        assert_in_order(&frames, &["inner", "middle", "outer", "main"]);
        opened.push(descriptors_on(&copy) - before);
    }
    assert_eq!(
        opened,
        [1, 0],
        "the first process's symbolization opens the program; the second's \
         reuses that parsed file (blazesym keys files by device and inode, \
         not by their /proc/PID/map_files path)"
    );
}
