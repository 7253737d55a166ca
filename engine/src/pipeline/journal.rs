//! The pipeline's side of the journal: putting the journal writer between
//! the sequencer and the shards, source cursors written with the batch
//! they cover, and waiting until what was submitted is durable.

use crossbeam_channel::bounded;
use std::sync::Arc;
use std::time::Duration;

use super::{Downstream, JournalLink, Pipeline};
use crate::journal_writer::{JournalMsg, JournalWriter, MarkKeeper, SyncMode, Watermarks};
use crate::store::acked::AckMark;
use crate::store::journal::JournalBatch;
use crate::store::{Store, StoreError};

impl Pipeline {
    /// Puts the journal between the sequencer and the shards: from now on
    /// every accepted event is appended to `store` (group commit, synced per
    /// `sync`) before any shard sees it. Call after recovery.
    ///
    /// The store's acknowledged high-water mark (`store::acked`) is set to
    /// the current seq, which recovery has checked is not below it.
    pub fn attach_store(&mut self, store: Arc<Store>, sync: SyncMode) -> Result<(), StoreError> {
        let last = self.seq.last_seq();
        // What recovery read may still be only in the page cache (after a
        // process crash): make it durable before the mark claims it.
        store.sync()?;
        let acked = AckMark::open(store.path(), last)?;
        let Downstream::Direct(router) = std::mem::replace(&mut self.down, Downstream::Closed) else {
            return Ok(());
        };
        let marks = Arc::new(Watermarks::default());
        marks.reset(last);
        let acked = MarkKeeper::start(acked, Arc::clone(&marks)).map_err(|cause| StoreError::Io {
            context: "starting the kupala-acked thread".into(),
            cause,
        })?;
        let (tx, rx) = bounded(self.config.queue_batches.max(1));
        let writer = JournalWriter {
            store,
            router,
            sync,
            marks: Arc::clone(&marks),
            acked,
            max_group: 64,
        };
        let handle = std::thread::Builder::new()
            .name("kupala-journal".into())
            .spawn(move || writer.run(&rx))
            .ok();
        self.down = Downstream::Journal(JournalLink {
            tx,
            batch: JournalBatch::default(),
            ops: Vec::new(),
            first_in: 0,
            batch_size: self.config.batch_size.max(1),
            hold: false,
            writer: handle,
            marks,
        });
        Ok(())
    }

    /// The journal's watermarks, when a store is attached.
    #[must_use]
    pub fn watermarks(&self) -> Option<Arc<Watermarks>> {
        match &self.down {
            Downstream::Journal(j) => Some(Arc::clone(&j.marks)),
            _ => None,
        }
    }

    /// Records how far a source got; it is written atomically with the
    /// journal batch holding the events read so far (exactly-once resume).
    pub fn set_cursor(&mut self, source: &str, position: u64) {
        if let Downstream::Journal(j) = &mut self.down {
            j.batch.cursor = Some((source.to_owned(), position));
        }
    }

    /// Sends what is pending, then waits until everything submitted so far
    /// is durable. Returns the durable seq, or `None` without a store or on
    /// timeout or a failed journal.
    pub fn sync(&mut self, timeout: Duration) -> Option<u64> {
        self.flush();
        let last = self.seq.last_seq();
        let Downstream::Journal(j) = &self.down else {
            return None;
        };
        let (tx, rx) = bounded(1);
        let _ = j.tx.send(JournalMsg::Sync(tx));
        let _ = rx.recv_timeout(timeout);
        j.marks.wait_durable(last, timeout).then_some(j.marks.durable())
    }
}
