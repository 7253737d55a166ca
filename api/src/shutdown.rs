//! Listens for the server's shutdown signal (as in tokio's mini-redis).
//!
//! The server holds a `broadcast::Sender<()>` and drops it to shut down;
//! every connection task holds a [`Shutdown`] and learns of it by a
//! `recv()` that returns. Each task also holds a clone of an
//! `mpsc::Sender<()>` (the drop guard) so the server can wait until every
//! task has finished: when the last clone is dropped, its receiver returns.

use tokio::sync::broadcast;

/// A connection task's view of the shutdown signal.
#[derive(Debug)]
pub struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    /// Wraps a receiver of the server's shutdown broadcast.
    #[must_use]
    pub const fn new(notify: broadcast::Receiver<()>) -> Self {
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
        // Only one value is ever sent, or the sender is dropped: either way
        // the result means "shut down".
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}
