//! A child's output, collected on a background thread and awaitable.

use std::io::{BufRead as _, BufReader, Read};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Output collected so far, and whether the writer closed its end.
#[derive(Debug, Default)]
pub(crate) struct Collected<T> {
    pub(crate) data: T,
    pub(crate) closed: bool,
}

/// Output of type `T` that a reader thread appends to.
#[derive(Debug, Default)]
pub(crate) struct Stream<T> {
    state: Mutex<Collected<T>>,
    changed: Condvar,
}

impl<T: Default + Send + 'static> Stream<T> {
    /// The collected output, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Collected<T>> {
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Waits until `done` holds for the collected output, the writer closes
    /// its end, or `timeout` passes; returns whether `done` held.
    pub(crate) fn wait_until(&self, timeout: Duration, mut done: impl FnMut(&T) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if done(&state.data) {
                return true;
            }
            let now = Instant::now();
            if state.closed || now >= deadline {
                return false;
            }
            state = self
                .changed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|poison| poison.into_inner())
                .0;
        }
    }

    fn update(&self, change: impl FnOnce(&mut Collected<T>)) {
        change(&mut self.lock());
        self.changed.notify_all();
    }
}

impl Stream<Vec<String>> {
    /// Collects `source` line by line on a new thread.
    pub(crate) fn lines(source: impl Read + Send + 'static) -> Arc<Self> {
        let stream = Arc::new(Self::default());
        let writer = Arc::clone(&stream);
        std::thread::spawn(move || {
            for line in BufReader::new(source).lines() {
                let Ok(line) = line else { break };
                writer.update(|state| state.data.push(line));
            }
            writer.update(|state| state.closed = true);
        });
        stream
    }
}

impl Stream<Vec<u8>> {
    /// Collects `source` as raw bytes on a new thread.
    pub(crate) fn bytes(mut source: impl Read + Send + 'static) -> Arc<Self> {
        let stream = Arc::new(Self::default());
        let writer = Arc::clone(&stream);
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = source.read(&mut buf) {
                writer.update(|state| state.data.extend_from_slice(&buf[..n]));
            }
            writer.update(|state| state.closed = true);
        });
        stream
    }
}
