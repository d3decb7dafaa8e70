//! The most user stack copied per thread (`max_stack_bytes`).

use std::fmt;

use gmr_common::STACK_PAGE_SIZE;

/// The cap on user-stack bytes copied per thread, in whole pages.
///
/// The capture copies only the used part of a stack (from the page holding
/// `sp` to the end of its mapping), so the cap costs nothing for shallow
/// stacks; it bounds the time and memory a report spends on deep ones (the
/// stack ring buffer does not grow with it: a stack larger than its room
/// is sent over several reads).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StackCap {
    pages: u32,
}

impl StackCap {
    /// 8 MiB: Linux's default stack size (`ulimit -s`, and glibc's default
    /// thread stack), so a default stack is always copied whole.
    pub const DEFAULT: Self = Self { pages: 2048 };
    /// Smallest accepted cap in bytes (the fixed window of old versions).
    pub const MIN_BYTES: u64 = 32 * 1024;
    /// Largest accepted cap in bytes: eight times Linux's default stack,
    /// so that a thread given a huge stack and deep into it still cannot
    /// make one report copy gigabytes.
    pub const MAX_BYTES: u64 = 64 * 1024 * 1024;

    /// The cap for `bytes`, rounded up to whole pages; `None` outside
    /// [`StackCap::MIN_BYTES`]..=[`StackCap::MAX_BYTES`].
    pub fn from_bytes(bytes: u64) -> Option<Self> {
        (Self::MIN_BYTES..=Self::MAX_BYTES)
            .contains(&bytes)
            .then(|| Self {
                pages: bytes.div_ceil(STACK_PAGE_SIZE as u64) as u32,
            })
    }

    /// Pages copied at most per thread.
    pub fn pages(self) -> u32 {
        self.pages
    }

    /// Bytes copied at most per thread.
    pub fn bytes(self) -> u64 {
        u64::from(self.pages) * STACK_PAGE_SIZE as u64
    }
}

impl Default for StackCap {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl fmt::Display for StackCap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} KiB", self.bytes() / 1024)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_round_up_to_pages_within_their_bounds() {
        assert_eq!(StackCap::from_bytes(8 << 20), Some(StackCap::DEFAULT));
        let odd = StackCap::from_bytes(40_000).unwrap();
        assert_eq!((odd.pages(), odd.bytes()), (10, 40_960));
        assert_eq!(odd.to_string(), "40 KiB");
        assert_eq!(StackCap::from_bytes(StackCap::MIN_BYTES - 1), None);
        assert_eq!(StackCap::from_bytes(StackCap::MAX_BYTES + 1), None);
        assert!(StackCap::from_bytes(StackCap::MAX_BYTES).is_some());
    }
}
