//! What the ingest thread tells the rest of the server about itself: that
//! it runs (set once recovery is over and its loop starts, cleared when it
//! stops) and the last seq the engine accepted, stored once per group of
//! commands (never per event). Readiness and `/metrics` read them.

use std::sync::Arc;
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

/// Marks the ingest thread running while it lives: cleared when dropped,
/// also by a panic unwinding the thread.
pub(crate) struct RunningGuard(Arc<Progress>);

impl RunningGuard {
    pub(crate) fn start(progress: Arc<Progress>) -> Self {
        progress.set_running(true);
        Self(progress)
    }
}

impl Drop for RunningGuard {
    fn drop(&mut self) {
        self.0.set_running(false);
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
        p.set_accepted(9);
        assert_eq!(p.accepted(), 9);
    }

    #[test]
    fn the_guard_marks_running_until_dropped_even_by_a_panic() {
        let p = Arc::new(Progress::new(0));
        let guard = RunningGuard::start(Arc::clone(&p));
        assert!(p.running());
        drop(guard);
        assert!(!p.running());
        let theirs = Arc::clone(&p);
        let died = std::thread::spawn(move || {
            let _guard = RunningGuard::start(theirs);
            panic!("the ingest thread died");
        })
        .join();
        assert!(died.is_err() && !p.running());
    }
}
