//! Helpers shared by unit tests.

use std::process::Child;

/// A child process that is killed and reaped when the test ends.
pub struct Reaped(pub Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
