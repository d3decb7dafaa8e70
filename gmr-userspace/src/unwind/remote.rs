//! Reading another process's memory with `process_vm_readv`, which neither
//! stops nor attaches to it.

use std::io;

/// Fills `buf` from `address` in process `pid`. Fails unless every byte was
/// copied.
pub(crate) fn read_memory(pid: u32, address: u64, buf: &mut [u8]) -> io::Result<()> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let local = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let remote = libc::iovec {
        iov_base: address as *mut libc::c_void,
        iov_len: buf.len(),
    };
    // SAFETY: `local` describes `buf`, which is writable for its length; the
    // remote iovec is only interpreted by the kernel in the other process.
    let copied = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    match usize::try_from(copied) {
        Err(_) => Err(io::Error::last_os_error()),
        Ok(n) if n == buf.len() => Ok(()),
        Ok(n) => Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            format!("copied {n} of {} bytes", buf.len()),
        )),
    }
}
