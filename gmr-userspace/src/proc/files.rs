//! Small readers of `/proc/PID` files that several stages need.

use rustix::{io::Errno, process::Pid};

/// The process's name (`/proc/PID/comm`), or empty if it cannot be read.
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|c| c.trim_end().to_owned())
        .unwrap_or_default()
}

/// Why `/proc/PID` has nothing on `pid`: the process does not exist, or it
/// does (the kernel accepts a null signal for it) but is hidden from this
/// procfs (`hidepid`, a procfs of another pid namespace, an overmount).
pub fn missing_process(pid: u32) -> String {
    let Some(target) = i32::try_from(pid).ok().and_then(Pid::from_raw) else {
        return format!("process {pid} does not exist");
    };
    // A null signal only checks that the process exists; nothing is sent.
    let exists = matches!(
        rustix::process::test_kill_process(target),
        Ok(()) | Err(Errno::PERM)
    );
    if exists {
        format!("process {pid} exists but /proc/{pid} is hidden from the agent")
    } else {
        format!("process {pid} does not exist")
    }
}

/// Where the process's program image lies: `startcode` and `startstack`
/// from `/proc/PID/stat` (fields 26 and 28). An `exec` replaces both (with
/// address-space randomization), so a change between two reads means the
/// process ran another program image in between. `None` if unreadable or
/// if the process has no address space (a zombie, a kernel thread), which
/// the kernel shows as zeros.
pub fn program_image(pid: u32) -> Option<(u64, u64)> {
    let stat = stat(pid)?;
    Some((stat.startcode, stat.startstack)).filter(|&image| image != (0, 0))
}

/// `PF_EXITING` in `/proc/PID/stat`'s flags: the task is in `do_exit()`.
const PF_EXITING: u32 = 0x4;

/// True when process `pid` lives (is no zombie, and not exiting) but shows
/// no program image: it is inside an `exec`, between its old image and
/// the new one. An exiting process drops its image too (`exit_mm()`)
/// before it becomes a zombie; its `PF_EXITING` flag tells the two apart.
/// Only meaningful for a process that had an image before (kernel threads
/// never have one).
pub fn is_between_images(pid: u32) -> bool {
    let Some(stat) = stat(pid) else {
        return false;
    };
    let dead = matches!(stat.state, 'Z' | 'X' | 'x');
    let exiting = stat.flags & PF_EXITING != 0;
    !dead && !exiting && stat.startcode == 0 && stat.startstack == 0
}

/// How many threads the process has (`Threads` in `/proc/PID/status`), if
/// that can be read. Not from `/proc/PID/stat`, whose CPU times make the
/// kernel visit every thread (1.1 ms against 0.02 ms at 10,000 threads).
pub fn thread_count(pid: u32) -> Option<u32> {
    u32::try_from(status(pid)?.threads).ok()
}

/// When `pid` started, in clock ticks since boot (`starttime` in
/// `/proc/PID/stat`), if that can be read.
pub fn start_ticks(pid: u32) -> Option<u64> {
    Some(stat(pid)?.starttime)
}

/// Process `pid`'s `stat`, parsed by procfs (which copes with a comm
/// holding spaces and parentheses), as its main thread shows it
/// (`/proc/PID/task/PID/stat`): every field `/proc/PID/stat` has, the same
/// (state, parent, start, program image, argument area, threads, memory),
/// except the CPU times and fault counts, which are the main thread's own.
/// `/proc/PID/stat` sums those over every thread, which the reports never
/// show and which costs the kernel 1.1 ms at 10,000 threads, on every read.
/// The file is opened by path: procfs's `Process` would open and `fstat`
/// the process's directory first, which doubles the system calls of the
/// Processes section's scan of every process.
pub fn stat(pid: u32) -> Option<procfs::process::Stat> {
    let file = std::fs::File::open(format!("/proc/{pid}/task/{pid}/stat")).ok()?;
    procfs::FromRead::from_read(file).ok()
}

/// `/proc/PID/status`, parsed by procfs, if it can be read; opened by path
/// as [`stat`] is.
pub fn status(pid: u32) -> Option<procfs::process::Status> {
    let file = std::fs::File::open(format!("/proc/{pid}/status")).ok()?;
    procfs::FromRead::from_read(file).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_own_name_and_tolerates_a_missing_process() {
        let own = std::fs::read_to_string("/proc/self/comm").unwrap();
        assert_eq!(super::comm(std::process::id()), own.trim_end());
        assert_eq!(super::comm(u32::MAX - 1), "");
    }

    /// The main thread's `stat` holds the process's own fields, as
    /// `/proc/PID/stat` does, in a process with several threads.
    #[test]
    fn main_thread_stat_has_the_process_fields() {
        let parked =
            std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_millis(200)));
        let pid = std::process::id();
        let ours = super::stat(pid).unwrap();
        let whole = procfs::process::Process::myself().unwrap().stat().unwrap();
        let fields = |s: &procfs::process::Stat| {
            (
                s.pid,
                s.ppid,
                s.comm.clone(),
                s.starttime,
                s.startcode,
                s.endcode,
                s.startstack,
                s.arg_start,
                s.arg_end,
                s.env_start,
            )
        };
        assert_eq!(fields(&ours), fields(&whole));
        assert!(ours.num_threads > 1, "{}", ours.num_threads);
        assert!(super::stat(u32::MAX - 1).is_none());
        parked.join().unwrap();
    }

    #[test]
    fn counts_own_threads() {
        let tasks = std::fs::read_dir("/proc/self/task").unwrap().count() as u32;
        let counted = super::thread_count(std::process::id()).unwrap();
        // The test harness may start or end threads meanwhile.
        assert!(
            counted >= 1 && counted.abs_diff(tasks) <= 2,
            "{counted} vs {tasks}"
        );
        assert_eq!(super::thread_count(u32::MAX - 1), None);
        let (code, stack) = super::program_image(std::process::id()).unwrap();
        let here = counts_own_threads as *const () as u64;
        assert!(code > 0 && code <= here, "{code:#x} vs {here:#x}");
        assert!(stack > code, "{stack:#x}");
        if super::comm(2) == "kthreadd" {
            assert_eq!(
                super::program_image(2),
                None,
                "kthreadd has no address space"
            );
        }
    }

    #[test]
    fn a_process_between_images_lives_and_shows_none() {
        assert!(!super::is_between_images(std::process::id()), "we have one");
        assert!(!super::is_between_images(u32::MAX - 1), "no such process");
        // A zombie has no image either, but is not inside an exec.
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        let zombie = || super::stat(pid).is_some_and(|stat| stat.state == 'Z');
        // Before it is one, it may be between the images of its own exec.
        while !zombie() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert!(zombie(), "`true` exits within 5 s");
        assert_eq!(super::program_image(pid), None);
        assert!(
            !super::is_between_images(pid),
            "a zombie is not between images"
        );
        child.wait().unwrap();
        if super::comm(2) == "kthreadd" {
            // Kernel threads never have an image: callers ask only about a
            // process that had one.
            assert!(super::is_between_images(2));
        }
    }

    #[test]
    fn tells_a_missing_process_from_a_hidden_one() {
        assert_eq!(
            super::missing_process(u32::MAX - 1),
            "process 4294967294 does not exist"
        );
        let own = std::process::id();
        assert!(super::missing_process(own).contains("is hidden from the agent"));
    }
}
