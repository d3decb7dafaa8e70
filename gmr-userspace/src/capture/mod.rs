//! Capture: runs the kernel iterator over one process and returns
//! per-thread registers and stacks, without stopping the process.
//!
//! Per thread the iterator writes a [`ThreadRecord`] to its seq_file and the
//! used part of its user stack (up to the [`StackCap`]) to a ring buffer.
//! The kernel fills the seq_file buffer a batch of threads at a time,
//! running the program only while we `read()`, so draining the ring buffer
//! after every read keeps it from overflowing whatever the thread count: a
//! thread whose stack does not fit the room left sends what fits and ends
//! the batch; the next read, after the drain, goes on with it (`read()`
//! fails with `EAGAIN` when that thread was the batch's first).

pub mod decode;
mod iter_link;
pub mod model;

use std::{
    collections::HashMap,
    io::{self, Read as _},
    os::fd::{AsFd as _, OwnedFd},
    time::Duration,
};

use anyhow::{Context as _, Result, bail};
use aya::{
    Ebpf,
    maps::{Array, MapData, RingBuf},
    programs::{Iter, ProgramFd},
};
use gmr_common::{STACK_PAGE_SIZE, ThreadRecord};

use self::{
    iter_link::{IterScope, open_task_iter},
    model::{ProcessCapture, StackSnapshot, ThreadCapture},
};
pub use crate::kernel::stack_cap::StackCap;
use crate::{
    kernel::loader::CAPTURE_PROGRAM,
    proc::{self, pidfd},
};

/// How long a capture that found fewer threads than the process had waits
/// to see whether the process is exiting.
const EXIT_SETTLE: Duration = Duration::from_millis(100);

/// Runs captures; one at a time (it owns the stack ring buffer).
pub struct Capturer {
    program: ProgramFd,
    target: Array<MapData, u32>,
    stack_pages: RingBuf<MapData>,
    /// The cap the program was loaded with.
    cap: StackCap,
    /// False once the kernel refused a process-scoped iterator (pre-6.1).
    scoped: bool,
}

impl Capturer {
    /// Takes the capture program and its maps from an object loaded with
    /// stack cap `cap`.
    pub fn new(ebpf: &mut Ebpf, cap: StackCap) -> Result<Self> {
        let iter: &Iter = ebpf
            .program(CAPTURE_PROGRAM)
            .context("capture program missing")?
            .try_into()?;
        let program = iter.fd()?.try_clone()?;
        let target = Array::try_from(ebpf.take_map("CAPTURE_TGID").context("CAPTURE_TGID map")?)?;
        let stack_pages =
            RingBuf::try_from(ebpf.take_map("STACK_PAGES").context("STACK_PAGES map")?)?;
        Ok(Self {
            program,
            target,
            stack_pages,
            cap,
            scoped: true,
        })
    }

    /// Captures every thread of `pid`. Needs nothing from `/proc`, so a
    /// process hidden there (hidepid, another pid namespace's procfs) is
    /// captured too.
    pub fn capture(&mut self, pid: u32) -> Result<ProcessCapture> {
        // Taken first, so an exit at any point of the capture shows on it.
        let watch = ExitWatch::open(pid)?;
        let threads_at_start = proc::files::thread_count(pid);
        let program_image = proc::files::program_image(pid);
        self.target
            .set(0, pid, 0)
            .context("setting the capture target")?;
        while self.stack_pages.next().is_some() {}
        let mut iter = self.open(pid)?;
        let mut records = Vec::new();
        let mut pages: HashMap<u32, StackSnapshot> = HashMap::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut pending = Vec::new();
        let mut stack_pages = 0;
        loop {
            let n = match iter.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                // The batch's first thread filled the ring: drain, go on.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let drained = self.drain_pages(&mut pages)?;
                    if drained == 0 {
                        bail!(
                            "the capture iterator for {pid} asks for ring room while the ring is empty"
                        );
                    }
                    stack_pages += drained;
                    continue;
                }
                Err(e) => return Err(e).context(format!("reading the capture iterator for {pid}")),
            };
            pending.extend_from_slice(&buf[..n]);
            let whole = pending.len() - pending.len() % size_of::<ThreadRecord>();
            records.extend(decode::thread_records(&pending[..whole])?);
            pending.drain(..whole);
            stack_pages += self.drain_pages(&mut pages)?;
        }
        stack_pages += self.drain_pages(&mut pages)?;
        if records.is_empty() {
            bail!(gone(pid));
        }
        log::debug!(
            "captured {} threads of {pid}: {stack_pages} stack pages ({} KiB)",
            records.len(),
            stack_pages * STACK_PAGE_SIZE / 1024
        );
        let threads: Vec<ThreadCapture> = records
            .iter()
            .map(|r| decode::thread_capture(r, &mut pages, self.cap))
            .collect();
        // Threads missing: if the whole process is on its way out, give it a
        // moment to finish exiting, so the report can say so.
        let missing = threads_at_start.is_some_and(|n| threads.len() < n as usize);
        let settle = if missing { EXIT_SETTLE } else { Duration::ZERO };
        Ok(ProcessCapture {
            pid,
            exited_during_capture: watch.has_exited(settle),
            threads,
            threads_at_start,
            program_image,
        })
    }

    /// Opens a process-scoped iterator, or an all-tasks one on old kernels.
    fn open(&mut self, pid: u32) -> Result<std::fs::File> {
        if self.scoped {
            match open_task_iter(self.program.as_fd(), IterScope::Process(pid)) {
                Ok(file) => return Ok(file),
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    log::info!("kernel refuses process-scoped task iterators; filtering all tasks");
                    self.scoped = false;
                }
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => bail!(gone(pid)),
                Err(e) => return Err(e).context(format!("opening the capture iterator for {pid}")),
            }
        }
        open_task_iter(self.program.as_fd(), IterScope::AllTasks)
            .context("opening the capture iterator")
    }

    /// Copies every queued stack page that was read into its thread's stack
    /// in `pages` (keyed by tid); pages that could not be read stay invalid.
    /// Returns how many pages were queued.
    fn drain_pages(&mut self, pages: &mut HashMap<u32, StackSnapshot>) -> Result<usize> {
        let mut drained = 0;
        while let Some(item) = self.stack_pages.next() {
            decode::store_page(pages, &decode::stack_chunk(&item)?, self.cap);
            drained += 1;
        }
        Ok(drained)
    }
}

/// A pidfd on the captured process: readable once the process has exited.
struct ExitWatch(Option<OwnedFd>);

impl ExitWatch {
    /// Watches `pid`; fails if it is already gone. Without pidfds (before
    /// Linux 5.3) nothing is watched.
    fn open(pid: u32) -> Result<Self> {
        match pidfd::open(pid) {
            Ok(fd) => Ok(Self(Some(fd))),
            Err(error) if error.raw_os_error() == Some(libc::ESRCH) => bail!(gone(pid)),
            Err(_) => Ok(Self(None)),
        }
    }

    /// Whether the process has exited since [`ExitWatch::open`], waiting
    /// up to `wait` for it to.
    fn has_exited(&self, wait: Duration) -> bool {
        self.0
            .as_ref()
            .is_some_and(|fd| pidfd::has_exited(fd, wait))
    }
}

/// Why a process that was there when its report was asked for has no
/// threads to capture.
fn gone(pid: u32) -> String {
    format!("process {pid} does not exist any more: it exited before its threads could be captured")
}

#[cfg(test)]
mod tests {
    use std::{sync::mpsc, thread};

    use super::{model::StackSnapshot, *};
    use crate::kernel::loader::{LoadOptions, load};

    #[test]
    fn captures_every_thread_of_this_process_with_stacks() {
        if rustix::process::geteuid().as_raw() != 0 {
            eprintln!("SKIP: loading eBPF programs needs root");
            return;
        }
        let (tx, rx) = mpsc::channel::<()>();
        let parked = thread::Builder::new()
            .name("parked-probe".into())
            .spawn(move || rx.recv().ok())
            .unwrap();
        let mut ebpf = load(LoadOptions {
            trigger_signal: libc::SIGUSR2 as u32,
            stack_cap: StackCap::DEFAULT,
        })
        .expect("load");
        let mut capturer = Capturer::new(&mut ebpf, StackCap::DEFAULT).expect("capturer");
        let pid = std::process::id();
        // Other tests of this process map and unmap memory meanwhile; while
        // they hold its mmap lock the kernel cannot look the stack's mapping
        // up (the copy then ends at the first unreadable page, as the
        // README says), so a capture meeting that is taken again.
        let probe_copied_whole = |capture: &model::ProcessCapture| {
            capture.threads.iter().any(|t| {
                t.comm == "parked-probe"
                    && matches!(t.user_stack_end, model::StackCopyEnd::MappingEnd { .. })
            })
        };
        let mut capture = capturer.capture(pid).expect("capture");
        for _ in 0..20 {
            if probe_copied_whole(&capture) {
                break;
            }
            thread::sleep(std::time::Duration::from_millis(10));
            capture = capturer.capture(pid).expect("capture");
        }

        let mut expected: Vec<u32> = std::fs::read_dir("/proc/self/task")
            .unwrap()
            .map(|e| e.unwrap().file_name().to_str().unwrap().parse().unwrap())
            .collect();
        let mut got: Vec<u32> = capture.threads.iter().map(|t| t.tid).collect();
        expected.sort();
        got.sort();
        assert_eq!(got, expected, "captured tids match /proc/self/task");

        let probe = capture
            .threads
            .iter()
            .find(|t| t.comm == "parked-probe")
            .expect("probe");
        assert!(!probe.kernel_thread);
        assert!(
            !probe.kernel_stack.is_empty(),
            "a blocked thread has a kernel stack"
        );
        let sp = probe.regs.sp;
        assert!(probe.user_stack.base <= sp && sp < probe.user_stack.base + StackSnapshot::PAGE);
        assert!(
            probe.user_stack.page_valid[0],
            "the page holding sp was copied"
        );
        assert!(probe.user_stack.read_u64(sp).is_some());
        let copied_to = probe.user_stack.base + probe.user_stack.bytes.len() as u64;
        assert_eq!(
            probe.user_stack_end,
            model::StackCopyEnd::MappingEnd { end: copied_to },
            "the used stack, up to the end of its mapping, was copied"
        );
        assert!(probe.user_stack.page_valid.iter().all(|&valid| valid));
        drop(tx);
        parked.join().unwrap();

        let err = capturer.capture(u32::MAX - 1).unwrap_err();
        assert!(err.to_string().contains("does not exist"), "{err}");
    }
}
