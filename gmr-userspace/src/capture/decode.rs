//! Decodes the raw bytes the capture iterator emits. Pure, so it can be
//! tested (and fuzzed) from byte arrays.

use std::mem::offset_of;

use gmr_common::{StackChunk, THREAD_RECORD_MAGIC, ThreadRecord};

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
