//! The exporter's waiting room: encoded reports, bounded by count and
//! bytes, the oldest dropped first when a new one does not fit.
//!
//! The newest report says most about the process now, and every report is
//! in the report directory anyway, so the oldest waiting one goes. Pure
//! data: the exporter owns the locking and the logging.

use std::collections::VecDeque;

/// One encoded report waiting to be sent.
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    /// What the log says about it (`pid 8675 (mogan-api)`).
    pub label: String,
    /// The encoded OTLP request.
    pub bytes: Vec<u8>,
}

/// Reports waiting, at most `max_entries` and `max_bytes`.
#[derive(Debug)]
pub struct BoundedQueue {
    entries: VecDeque<Entry>,
    bytes: usize,
    max_entries: usize,
    max_bytes: usize,
}

/// What a push cost: the entries dropped to make room (the new one itself
/// when it alone is over `max_bytes`).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Dropped {
    /// Their labels, oldest first.
    pub labels: Vec<String>,
    /// Their encoded bytes.
    pub bytes: usize,
}

impl BoundedQueue {
    /// An empty queue with these limits (each at least 1).
    pub fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            entries: VecDeque::new(),
            bytes: 0,
            max_entries: max_entries.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    /// Adds `entry` at the back, dropping the oldest until it fits.
    pub fn push(&mut self, entry: Entry) -> Dropped {
        let mut dropped = Dropped::default();
        if entry.bytes.len() > self.max_bytes {
            dropped.bytes = entry.bytes.len();
            dropped.labels.push(entry.label);
            return dropped;
        }
        while self.entries.len() >= self.max_entries
            || self.bytes + entry.bytes.len() > self.max_bytes
        {
            let Some(oldest) = self.pop() else { break };
            dropped.bytes += oldest.bytes.len();
            dropped.labels.push(oldest.label);
        }
        self.bytes += entry.bytes.len();
        self.entries.push_back(entry);
        dropped
    }

    /// Takes the oldest entry.
    pub fn pop(&mut self) -> Option<Entry> {
        let entry = self.entries.pop_front()?;
        self.bytes -= entry.bytes.len();
        Some(entry)
    }

    /// How many entries wait.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether none wait.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Encoded bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(label: &str, size: usize) -> Entry {
        Entry {
            label: label.to_owned(),
            bytes: vec![0; size],
        }
    }

    #[test]
    fn the_entry_cap_drops_the_oldest() {
        let mut queue = BoundedQueue::new(2, 1000);
        assert_eq!(queue.push(entry("a", 10)), Dropped::default());
        assert_eq!(queue.push(entry("b", 10)), Dropped::default());
        let dropped = queue.push(entry("c", 10));
        assert_eq!(dropped.labels, ["a"]);
        assert_eq!(dropped.bytes, 10);
        assert_eq!((queue.len(), queue.bytes()), (2, 20));
        assert_eq!(queue.pop().unwrap().label, "b");
        assert_eq!(queue.pop().unwrap().label, "c");
        assert!(queue.pop().is_none() && queue.is_empty() && queue.bytes() == 0);
    }

    #[test]
    fn the_byte_cap_drops_as_many_as_needed() {
        let mut queue = BoundedQueue::new(100, 100);
        for label in ["a", "b", "c"] {
            queue.push(entry(label, 30));
        }
        let dropped = queue.push(entry("big", 70));
        assert_eq!(dropped.labels, ["a", "b"]);
        assert_eq!(dropped.bytes, 60);
        assert_eq!((queue.len(), queue.bytes()), (2, 100));
    }

    #[test]
    fn an_entry_over_the_byte_cap_alone_is_dropped_itself() {
        let mut queue = BoundedQueue::new(10, 100);
        queue.push(entry("a", 50));
        let dropped = queue.push(entry("huge", 101));
        assert_eq!(dropped.labels, ["huge"]);
        assert_eq!((queue.len(), queue.bytes()), (1, 50));
    }

    #[test]
    fn memory_stays_bounded_under_a_flood() {
        let mut queue = BoundedQueue::new(8, 1 << 20);
        let mut dropped = 0;
        for n in 0..10_000 {
            dropped += queue.push(entry(&n.to_string(), 300 * 1024)).labels.len();
            assert!(queue.len() <= 8 && queue.bytes() <= 1 << 20);
        }
        assert_eq!(queue.len(), 3, "three 300 KiB entries fit in 1 MiB");
        assert_eq!(dropped, 10_000 - 3);
    }
}
