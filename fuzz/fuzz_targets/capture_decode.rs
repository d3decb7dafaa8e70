//! The bytes the kernel side emits, decoded and joined as the agent does:
//! the capture iterator's thread records, the stack ring buffer's chunks,
//! and the trigger ring buffer's events.
//!
//! Input: whole thread records first (as many as fit), then 12-byte stack
//! chunk headers (tid, page, status; the page data is a pattern), which are
//! joined with the records into thread captures. The whole input is also
//! offered as one trigger event and one stack chunk.

#![no_main]

use std::collections::HashMap;

use gmr_common::{STACK_PAGE_SIZE, StackChunk, ThreadRecord};
use gmr_userspace::{
    capture::{
        StackCap,
        decode::{stack_chunk, store_page, thread_capture, thread_records},
    },
    trigger::decode_event,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = decode_event(data);
    let _ = stack_chunk(data);
    let whole = data.len() / size_of::<ThreadRecord>() * size_of::<ThreadRecord>();
    let (records, headers) = data.split_at(whole);
    let Ok(records) = thread_records(records) else {
        return;
    };
    let mut pages = HashMap::new();
    for header in headers.chunks_exact(12) {
        let mut bytes = vec![0u8; size_of::<StackChunk>()];
        bytes[..12].copy_from_slice(header);
        bytes[size_of::<StackChunk>() - STACK_PAGE_SIZE..].fill(0xa5);
        let chunk = stack_chunk(&bytes).expect("a chunk-sized item decodes");
        store_page(&mut pages, &chunk, StackCap::from_bytes(StackCap::MIN_BYTES).unwrap());
    }
    for record in &records {
        let thread = thread_capture(record, &mut pages, StackCap::from_bytes(StackCap::MIN_BYTES).unwrap());
        let stack = &thread.user_stack;
        assert_eq!(
            stack.bytes.len(),
            stack.page_valid.len() * STACK_PAGE_SIZE,
            "one page of bytes per page flag"
        );
        let _ = stack.read_u64(record.regs.sp);
    }
});
