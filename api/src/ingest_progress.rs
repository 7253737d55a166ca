//! What the ingest thread tells the rest of the server about itself: that
//! it runs (set once recovery is over and its loop starts, cleared when it
//! stops) and the last seq the engine accepted, stored once per group of
//! commands (never per event). Readiness and `/metrics` read them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The ingest thread's state, shared with every handle.
#[derive(Debug, Default)]
pub(crate) struct Progress {
    running: AtomicBool,
    accepted: AtomicU64,
}

impl Progress {
    /// Not running yet; `accepted` is the recovered seq.
    pub(crate) fn new(accepted: u64) -> Self {
        Self {
            running: AtomicBool::new(false),
            accepted: AtomicU64::new(accepted),
        }
    }

    pub(crate) fn set_running(&self, running: bool) {
        self.running.store(running, Ordering::Release);
    }

    pub(crate) fn running(&self) -> bool {
        self.running.load(Ordering::Acquire)
    }

    pub(crate) fn set_accepted(&self, seq: u64) {
        self.accepted.store(seq, Ordering::Relaxed);
    }

    pub(crate) fn accepted(&self) -> u64 {
        self.accepted.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stopped_at_the_recovered_seq() {
        let p = Progress::new(7);
        assert!(!p.running());
        assert_eq!(p.accepted(), 7);
        p.set_running(true);
        p.set_accepted(9);
        assert!(p.running() && p.accepted() == 9);
    }
}
