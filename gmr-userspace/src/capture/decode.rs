//! Decodes the raw bytes the capture iterator emits. Pure, so it can be
//! tested (and fuzzed) from byte arrays.

use std::{collections::HashMap, io, mem::offset_of};

use gmr_common::{
    STACK_LIMIT_CAP, STACK_LIMIT_MAPPING, STACK_LIMIT_RING, STACK_LIMIT_UNREADABLE,
    STACK_PAGE_SIZE, StackChunk, THREAD_FLAG_KERNEL, THREAD_RECORD_MAGIC, ThreadRecord,
};

use super::{
    StackCap,
    model::{StackCopyEnd, StackSnapshot, ThreadCapture},
};

/// A decoding failure naming the offset and what was wrong.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The record stream does not start with the record magic at `offset`.
    #[error("thread record at byte {offset} has bad magic {found:#x}")]
    BadMagic {
        /// Byte offset in the stream.
        offset: usize,
        /// The value found.
        found: u32,
    },
    /// The stream ended inside a record.
    #[error("thread record stream ends mid-record ({len} bytes is not a multiple of {record})")]
    Truncated {
        /// Stream length.
        len: usize,
        /// Record size.
        record: usize,
    },
    /// A ring-buffer item has the wrong size for a stack chunk.
    #[error("stack chunk of {len} bytes, expected {expected}")]
    ChunkSize {
        /// Item length.
        len: usize,
        /// Expected length.
        expected: usize,
    },
}

/// Decodes a stream of whole thread records.
pub fn thread_records(bytes: &[u8]) -> Result<Vec<ThreadRecord>, DecodeError> {
    let size = size_of::<ThreadRecord>();
    if !bytes.len().is_multiple_of(size) {
        return Err(DecodeError::Truncated {
            len: bytes.len(),
            record: size,
        });
    }
    bytes
        .chunks_exact(size)
        .enumerate()
        .map(|(i, raw)| {
            // SAFETY: `raw` holds exactly one record; every bit pattern is valid.
            let record: ThreadRecord = unsafe { std::ptr::read_unaligned(raw.as_ptr().cast()) };
            if record.magic != THREAD_RECORD_MAGIC {
                return Err(DecodeError::BadMagic {
                    offset: i * size,
                    found: record.magic,
                });
            }
            Ok(record)
        })
        .collect()
}

/// One stack page as it sits in a ring-buffer item: the [`StackChunk`]
/// header fields, and its bytes borrowed, not copied.
#[derive(Debug, PartialEq, Eq)]
pub struct StackPage<'a> {
    /// Thread id the page belongs to.
    pub tid: u32,
    /// Index of the page above the thread's stack base.
    pub page: u32,
    /// 0 when `data` holds the page, else the negative errno of the copy.
    pub status: i32,
    /// The page's bytes.
    pub data: &'a [u8],
}

/// Decodes one stack chunk from a ring-buffer item.
pub fn stack_chunk(bytes: &[u8]) -> Result<StackPage<'_>, DecodeError> {
    let expected = size_of::<StackChunk>();
    if bytes.len() != expected {
        return Err(DecodeError::ChunkSize {
            len: bytes.len(),
            expected,
        });
    }
    let word = |offset: usize| -> [u8; 4] {
        bytes[offset..offset + 4]
            .try_into()
            .expect("a 4-byte field inside a checked length")
    };
    Ok(StackPage {
        tid: u32::from_ne_bytes(word(offset_of!(StackChunk, tid))),
        page: u32::from_ne_bytes(word(offset_of!(StackChunk, page))),
        status: i32::from_ne_bytes(word(offset_of!(StackChunk, status))),
        data: &bytes[offset_of!(StackChunk, data)..],
    })
}

/// Copies a page that was read into its place in its thread's stack in
/// `pages` (keyed by tid); a page that could not be read, or lies beyond
/// the `cap` the program copies, is left out (reads as invalid). Pages come
/// in order, so a stack grows only as far as needed.
pub fn store_page(pages: &mut HashMap<u32, StackSnapshot>, page: &StackPage<'_>, cap: StackCap) {
    let index = page.page as usize;
    if page.status != 0 || index >= cap.pages() as usize {
        return;
    }
    let stack = pages.entry(page.tid).or_default();
    let start = index * STACK_PAGE_SIZE;
    if stack.bytes.len() <= start {
        stack.bytes.resize(start, 0);
        stack.bytes.extend_from_slice(page.data);
        stack.page_valid.resize(index, false);
        stack.page_valid.push(true);
    } else {
        stack.bytes[start..start + STACK_PAGE_SIZE].copy_from_slice(page.data);
        stack.page_valid[index] = true;
    }
}

/// One thread's capture from its record and the stack pages sent for it,
/// taken out of `pages` (keyed by tid); pages that never came read as
/// zeros. A record claiming more pages than the capture program copies
/// (`cap`) gets only those: no page can exist beyond them.
pub fn thread_capture(
    record: &ThreadRecord,
    pages: &mut HashMap<u32, StackSnapshot>,
    cap: StackCap,
) -> ThreadCapture {
    let sent = (record.stack_pages as usize).min(cap.pages() as usize);
    let mut stack = pages.remove(&record.tid).unwrap_or_default();
    stack.base = record.stack_base;
    stack.bytes.resize(sent * STACK_PAGE_SIZE, 0);
    stack.page_valid.resize(sent, false);
    let (kernel_stack, kernel_stack_error) = match usize::try_from(record.kernel_stack_bytes) {
        Ok(bytes) => (
            record.kernel_stack[..(bytes / 8).min(record.kernel_stack.len())].to_vec(),
            None,
        ),
        Err(_) => (
            Vec::new(),
            Some(match record.kernel_stack_bytes.checked_neg() {
                Some(errno) => format!(
                    "kernel stack unavailable: {}",
                    io::Error::from_raw_os_error(errno)
                ),
                None => format!(
                    "kernel stack unavailable: bad length {}",
                    record.kernel_stack_bytes
                ),
            }),
        ),
    };
    ThreadCapture {
        tid: record.tid,
        comm: comm_string(&record.comm),
        state: record.state,
        on_cpu: record.on_cpu != 0,
        kernel_thread: record.flags & THREAD_FLAG_KERNEL != 0,
        regs: record.regs,
        kernel_stack,
        kernel_stack_error,
        user_stack_end: stack_copy_end(record, sent, cap),
        user_stack: stack,
    }
}

/// Why the copy of `record`'s stack (`sent` pages) ends where it does.
fn stack_copy_end(record: &ThreadRecord, sent: usize, cap: StackCap) -> StackCopyEnd {
    let mapping_end =
        (record.stack_vma_status == 0 && record.stack_vma_end != 0).then_some(record.stack_vma_end);
    if sent == 0 {
        return StackCopyEnd::NotCopied;
    }
    match record.stack_limit {
        STACK_LIMIT_MAPPING => match mapping_end {
            Some(end) => StackCopyEnd::MappingEnd { end },
            None => StackCopyEnd::NotCopied,
        },
        STACK_LIMIT_CAP => StackCopyEnd::Cap {
            cap_bytes: cap.bytes(),
            mapping_end,
        },
        STACK_LIMIT_RING => StackCopyEnd::Ring,
        STACK_LIMIT_UNREADABLE => StackCopyEnd::Unreadable {
            mapping_error: (record.stack_vma_status != 0)
                .then(|| record.stack_vma_status.saturating_neg()),
        },
        _ => StackCopyEnd::NotCopied,
    }
}

/// The NUL-terminated `comm` as a string.
pub fn comm_string(comm: &[u8]) -> String {
    let end = comm.iter().position(|&b| b == 0).unwrap_or(comm.len());
    String::from_utf8_lossy(&comm[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use gmr_common::STACK_PAGE_SIZE;

    use super::*;

    fn record_bytes(magic: u32) -> Vec<u8> {
        let mut bytes = vec![0u8; size_of::<ThreadRecord>()];
        bytes[..4].copy_from_slice(&magic.to_le_bytes());
        bytes
    }

    #[test]
    fn decodes_whole_records_and_rejects_bad_ones() {
        let mut two = record_bytes(THREAD_RECORD_MAGIC);
        two.extend(record_bytes(THREAD_RECORD_MAGIC));
        assert_eq!(thread_records(&two).unwrap().len(), 2);
        assert!(matches!(
            thread_records(&two[..100]),
            Err(DecodeError::Truncated { len: 100, .. })
        ));
        let mut bad = record_bytes(THREAD_RECORD_MAGIC);
        bad.extend(record_bytes(7));
        assert_eq!(
            thread_records(&bad).unwrap_err(),
            DecodeError::BadMagic {
                offset: size_of::<ThreadRecord>(),
                found: 7
            }
        );
    }

    #[test]
    fn chunk_size_is_checked() {
        assert!(stack_chunk(&[0; 10]).is_err());
        assert!(stack_chunk(&vec![0; size_of::<StackChunk>()]).is_ok());
    }

    /// Found by the `capture_decode` fuzz target: a record claiming
    /// 0xffffffff stack pages made the agent allocate 17 TB and abort.
    #[test]
    fn a_record_claiming_too_many_stack_pages_gets_the_copied_ones() {
        let mut bytes = record_bytes(THREAD_RECORD_MAGIC);
        bytes[4..8].copy_from_slice(&100u32.to_le_bytes());
        bytes[28..32].copy_from_slice(&u32::MAX.to_le_bytes());
        let record = thread_records(&bytes).unwrap()[0];
        assert_eq!(record.stack_pages, u32::MAX);
        let mut sent = StackSnapshot {
            base: 0,
            bytes: vec![0; 2 * STACK_PAGE_SIZE],
            page_valid: vec![false, true],
        };
        sent.bytes[STACK_PAGE_SIZE] = 0xa5;
        let mut pages = HashMap::from([(100, sent)]);
        let cap = StackCap::from_bytes(StackCap::MIN_BYTES).unwrap();
        let thread = thread_capture(&record, &mut pages, cap);
        let stack = &thread.user_stack;
        assert_eq!(stack.page_valid.len(), cap.pages() as usize);
        assert_eq!(stack.bytes.len(), cap.bytes() as usize);
        assert_eq!(stack.page_valid[..2], [false, true]);
        assert_eq!(stack.bytes[STACK_PAGE_SIZE], 0xa5);
        assert!(pages.is_empty());
    }

    /// Found by the `capture_decode` fuzz target: a kernel stack length of
    /// `i32::MIN` overflowed when negated into an errno.
    #[test]
    fn a_negative_kernel_stack_length_is_an_error_even_when_it_is_no_errno() {
        let mut pages = HashMap::new();
        for (length, expected) in [
            (-2, "kernel stack unavailable: No such file or directory"),
            (i32::MIN, "kernel stack unavailable: bad length -2147483648"),
        ] {
            let mut bytes = record_bytes(THREAD_RECORD_MAGIC);
            bytes[24..28].copy_from_slice(&length.to_le_bytes());
            let record = thread_records(&bytes).unwrap()[0];
            let thread = thread_capture(&record, &mut pages, StackCap::DEFAULT);
            assert!(thread.kernel_stack.is_empty());
            let error = thread.kernel_stack_error.expect("an error");
            assert!(error.starts_with(expected), "{error}");
        }
    }

    #[test]
    fn the_copy_end_says_which_limit_stopped_it() {
        let mut record = thread_records(&record_bytes(THREAD_RECORD_MAGIC)).unwrap()[0];
        record.stack_pages = 3;
        let end = |record: &ThreadRecord| {
            thread_capture(record, &mut HashMap::new(), StackCap::DEFAULT).user_stack_end
        };
        record.stack_vma_end = 0x7fff_0000;
        record.stack_limit = STACK_LIMIT_MAPPING;
        assert_eq!(end(&record), StackCopyEnd::MappingEnd { end: 0x7fff_0000 });
        record.stack_limit = STACK_LIMIT_CAP;
        assert_eq!(
            end(&record),
            StackCopyEnd::Cap {
                cap_bytes: 8 << 20,
                mapping_end: Some(0x7fff_0000)
            }
        );
        record.stack_limit = STACK_LIMIT_RING;
        assert_eq!(end(&record), StackCopyEnd::Ring);
        record.stack_limit = STACK_LIMIT_UNREADABLE;
        record.stack_vma_status = -libc::EBUSY;
        assert_eq!(
            end(&record),
            StackCopyEnd::Unreadable {
                mapping_error: Some(libc::EBUSY)
            }
        );
        record.stack_pages = 0;
        assert_eq!(end(&record), StackCopyEnd::NotCopied);
    }

    #[test]
    fn chunk_fields_and_bytes_are_read_in_place() {
        let chunk = StackChunk {
            tid: 42,
            page: 3,
            status: -14,
            reserved: 0,
            address: 0x7fff_0000,
            data: [0xab; STACK_PAGE_SIZE],
        };
        // SAFETY: StackChunk is plain data without padding.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&chunk as *const StackChunk).cast::<u8>(),
                size_of::<StackChunk>(),
            )
        };
        let page = stack_chunk(bytes).expect("a whole chunk");
        assert_eq!((page.tid, page.page, page.status), (42, 3, -14));
        assert_eq!(page.data.len(), STACK_PAGE_SIZE);
        assert!(page.data.iter().all(|&b| b == 0xab));
    }

    #[test]
    fn comm_stops_at_nul() {
        assert_eq!(comm_string(b"reader\0\0garbage"), "reader");
        assert_eq!(comm_string(b"0123456789abcdef"), "0123456789abcdef");
    }
}
