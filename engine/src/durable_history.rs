//! The P&L history's writer thread: the store sink hands each mark over
//! (a bounded queue, so a slow disk holds the aggregator back rather than
//! growing a backlog), and the thread writes its points
//! ([`HistoryWriter`]), so the aggregator never waits on the LSM for
//! them. A snapshot is written only once every mark handed over before it
//! is written ([`HistoryProgress::drain`]): a mark at or before a
//! snapshot's seq is never replayed by a recovery from it, so it must be
//! in the store first.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded};

use crate::SharedNames;
use crate::history::{HistoryConfig, HistoryMark};
use crate::store::history_writer::HistoryWriter;
use crate::store::{SideWrite, Store, StoreError};

/// Marks queued for the writer before the store sink waits.
const QUEUE: usize = 64;

/// How many marks were handed over and how many are written (or failed).
#[derive(Debug, Default)]
pub(crate) struct HistoryProgress {
    sent: AtomicU64,
    done: AtomicU64,
}

impl HistoryProgress {
    /// Waits until every mark handed over so far is written, at most
    /// `limit`; false when it timed out.
    pub(crate) fn drain(&self, limit: Duration) -> bool {
        let target = self.sent.load(Ordering::Acquire);
        let start = Instant::now();
        while self.done.load(Ordering::Acquire) < target {
            if start.elapsed() > limit {
                return false;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }
}

/// The store sink's side of the writer thread.
pub(crate) struct HistoryThread {
    tx: Option<Sender<HistoryMark>>,
    handle: Option<JoinHandle<()>>,
    progress: Arc<HistoryProgress>,
}

impl HistoryThread {
    /// Starts the writer of `config`'s history into `store`, naming series
    /// with the engine's names (set before the first op).
    pub(crate) fn start(store: Arc<Store>, config: HistoryConfig, names: Arc<OnceLock<SharedNames>>) -> Self {
        let (tx, rx) = bounded(QUEUE);
        let progress = Arc::new(HistoryProgress::default());
        let done = Arc::clone(&progress);
        let handle = std::thread::Builder::new()
            .name("kupala-history".into())
            .spawn(move || run(&store, HistoryWriter::new(config), &names, &rx, &done))
            .ok();
        Self {
            tx: handle.is_some().then_some(tx),
            handle,
            progress,
        }
    }

    /// How far the writer is.
    pub(crate) fn progress(&self) -> Arc<HistoryProgress> {
        Arc::clone(&self.progress)
    }

    /// Hands a mark over (waiting while the queue is full).
    pub(crate) fn send(&self, mark: &HistoryMark) {
        if let Some(tx) = &self.tx {
            self.progress.sent.fetch_add(1, Ordering::AcqRel);
            if tx.send(mark.clone()).is_err() {
                self.progress.done.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

impl Drop for HistoryThread {
    /// Lets the writer finish what is queued, then joins it.
    fn drop(&mut self) {
        self.tx = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn run(
    store: &Store,
    mut writer: HistoryWriter,
    names: &OnceLock<SharedNames>,
    rx: &Receiver<HistoryMark>,
    progress: &HistoryProgress,
) {
    while let Ok(mark) = rx.recv() {
        let written = match names.get().and_then(|n| n.read().ok()) {
            Some(names) => writer.write(store, &mark, &names),
            None => Err(StoreError::Db("the engine's names are not readable".into())),
        };
        if let Err(e) = written {
            store.stats().failed(SideWrite::History);
            tracing::error!("writing the P&L history at seq {}: {e}", mark.seq);
        }
        progress.done.fetch_add(1, Ordering::AcqRel);
    }
    if let Err(e) = store.flush_history() {
        store.stats().failed(SideWrite::History);
        tracing::error!("writing the P&L history's last chunks: {e}");
    }
}
