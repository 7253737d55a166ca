//! The threaded pipeline: sequencer (caller's thread) → one bounded crossbeam
//! channel and one worker thread per shard → the aggregator thread → a
//! [`DeltaSink`].
//!
//! Backpressure: every queue is bounded. When a shard's queue is full the
//! router keeps batching for that shard; in the pending batch a tick that a
//! later tick of the same instrument supersedes (no EOD between) is dropped,
//! which changes no final figure (only the mark at an EOD or at the end is
//! read). Trades, FX, splits and EODs are never dropped: once the pending
//! batch reaches `max_pending` the sequencer blocks until the shard catches up.

mod config;
mod cuts;
mod journal;
mod replayer;
mod restore;

use crossbeam_channel::{Sender, bounded};
use std::sync::{Arc, RwLock};
use std::thread::JoinHandle;

use crate::aggregator::{Aggregator, DeltaSink};
use crate::event::Event;
use crate::history::HistoryClock;
use crate::ids::Names;
use crate::image::EngineImage;
use crate::journal_writer::{JournalMsg, Watermarks};
use crate::messages::AggMsg;
pub use crate::messages::Cut;
use crate::op::{Op, SeqOp};
use crate::router::{Router, RouterStats};
use crate::sequencer::{NewName, SequenceError, Sequencer, TradeTags};
use crate::shard_depths::ShardDepths;
use crate::state::EngineState;
use crate::store::journal::{JournalBatch, JournalEvent, event_ts};
use crate::worker::{FlushRule, ShardWorker};
pub use config::{PipelineConfig, PipelineStats, default_shards};
pub use replayer::Replayer;
pub use restore::Restored;

/// The engine's names, readable from any thread.
pub type SharedNames = Arc<RwLock<Names>>;

/// Where sequenced ops go: straight to the shards, or through the journal.
enum Downstream {
    Direct(Router),
    Journal(JournalLink),
    Closed,
}

/// The sequencer's side of the journal writer.
struct JournalLink {
    tx: Sender<JournalMsg>,
    batch: JournalBatch,
    ops: Vec<SeqOp>,
    /// When the batch's first op entered the engine.
    first_in: u64,
    batch_size: usize,
    /// Inside [`Pipeline::submit_atomic`]: a full batch waits for the end of
    /// the group, so the group lands in one journal write.
    hold: bool,
    writer: Option<JoinHandle<()>>,
    marks: Arc<Watermarks>,
}

impl JournalLink {
    fn send(&mut self) {
        if self.ops.is_empty() && self.batch.cursor.is_none() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        let ops = std::mem::replace(&mut self.ops, Vec::with_capacity(self.batch_size));
        let _ = self.tx.send(JournalMsg::Append(batch, ops, self.first_in));
    }
}

/// The running engine: submit events, take consistent snapshots, finish.
pub struct Pipeline {
    seq: Sequencer,
    down: Downstream,
    names: SharedNames,
    /// How many books `names` has (the sequencer numbers them without a
    /// journaled name).
    mirrored_books: usize,
    stamp: bool,
    /// Where P&L history marks go (before the first op of a later bucket).
    history: HistoryClock,
    workers: Vec<JoinHandle<()>>,
    aggregator: Option<JoinHandle<()>>,
    config: PipelineConfig,
    stats: PipelineStats,
    depths: Arc<ShardDepths>,
}

impl Pipeline {
    /// Starts empty shard workers and the aggregator.
    #[must_use]
    pub fn start(config: PipelineConfig, sink: Box<dyn DeltaSink>) -> Self {
        Self::resume(config, sink, None)
    }

    /// Starts the threads from an image (a snapshot), or empty. The image
    /// may come from a run with another shard count; its method must match.
    #[must_use]
    pub fn resume(config: PipelineConfig, sink: Box<dyn DeltaSink>, image: Option<&EngineImage>) -> Self {
        let restored = match image {
            None => Restored::empty(&config),
            Some(img) => match Restored::from(&config, img, img.books.positions.as_slice()) {
                Ok(r) => r,
                Err(never) => match never {},
            },
        };
        Self::from_restored(config, sink, restored)
    }

    /// Starts the threads on books and a sequencer restored beforehand
    /// (see [`Restored::from`]).
    #[must_use]
    pub fn from_restored(config: PipelineConfig, sink: Box<dyn DeltaSink>, restored: Restored) -> Self {
        Self::launch(config, sink, restored, FlushRule::Idle)
    }

    /// Starts the threads, the shards closing their flushes by `rule`.
    fn launch(
        mut config: PipelineConfig,
        sink: Box<dyn DeltaSink>,
        restored: Restored,
        rule: FlushRule,
    ) -> Self {
        config.shards = config.shards.max(1);
        let shards = config.shards;
        let Restored {
            books,
            seq,
            reporting,
            history,
        } = restored;
        let (agg_tx, agg_rx) = bounded::<AggMsg>(config.queue_batches.max(1) * shards);
        let mut senders = Vec::with_capacity(shards);
        let mut workers = Vec::with_capacity(shards);
        let mut returns = Vec::with_capacity(shards);
        let totals = sink.wants_totals();
        let depths = Arc::new(ShardDepths::new(shards));
        for (i, book) in books.into_iter().enumerate() {
            let (tx, rx) = bounded(config.queue_batches.max(1));
            let book = book
                .reporting_totals(totals)
                .with_interest(Arc::clone(&config.interest));
            // Emptied flush buffers travel back on their own bounded
            // channel; one the shard has no room for is dropped.
            let (spare_tx, spare_rx) = bounded(config.queue_batches.max(1) + 2);
            returns.push(spare_tx);
            let worker = ShardWorker::new(
                i,
                book,
                agg_tx.clone(),
                spare_rx,
                config.coalesce,
                rule,
                Arc::clone(&depths),
            );
            let handle = std::thread::Builder::new()
                .name(format!("kupala-shard-{i}"))
                .spawn(move || worker.run(&rx));
            if let Ok(h) = handle {
                workers.push(h);
            }
            senders.push(tx);
        }
        drop(agg_tx);
        let aggregator = std::thread::Builder::new()
            .name("kupala-aggregator".into())
            .spawn(move || Aggregator::new(shards, sink, returns, reporting).run(&agg_rx))
            .ok();
        let names = Arc::new(RwLock::new(seq.names().clone()));
        Self {
            mirrored_books: seq.names().books.len(),
            seq,
            names,
            stamp: false,
            history,
            down: Downstream::Direct(Router::new(
                senders,
                config.batch_size,
                config.max_pending,
                config.conflate_ticks,
                Arc::clone(&depths),
            )),
            workers,
            aggregator,
            config,
            stats: PipelineStats::default(),
            depths,
        }
    }

    /// The names behind the engine's ids.
    #[must_use]
    pub const fn names(&self) -> &Names {
        self.seq.names()
    }

    /// What the pipeline did so far.
    #[must_use]
    ///
    /// With a store attached, routing happens on the journal thread and its
    /// counters are not included.
    pub fn stats(&self) -> PipelineStats {
        let mut s = self.stats;
        if let Downstream::Direct(r) = &self.down {
            let r: RouterStats = r.stats;
            s.conflated_ticks = r.conflated_ticks;
            s.blocked_sends = r.blocked_sends;
        }
        s
    }

    /// Each shard's queue depth (batches waiting), readable from any thread.
    #[must_use]
    pub fn shard_depths(&self) -> Arc<ShardDepths> {
        Arc::clone(&self.depths)
    }

    /// The last `seq` assigned.
    #[must_use]
    pub const fn last_seq(&self) -> u64 {
        self.seq.last_seq()
    }

    /// The configuration the pipeline runs with.
    #[must_use]
    pub const fn config(&self) -> &PipelineConfig {
        &self.config
    }

    /// Names interned since the last call (they go into the next journal batch).
    pub fn take_new_names(&mut self) -> Vec<NewName> {
        self.seq.take_new_names()
    }

    /// Sequences and routes one event; `Ok(None)` for an ignored repeat.
    /// Batches are sent when full; call [`flush`](Self::flush) to send now.
    pub fn submit(&mut self, event: &Event) -> Result<Option<SeqOp>, SequenceError> {
        // Only the oldest op of a journal batch carries its stamp (the
        // batch's latency is measured from it), so the clock is read only
        // when a batch starts.
        let t_in = match &self.down {
            _ if !self.stamp => 0,
            Downstream::Journal(j) if !j.ops.is_empty() => 0,
            _ => crate::clock::now_ns(),
        };
        self.submit_stamped(event, t_in)
    }

    /// Like [`submit`](Self::submit) with an explicit latency stamp (a
    /// `clock::now_ns` value, 0 = none): a load generator passes the time
    /// the event was *due*, so latency includes queueing behind late sends
    /// (no coordinated omission).
    pub fn submit_stamped(&mut self, event: &Event, t_in: u64) -> Result<Option<SeqOp>, SequenceError> {
        let Some(sop) = self.seq.sequence(event)? else {
            self.stats.duplicates += 1;
            return Ok(None);
        };
        self.stats.sequenced += 1;
        let names = self.seq.take_new_names();
        self.mirror(&names);
        let mark = self
            .history
            .observe(&sop.op, event_ts(event))
            .map(|op| SeqOp { seq: sop.seq - 1, op });
        let picks = pick_ops(&sop, self.seq.picks());
        match &mut self.down {
            Downstream::Direct(r) => {
                for op in mark.into_iter().chain(picks) {
                    r.route(op, t_in);
                }
                r.route(sop, t_in);
            }
            Downstream::Journal(j) => {
                if j.ops.is_empty() {
                    j.first_in = t_in;
                }
                j.batch.names.extend(names);
                j.batch.events.extend(JournalEvent::new(&sop, event));
                j.ops.extend(mark);
                j.ops.extend(picks);
                j.ops.push(sop);
                if j.ops.len() >= j.batch_size && !j.hold {
                    j.send();
                }
            }
            Downstream::Closed => {}
        }
        Ok(Some(sop))
    }

    /// Sequences a group of events that must be durable together (one
    /// client submit): with a store they go into one journal batch, written
    /// in one atomic write, however many they are — a full batch or a
    /// barrier never splits them, so a crash keeps all of them or none.
    /// Each event's seq (`None` for an ignored repeat); on a refusal, its
    /// index (call [`check`](Self::check) first to refuse before any is
    /// applied).
    pub fn submit_atomic(&mut self, events: &[Event]) -> Result<Vec<Option<u64>>, (usize, SequenceError)> {
        self.set_hold(true);
        let mut seqs = Vec::with_capacity(events.len());
        let mut result = Ok(());
        for (i, event) in events.iter().enumerate() {
            match self.submit(event) {
                Ok(sop) => seqs.push(sop.map(|s| s.seq)),
                Err(e) => {
                    result = Err((i, e));
                    break;
                }
            }
        }
        self.set_hold(false);
        if let Downstream::Journal(j) = &mut self.down
            && j.ops.len() >= j.batch_size
        {
            j.send();
        }
        result.map(|()| seqs)
    }

    fn set_hold(&mut self, hold: bool) {
        if let Downstream::Journal(j) = &mut self.down {
            j.hold = hold;
        }
    }

    /// Checks that every event of a batch would be accepted, in order,
    /// without applying any: the first refusal and its index. Submitting the
    /// batch right after (same thread) then cannot fail half-way.
    pub fn check(&self, events: &[Event]) -> Result<(), (usize, SequenceError)> {
        self.seq.check(events)
    }

    /// Measure tick→delta latency: stamp ops with `clock::now_ns` as they
    /// enter (with a store, only the first op of each journal batch: the
    /// one its latency is measured from). Off by default (batch runs).
    pub fn set_latency_stamps(&mut self, on: bool) {
        self.stamp = on;
    }

    /// The names of the engine's ids, shared with other threads (the
    /// publisher renders deltas with them). New names are added before the
    /// op that introduced them reaches a shard.
    #[must_use]
    pub fn shared_names(&self) -> SharedNames {
        Arc::clone(&self.names)
    }

    /// Makes new names visible to other threads, then tells the interest
    /// (a wanted account gets its id before its first op reaches a shard).
    fn mirror(&mut self, names: &[NewName]) {
        let books = self.seq.names().books.len();
        if names.is_empty() && books == self.mirrored_books {
            return;
        }
        if let Ok(mut shared) = self.names.write() {
            for n in names {
                shared.restore(n);
            }
            shared.sync_books(self.seq.names());
        }
        self.mirrored_books = books;
        self.config.interest.added(names);
    }

    /// Applies an op from the journal (accepted before, not re-validated):
    /// the replay and recovery path. Shards and aggregator run as live.
    pub fn replay(
        &mut self,
        names: &[NewName],
        sop: SeqOp,
        tags: TradeTags<'_>,
    ) -> Result<(), SequenceError> {
        let ts = tags.ts;
        let sop = self.seq.replay(names, sop, tags)?;
        self.route_replayed(names, sop, ts);
        Ok(())
    }

    /// Publishes a replayed op's names and sends it on (after the history
    /// mark its timestamp `ts` places before it, if any).
    fn route_replayed(&mut self, names: &[NewName], sop: SeqOp, ts: i64) {
        self.mirror(names);
        self.stats.sequenced += 1;
        let mark = self
            .history
            .observe(&sop.op, ts)
            .map(|op| SeqOp { seq: sop.seq - 1, op });
        let picks = pick_ops(&sop, self.seq.picks());
        match &mut self.down {
            Downstream::Direct(r) => {
                for op in mark.into_iter().chain(picks) {
                    r.route(op, 0);
                }
                r.route(sop, 0);
            }
            Downstream::Journal(j) => {
                let ops = mark.into_iter().chain(picks).chain([sop]).collect();
                let _ = j.tx.send(JournalMsg::Route(ops));
            }
            Downstream::Closed => {}
        }
    }

    /// Sends every pending batch on (blocking only on a full queue).
    pub fn flush(&mut self) {
        match &mut self.down {
            Downstream::Direct(r) => r.flush(),
            Downstream::Journal(j) => j.send(),
            Downstream::Closed => {}
        }
    }

    /// Takes a final snapshot, then stops every thread cleanly.
    pub fn finish(mut self) -> EngineState {
        let state = self.snapshot();
        self.shutdown();
        state
    }

    /// Stops every thread cleanly (idempotent: dropping calls it again).
    pub(crate) fn shutdown(&mut self) {
        self.flush();
        match std::mem::replace(&mut self.down, Downstream::Closed) {
            Downstream::Direct(mut r) => r.close(),
            Downstream::Journal(mut j) => {
                j.send();
                drop(j.tx);
                if let Some(w) = j.writer.take() {
                    let _ = w.join();
                }
            }
            Downstream::Closed => {}
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        if let Some(a) = self.aggregator.take() {
            let _ = a.join();
        }
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The [`Op::Pick`]s a trade's `close_lots` resolved to (`picks`, the
/// opening seqs), each at the trade's seq, to route just before it.
fn pick_ops<'a>(sop: &SeqOp, picks: &'a [u64]) -> impl Iterator<Item = SeqOp> + 'a {
    let seq = sop.seq;
    let trade = match sop.op {
        Op::Trade { book, instrument, .. } => Some((book, instrument)),
        _ => None,
    };
    trade.into_iter().flat_map(move |(book, instrument)| {
        picks.iter().map(move |&opened| SeqOp {
            seq,
            op: Op::Pick {
                instrument,
                book,
                opened,
            },
        })
    })
}
