//! Creates a task iterator restricted to one process.
//!
//! aya 0.14 attaches iterators without link info, which makes the kernel walk
//! every task on the host. Since Linux 6.1 a task iterator can be limited to
//! one process (`bpf_iter_link_info.task.pid`); this makes that link with the
//! `bpf(2)` syscall directly and opens a readable iterator on it.

use std::{
    fs::File,
    io,
    os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd},
};

const BPF_LINK_CREATE: libc::c_long = 28;
const BPF_ITER_CREATE: libc::c_long = 33;
const BPF_TRACE_ITER: u32 = 28;

/// `union bpf_attr` for `BPF_LINK_CREATE` (the prefix the kernel reads).
#[repr(C)]
#[derive(Default)]
struct LinkCreateAttr {
    prog_fd: u32,
    target_fd: u32,
    attach_type: u32,
    flags: u32,
    iter_info: u64,
    iter_info_len: u32,
    reserved: u32,
}

/// `union bpf_iter_link_info`, task variant; 16 bytes like the union.
#[repr(C)]
#[derive(Default)]
struct TaskIterInfo {
    tid: u32,
    pid: u32,
    pid_fd: u32,
    reserved: u32,
}

/// `union bpf_attr` for `BPF_ITER_CREATE`.
#[repr(C)]
#[derive(Default)]
struct IterCreateAttr {
    link_fd: u32,
    flags: u32,
}

/// How the iterator walks tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IterScope {
    /// Only the threads of this process (Linux 6.1+).
    Process(u32),
    /// Every task on the host; the program filters.
    AllTasks,
}

/// Opens the iterator: reading the returned file runs the program.
pub fn open_task_iter(prog: BorrowedFd<'_>, scope: IterScope) -> io::Result<File> {
    let mut info = TaskIterInfo::default();
    let mut attr = LinkCreateAttr {
        prog_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_TRACE_ITER,
        ..Default::default()
    };
    if let IterScope::Process(pid) = scope {
        info.pid = pid;
        attr.iter_info = &info as *const TaskIterInfo as u64;
        attr.iter_info_len = size_of::<TaskIterInfo>() as u32;
    }
    let link = bpf(BPF_LINK_CREATE, &attr)?;
    let iter = bpf(
        BPF_ITER_CREATE,
        &IterCreateAttr {
            link_fd: link.as_raw_fd() as u32,
            flags: 0,
        },
    )?;
    Ok(File::from(iter))
}

/// Calls `bpf(cmd, attr)` and takes ownership of the returned fd.
fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<OwnedFd> {
    // SAFETY: `attr` is a valid, initialized `bpf_attr` prefix of the given size.
    let ret = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr as *const T, size_of::<T>() as u32) };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: on success the kernel returned a new fd that we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(ret as i32) })
}
