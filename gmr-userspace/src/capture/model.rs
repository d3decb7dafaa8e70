//! What a capture returns: per-thread registers and stacks, as plain data.

use gmr_common::UserRegs;

/// A snapshot of one process's threads, taken without stopping it.
#[derive(Clone, Debug, Default)]
pub struct ProcessCapture {
    /// Process id.
    pub pid: u32,
    /// Threads in the kernel's order (main thread first).
    pub threads: Vec<ThreadCapture>,
    /// How many threads the process had when the capture began
    /// (`/proc/PID/stat`), if that could be read.
    pub threads_at_start: Option<u32>,
    /// Where its program image lay when the capture began
    /// ([`crate::proc::files::program_image`]), to tell an `exec` since.
    pub program_image: Option<(u64, u64)>,
    /// True when the process exited while (or just after) it was captured:
    /// threads that were gone before the iterator reached them are missing.
    pub exited_during_capture: bool,
}

/// One thread as the capture iterator saw it.
#[derive(Clone, Debug)]
pub struct ThreadCapture {
    /// Thread id.
    pub tid: u32,
    /// Thread name.
    pub comm: String,
    /// `__state | exit_state`, as /proc derives its state letter.
    pub state: u32,
    /// True if it was on a CPU while captured (registers may be a tick old).
    pub on_cpu: bool,
    /// True for kernel threads, which have no user stack.
    pub kernel_thread: bool,
    /// Saved user registers.
    pub regs: UserRegs,
    /// Kernel return addresses, innermost first.
    pub kernel_stack: Vec<u64>,
    /// Why the kernel stack is missing, if it is.
    pub kernel_stack_error: Option<String>,
    /// The user stack from the page holding `sp` upwards.
    pub user_stack: StackSnapshot,
    /// Why the copied user stack ends where it does.
    pub user_stack_end: StackCopyEnd,
}

impl ThreadCapture {
    /// True when the thread was exiting or already gone when captured
    /// (`TASK_DEAD`, `EXIT_ZOMBIE` or `EXIT_DEAD`): its memory is released,
    /// so it has no user stack left.
    pub fn has_exited(&self) -> bool {
        const EXIT_DEAD: u32 = 0x10;
        const EXIT_ZOMBIE: u32 = 0x20;
        const TASK_DEAD: u32 = 0x80;
        self.state & (EXIT_DEAD | EXIT_ZOMBIE | TASK_DEAD) != 0
    }
}

/// Why a thread's copied user stack ends where it does: the kernel's
/// `STACK_LIMIT_*`, with what userspace needs to explain it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StackCopyEnd {
    /// The copy reached the end of the mapping holding `sp`, at `end`:
    /// nothing of the stack is missing.
    MappingEnd {
        /// First address past the stack's mapping.
        end: u64,
    },
    /// The cap (`max_stack_bytes`) stopped the copy; the mapping went on to
    /// `mapping_end`, when it was found.
    Cap {
        /// The cap in bytes.
        cap_bytes: u64,
        /// First address past the stack's mapping, if known.
        mapping_end: Option<u64>,
    },
    /// A page could not be reserved in the stack ring buffer (not
    /// expected: the kernel sends a stack over several reads when needed).
    Ring,
    /// The last page copied could not be read. `mapping_error` is why the
    /// mapping holding `sp` was not found, if it was not (then the first
    /// unreadable page is how the copy found the stack's end).
    Unreadable {
        /// `bpf_find_vma`'s errno, when the mapping was not found.
        mapping_error: Option<i32>,
    },
    /// No user stack was copied.
    NotCopied,
}

/// Copied user-stack memory: consecutive pages starting at `base`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackSnapshot {
    /// Address of `bytes[0]` (page aligned).
    pub base: u64,
    /// The copied bytes; pages that could not be copied are zero.
    pub bytes: Vec<u8>,
    /// One entry per page: `true` when that page was copied.
    pub page_valid: Vec<bool>,
}

impl StackSnapshot {
    /// Size of one page of the snapshot.
    pub const PAGE: u64 = gmr_common::STACK_PAGE_SIZE as u64;

    /// Reads the aligned or unaligned 8-byte word at `address`, if it lies in
    /// a copied page.
    pub fn read_u64(&self, address: u64) -> Option<u64> {
        let offset = address.checked_sub(self.base)?;
        let end = offset.checked_add(8)?;
        if end > self.bytes.len() as u64 {
            return None;
        }
        let first_page = (offset / Self::PAGE) as usize;
        let last_page = ((end - 1) / Self::PAGE) as usize;
        if !(first_page..=last_page).all(|p| self.page_valid.get(p).copied().unwrap_or(false)) {
            return None;
        }
        let offset = offset as usize;
        let word: [u8; 8] = self.bytes[offset..offset + 8].try_into().ok()?;
        Some(u64::from_le_bytes(word))
    }
}
