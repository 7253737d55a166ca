//! How far the hub's published state is complete, for read-your-writes.
//!
//! The engine's aggregator reports, through `DeltaSink::complete`, the seq
//! up to which every shard has applied every op and handed its changes to
//! the hub. A connection remembers the last seq it acknowledged; a query
//! or snapshot it answers afterwards (answers go in request order, so a
//! read pipelined behind a submit is answered after its ack) first waits
//! (asynchronously, bounded) until this watermark has reached that seq, so
//! an answer sent after an ack always reflects the acked events — also
//! when they were repeats of earlier trade ids or changed no position.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::watch;

/// How long a read waits for the published state to reach the
/// connection's last acknowledged seq before it is answered `unavailable`
/// (the wait runs in a task; the answers behind it wait with it).
pub(crate) const READ_WAIT: Duration = Duration::from_secs(5);

/// The published state's "complete up to seq" watermark.
#[derive(Debug)]
pub(crate) struct Published {
    tx: watch::Sender<u64>,
}

impl Published {
    pub(crate) fn new() -> Self {
        Self {
            tx: watch::Sender::new(0),
        }
    }

    /// Moves the watermark up to `seq` (never down); wakes the waiters.
    /// Never blocks: called on the engine's aggregator thread.
    pub(crate) fn advance(&self, seq: u64) {
        self.tx.send_if_modified(|v| {
            let moved = seq > *v;
            if moved {
                *v = seq;
            }
            moved
        });
    }

    /// The watermark now.
    pub(crate) fn get(&self) -> u64 {
        *self.tx.borrow()
    }

    /// Waits until the watermark reaches `seq`, at most `within`; false on
    /// timeout.
    pub(crate) async fn reached(&self, seq: u64, within: Duration) -> bool {
        if self.get() >= seq {
            return true;
        }
        let mut rx = self.tx.subscribe();
        matches!(
            tokio::time::timeout(within, rx.wait_for(|&v| v >= seq)).await,
            Ok(Ok(_))
        )
    }
}

/// The last seq a connection acknowledged (shared with its ack tasks,
/// which raise it before they queue the ack).
#[derive(Clone, Debug, Default)]
pub(crate) struct Acked(Arc<AtomicU64>);

impl Acked {
    /// Records an ack covering the state up to `seq`.
    pub(crate) fn raise(&self, seq: u64) {
        self.0.fetch_max(seq, Ordering::AcqRel);
    }

    /// The highest seq acknowledged so far.
    pub(crate) fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }
}
