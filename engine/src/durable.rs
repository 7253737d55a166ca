//! The engine with its memory: opens the store, recovers (newest valid
//! snapshot + journal tail, cutting a torn tail back to the last whole batch),
//! then runs the pipeline with the journal in front of the shards, writes
//! periodic snapshots on their own thread, and records every EOD.

use crossbeam_channel::{Receiver, Sender, bounded};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::aggregator::DeltaSink;
use crate::durable_history::{HistoryProgress, HistoryThread};
use crate::event::Event;
use crate::history::HistoryMark;
use crate::image::EngineImage;
use crate::journal_writer::{SyncMode, Watermarks};
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::rebalance::{Rebalancer, Targets};
use crate::sequencer::SequenceError;
use crate::snapshot_pick::restore_newest;
use crate::state::{
    BookChanges, ClosedPosition, EngineState, FirmState, PortfolioState, PositionDelta, PositionState,
};
use crate::store::{SideWrite, Store, StoreError};
use crate::time::Date;

/// Store settings (`[store]` in the config).
#[derive(Clone, Debug)]
pub struct StoreConfig {
    /// When appended batches are fsynced.
    pub sync: SyncMode,
    /// Snapshot after this many events (0 = never by count).
    pub snapshot_every_events: u64,
    /// Snapshot after this long with new events (None = never by time).
    pub snapshot_every: Option<Duration>,
    /// Snapshots kept; older ones are deleted.
    pub keep_snapshots: usize,
    /// Delete journal batches older than the oldest kept snapshot. Off by
    /// default: `kupala replay` and what-if backtests need the whole journal.
    pub prune_journal: bool,
    /// Rebalancing targets evaluated at every EOD.
    pub targets: Targets,
    /// Start even when recovery ends below the acknowledged high-water
    /// mark (`store::acked`): the loss is accepted and the mark lowered to
    /// what was recovered. Off by default: a store that lost acknowledged
    /// events refuses to open (`kupala accept-loss` sets this).
    pub accept_loss: bool,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            sync: SyncMode::Periodic(Duration::from_millis(5)),
            snapshot_every_events: 1_000_000,
            snapshot_every: Some(Duration::from_secs(300)),
            keep_snapshots: 3,
            prune_journal: false,
            targets: Targets::default(),
            accept_loss: false,
        }
    }
}

/// What recovery found and did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// The snapshot recovery started from.
    pub snapshot: Option<u64>,
    /// Journal events replayed after it.
    pub replayed: u64,
    /// The last seq recovered.
    pub last_seq: u64,
    /// Warnings: unreadable snapshots skipped, a torn tail cut, a loss
    /// accepted.
    pub warnings: Vec<String>,
    /// The acknowledged high-water mark found in the store (`None`: a store
    /// without one, new or written by an older build).
    pub acknowledged: Option<u64>,
    /// Acknowledged events that were not recovered and whose loss was
    /// accepted (`StoreConfig::accept_loss`): the first and last seq.
    pub lost: Option<(u64, u64)>,
}

/// Why the durable engine could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The journal is damaged before its tail: refusing to skip events.
    #[error(
        "journal damaged at batch {key} with readable batches after it ({reason}); refusing to skip events in the middle"
    )]
    CorruptMiddle {
        /// The first bad batch.
        key: u64,
        /// Why it is bad.
        reason: String,
    },
    /// The journal does not reach back to the snapshot.
    #[error("journal starts at seq {first}, after snapshot seq {snapshot}: events are missing")]
    Gap {
        /// First journaled seq.
        first: u64,
        /// Snapshot seq.
        snapshot: u64,
    },
    /// Recovery ends below the seq already acknowledged to clients: the
    /// store lost durable events (a damaged log, a restored old copy).
    #[error(
        "the store lost acknowledged events: recovery reaches seq {recovered}, but seq {acknowledged} was acknowledged as durable (events {} to {acknowledged} are missing{}); refusing to start on a store that lost acknowledged data. If the loss is accepted, `kupala accept-loss --data DIR` starts from seq {recovered}",
        recovered + 1,
        damage.as_deref().map(|d| format!("; {d}")).unwrap_or_default()
    )]
    LostAcknowledged {
        /// The last seq recovery reached.
        recovered: u64,
        /// The acknowledged high-water mark.
        acknowledged: u64,
        /// What recovery found damaged, when it found it.
        damage: Option<String>,
    },
    /// A journaled op could not be replayed (the cause is in the message,
    /// once).
    #[error("replaying the journal: {0}")]
    Replay(SequenceError),
}

impl From<SequenceError> for EngineError {
    fn from(e: SequenceError) -> Self {
        Self::Replay(e)
    }
}

/// Writes EOD positions and closed positions, and runs the rebalancer,
/// then passes everything to the inner sink.
struct StoreSink {
    store: Arc<Store>,
    inner: Box<dyn DeltaSink>,
    rebalancer: Rebalancer,
    /// The engine's names (set once the pipeline exists, before any op):
    /// a record names its strategy.
    names: Arc<std::sync::OnceLock<crate::SharedNames>>,
    /// The P&L history's writer thread (`None`: no history is sampled).
    history: Option<HistoryThread>,
}

impl StoreSink {
    /// The engine's names as of now.
    fn names(&self) -> crate::ids::Names {
        self.names
            .get()
            .and_then(|n| n.read().ok().map(|n| n.clone()))
            .unwrap_or_default()
    }
}

impl StoreSink {
    /// The rebalancer's proposals for an EOD, stored under its date.
    fn propose(&self, date: Date, positions: &[PositionState]) -> Result<(), StoreError> {
        if self.rebalancer.is_idle() {
            return Ok(());
        }
        let names = self.store.names()?;
        let proposals = self.rebalancer.propose(date, &names, positions);
        self.store.put_proposals(date, &proposals)
    }
}

impl DeltaSink for StoreSink {
    fn publish(&mut self, seq: u64, positions: &[PositionDelta], portfolios: &[PortfolioState]) {
        self.inner.publish(seq, positions, portfolios);
    }

    fn publish_stamped(
        &mut self,
        seq: u64,
        t_in: u64,
        positions: &[PositionDelta],
        portfolios: &[PortfolioState],
    ) {
        self.inner.publish_stamped(seq, t_in, positions, portfolios);
    }

    fn wants_totals(&self) -> bool {
        self.inner.wants_totals()
    }

    fn eod(&mut self, date: Date, seq: u64, positions: &[PositionState]) {
        if let Err(e) = self.store.put_eod(date, positions, &self.names()) {
            self.store.stats().failed(SideWrite::Eod);
            tracing::error!("writing EOD {date}: {e}");
        }
        if let Err(e) = self.propose(date, positions) {
            self.store.stats().failed(SideWrite::Proposals);
            tracing::error!("rebalancing at EOD {date}: {e}");
        }
        self.inner.eod(date, seq, positions);
    }

    fn closed(&mut self, closed: &[ClosedPosition]) {
        let names = self.names();
        for c in closed {
            if let Err(e) = self
                .store
                .put_closed(c.date, std::slice::from_ref(&c.position), &names)
            {
                self.store.stats().failed(SideWrite::Closed);
                tracing::error!("writing closed position: {e}");
            }
        }
        self.inner.closed(closed);
    }

    fn books(&mut self, seq: u64, books: BookChanges<'_>) {
        self.inner.books(seq, books);
    }

    fn history(&mut self, mark: &HistoryMark) {
        if let Some(writer) = &self.history {
            writer.send(mark);
        }
        self.inner.history(mark);
    }

    fn firm(&mut self, firm: &FirmState) {
        self.inner.firm(firm);
    }

    fn complete(&mut self, seq: u64) {
        self.inner.complete(seq);
    }
}

/// The engine backed by a store.
pub struct Engine {
    pipeline: Pipeline,
    store: Arc<Store>,
    config: StoreConfig,
    since_snapshot: u64,
    last_snapshot: Instant,
    snap_tx: Option<Sender<EngineImage>>,
    snap_thread: Option<JoinHandle<()>>,
}

impl Engine {
    /// Opens (or creates) the store in `dir` and recovers the engine.
    pub fn open(
        dir: &std::path::Path,
        pipeline: PipelineConfig,
        config: StoreConfig,
        sink: Box<dyn DeltaSink>,
    ) -> Result<(Self, Recovery), EngineError> {
        let store = Arc::new(Store::open(dir)?);
        let mut recovery = Recovery {
            acknowledged: crate::store::acked::read_acked(dir)?,
            ..Recovery::default()
        };
        let (restored, snapshot) = restore_newest(&store, &pipeline, u64::MAX, &mut recovery.warnings);
        recovery.snapshot = snapshot;
        if let Some(seq) = snapshot {
            store.stats().snapshot_recovered(seq);
        }
        let names = Arc::new(std::sync::OnceLock::new());
        let history = pipeline
            .history
            .map(|h| HistoryThread::start(Arc::clone(&store), h, Arc::clone(&names)));
        let progress = history.as_ref().map(HistoryThread::progress);
        let sink = Box::new(StoreSink {
            store: Arc::clone(&store),
            inner: sink,
            rebalancer: Rebalancer::new(config.targets.clone()),
            names: Arc::clone(&names),
            history,
        });
        let mut p = Pipeline::from_restored(pipeline, sink, restored);
        let _ = names.set(p.shared_names());
        let from = snapshot.map_or(1, |s| s + 1);
        let guard = LossGuard {
            acknowledged: recovery.acknowledged.unwrap_or(0),
            accept: config.accept_loss,
        };
        let tail = replay_tail(&store, &mut p, from, &mut recovery.warnings, guard)?;
        recovery.replayed = tail.replayed;
        recovery.last_seq = p.last_seq();
        recovery.lost = guard.check(recovery.last_seq, tail.damage)?;
        if let Some((first, last)) = recovery.lost {
            recovery.warnings.push(format!(
                "accepted the loss of acknowledged events {first} to {last}: the store resumes at seq {}",
                recovery.last_seq
            ));
        }
        p.attach_store(Arc::clone(&store), config.sync)?;
        let (snap_tx, snap_rx) = bounded::<EngineImage>(1);
        let writer_store = Arc::clone(&store);
        let keep = config.keep_snapshots;
        let prune = config.prune_journal;
        let snap_thread = std::thread::Builder::new()
            .name("kupala-snapshots".into())
            .spawn(move || snapshot_writer(&writer_store, &snap_rx, keep, prune, progress.as_deref()))
            .ok();
        let engine = Self {
            pipeline: p,
            store,
            config,
            since_snapshot: 0,
            last_snapshot: Instant::now(),
            snap_tx: Some(snap_tx),
            snap_thread,
        };
        Ok((engine, recovery))
    }

    /// The pipeline (names, stats, snapshots).
    pub fn pipeline(&mut self) -> &mut Pipeline {
        &mut self.pipeline
    }

    /// The store.
    #[must_use]
    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The journal's watermarks (appended, durable).
    #[must_use]
    pub fn watermarks(&self) -> Option<Arc<Watermarks>> {
        self.pipeline.watermarks()
    }

    /// Sequences, journals and routes one event; snapshots when due.
    pub fn submit(&mut self, event: &Event) -> Result<Option<u64>, SequenceError> {
        let seq = self.pipeline.submit(event)?.map(|s| s.seq);
        if seq.is_some() {
            self.since_snapshot += 1;
            self.snapshot_if_due();
        }
        Ok(seq)
    }

    /// Sequences and journals a group of events all or nothing across a
    /// crash (one atomic journal write, see [`Pipeline::submit_atomic`]);
    /// a snapshot that falls due inside the group is taken after it, never
    /// between its events.
    pub fn submit_all(&mut self, events: &[Event]) -> Result<Vec<Option<u64>>, (usize, SequenceError)> {
        let result = self.pipeline.submit_atomic(events);
        let applied = match &result {
            Ok(seqs) => seqs.iter().flatten().count(),
            Err((i, _)) => *i,
        };
        if applied > 0 {
            self.since_snapshot += applied as u64;
            self.snapshot_if_due();
        }
        result
    }

    fn snapshot_if_due(&mut self) {
        let by_count =
            self.config.snapshot_every_events > 0 && self.since_snapshot >= self.config.snapshot_every_events;
        let by_time = self
            .config
            .snapshot_every
            .is_some_and(|d| self.since_snapshot > 0 && self.last_snapshot.elapsed() >= d);
        if by_count || by_time {
            self.snapshot();
        }
    }

    /// Takes a snapshot now (a barrier through the shards) and hands it to
    /// the snapshot thread, which writes it off the hot path.
    ///
    /// Not after a journal failure: the store takes no more writes, and a
    /// snapshot must never claim state the journal does not hold.
    pub fn snapshot(&mut self) {
        if self.watermarks().is_some_and(|m| m.failed()) {
            return;
        }
        let image = self.pipeline.image();
        if let Some(tx) = &self.snap_tx {
            let _ = tx.send(image);
        }
        self.since_snapshot = 0;
        self.last_snapshot = Instant::now();
    }

    /// Takes a snapshot and writes it on this thread, returning its size in
    /// bytes (shutdown and benchmarks; the periodic path uses the snapshot
    /// thread).
    pub fn write_snapshot_now(&mut self) -> Result<usize, StoreError> {
        let image = self.pipeline.image();
        let bytes = self.store.put_snapshot(&image)?;
        self.since_snapshot = 0;
        self.last_snapshot = Instant::now();
        Ok(bytes)
    }

    /// Waits until everything submitted is durable; the durable seq.
    pub fn sync(&mut self, timeout: Duration) -> Option<u64> {
        self.pipeline.sync(timeout)
    }

    /// A consistent snapshot of positions and totals.
    pub fn state(&mut self) -> EngineState {
        self.pipeline.snapshot()
    }

    /// The positions of `accounts` (and every account's totals) at the
    /// current seq (see [`Pipeline::positions_of`]).
    pub fn positions_of(&mut self, accounts: &[crate::ids::AccountId]) -> EngineState {
        self.pipeline.positions_of(accounts)
    }

    /// Syncs, writes a final snapshot, stops every thread, returns the state.
    pub fn finish(mut self) -> EngineState {
        let _ = self.pipeline.sync(Duration::from_secs(60));
        if self.since_snapshot > 0 {
            self.snapshot();
        }
        self.pipeline.snapshot()
        // Dropping `self` stops the snapshot thread, then the pipeline.
    }

    /// Lets the snapshot thread write what it was handed, and waits for it.
    fn stop_snapshots(&mut self) {
        drop(self.snap_tx.take());
        if let Some(t) = self.snap_thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Engine {
    /// Stops every thread that holds the store before the store handle
    /// goes: once an engine is dropped, its directory is unlocked, and the
    /// same process (a restart in place, a test, a benchmark) can open it
    /// again at once.
    fn drop(&mut self) {
        self.stop_snapshots();
        self.pipeline.shutdown();
    }
}

/// What recovery may do when the journal ends below the acknowledged mark.
#[derive(Clone, Copy, Debug)]
struct LossGuard {
    /// Every seq up to this one was acknowledged as durable.
    acknowledged: u64,
    /// The loss was accepted explicitly.
    accept: bool,
}

impl LossGuard {
    /// Whether a damaged batch starting at `first` may be cut away: only
    /// when nothing in it was acknowledged, or the loss is accepted.
    const fn may_cut(self, first: u64) -> bool {
        self.accept || first > self.acknowledged
    }

    /// The lost range, when recovery reached only `recovered`: an error
    /// unless the loss is accepted.
    fn check(self, recovered: u64, damage: Option<String>) -> Result<Option<(u64, u64)>, EngineError> {
        if recovered >= self.acknowledged {
            return Ok(None);
        }
        if self.accept {
            return Ok(Some((recovered + 1, self.acknowledged)));
        }
        Err(EngineError::LostAcknowledged {
            recovered,
            acknowledged: self.acknowledged,
            damage,
        })
    }
}

/// What replaying the journal tail did.
struct Tail {
    /// Events replayed.
    replayed: u64,
    /// The damage that ended the journal early and was left in place
    /// (acknowledged events in it: not cut, see [`LossGuard`]).
    damage: Option<String>,
}

/// Replays journal events from seq `from` into the pipeline. A bad batch
/// with no readable batch after it is a torn tail: cut, with a warning,
/// unless it holds acknowledged events (then it stays for the operator and
/// the caller refuses to start). A bad batch followed by good ones is an
/// error.
fn replay_tail(
    store: &Store,
    p: &mut Pipeline,
    from: u64,
    warnings: &mut Vec<String>,
    guard: LossGuard,
) -> Result<Tail, EngineError> {
    let keys = store.journal_keys()?;
    let start = keys.iter().rposition(|&k| k <= from).unwrap_or(0);
    if let Some(&first) = keys.first()
        && first > from
    {
        return Err(EngineError::Gap {
            first,
            snapshot: from - 1,
        });
    }
    let mut next = from;
    let mut tail = Tail {
        replayed: 0,
        damage: None,
    };
    for (i, &key) in keys.iter().enumerate().skip(start) {
        let batch = store.journal_batch(key).map_err(|e| e.to_string()).and_then(|b| {
            if b.first_seq().is_some_and(|f| f > next) {
                Err(format!("seq gap: expected {next}, batch starts at {key}"))
            } else {
                Ok(b)
            }
        });
        let batch = match batch {
            Ok(b) => b,
            Err(reason) => {
                check_tail(store, &keys[i..], &reason)?;
                if guard.may_cut(key) {
                    cut_tail(store, &keys[i..], &reason, warnings)?;
                } else {
                    tail.damage = Some(format!("journal batch {key} is damaged: {reason}"));
                }
                break;
            }
        };
        let mut names = batch.names.as_slice();
        for ev in batch.events.iter().filter(|e| e.seq >= next) {
            p.replay(names, ev.seq_op(), ev.tags())?;
            names = &[];
            tail.replayed += 1;
        }
        next = batch.last_seq().map_or(next, |l| l + 1);
    }
    p.flush();
    Ok(tail)
}

/// A damaged batch followed by a readable one is damage in the middle.
fn check_tail(store: &Store, bad: &[u64], reason: &str) -> Result<(), EngineError> {
    for &later in &bad[1..] {
        if store.journal_batch(later).is_ok() {
            return Err(EngineError::CorruptMiddle {
                key: bad[0],
                reason: reason.to_owned(),
            });
        }
    }
    Ok(())
}

fn cut_tail(store: &Store, bad: &[u64], reason: &str, warnings: &mut Vec<String>) -> Result<(), EngineError> {
    store.remove_journal(bad)?;
    let msg = format!(
        "journal tail damaged from seq {} ({} batch(es) dropped: {reason}); recovered up to the last whole batch",
        bad[0],
        bad.len()
    );
    tracing::warn!("{msg}");
    warnings.push(msg);
    Ok(())
}

fn snapshot_writer(
    store: &Store,
    rx: &Receiver<EngineImage>,
    keep: usize,
    prune: bool,
    history: Option<&HistoryProgress>,
) {
    while let Ok(image) = rx.recv() {
        let seq = image.seq;
        // A recovery from this snapshot does not replay the marks before
        // it: their points must be written first.
        if history.is_some_and(|h| !h.drain(Duration::from_secs(60))) {
            tracing::warn!("snapshot {seq}: the P&L history writer is behind; writing the snapshot anyway");
        }
        if history.is_some()
            && let Err(e) = store.flush_history()
        {
            store.stats().failed(SideWrite::History);
            tracing::error!("snapshot {seq}: writing the P&L history's chunks in progress: {e}");
        }
        if let Err(e) = store.put_snapshot(&image) {
            store.stats().failed(SideWrite::Snapshot);
            tracing::error!("writing snapshot {seq}: {e}");
            continue;
        }
        match store.retain_snapshots(keep) {
            Ok(_) if prune => {
                if let Some(&oldest) = store.snapshot_seqs().unwrap_or_default().first()
                    && let Err(e) = store.prune_journal_before(oldest + 1)
                {
                    tracing::error!("pruning the journal: {e}");
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!("deleting old snapshots: {e}"),
        }
    }
}
