//! Listens for the server's shutdown signal (as in tokio's mini-redis).
//!
//! The server holds a `watch::Sender<bool>` and drops it to shut down;
//! every connection task holds a [`Shutdown`] and learns of it by a
//! `recv()` that returns. A watch rather than a broadcast, so a task that
//! starts after the signal (a WebSocket upgraded during shutdown) sees it
//! at once. Each task also holds a clone of an `mpsc::Sender<()>` (the
//! drop guard) so the server can wait until every task has finished: when
//! the last clone is dropped, its receiver returns.

use tokio::sync::watch;

/// A connection task's view of the shutdown signal.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: watch::Receiver<bool>,
}

impl Shutdown {
    /// Wraps a receiver of the server's shutdown signal.
    #[must_use]
    pub const fn new(notify: watch::Receiver<bool>) -> Self {
        Self {
            is_shutdown: false,
            notify,
        }
    }

    /// True once the signal was received.
    #[must_use]
    pub const fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the signal (returns at once if it was already received).
    pub async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // `true` sent, or the sender dropped: either means "shut down".
        let _ = self.notify.wait_for(|&down| down).await;
        self.is_shutdown = true;
    }
}
