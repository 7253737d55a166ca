//! The threaded pipeline: sequencer (caller's thread) → one bounded crossbeam
//! channel and one worker thread per shard → the aggregator thread → a
//! [`DeltaSink`].
//!
//! Backpressure: every queue is bounded. When a shard's queue is full the
//! sequencer keeps batching for that shard; in the pending batch a tick that
//! a later tick of the same instrument supersedes (no EOD between) is
//! dropped, which changes no final figure (only the mark at EOD matters, and
//! EOD is never crossed). Trades, FX, splits and EODs are never dropped: once
//! the pending batch reaches `max_pending` the sequencer blocks until the
//! shard catches up.

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use rustc_hash::FxHashSet;
use std::thread::JoinHandle;

use crate::aggregator::{AggMsg, Aggregator, DeltaSink};
use crate::book::Book;
use crate::event::Event;
use crate::ids::Names;
use crate::ledger::Method;
use crate::op::{Op, SeqOp};
use crate::sequencer::{BaseCurrencies, SequenceError, Sequencer};
use crate::state::EngineState;

/// How the pipeline is built.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Number of shards (worker threads); at least 1.
    pub shards: usize,
    /// Cost method.
    pub method: Method,
    /// Account base currencies.
    pub bases: BaseCurrencies,
    /// Capacity of each shard's channel, in batches.
    pub queue_batches: usize,
    /// Events per batch before it is sent.
    pub batch_size: usize,
    /// Events a shard's pending batch may hold before the sequencer blocks.
    pub max_pending: usize,
    /// Flush (reprice and send deltas) once per batch instead of per event.
    pub coalesce: bool,
    /// Drop superseded ticks from a pending batch when the shard is behind.
    pub conflate_ticks: bool,
    /// Produce per-position deltas (off when only totals are wanted).
    pub emit_positions: bool,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            shards: std::thread::available_parallelism().map_or(1, usize::from),
            method: Method::Avg,
            bases: BaseCurrencies::default(),
            queue_batches: 64,
            batch_size: 1024,
            max_pending: 64 * 1024,
            coalesce: true,
            conflate_ticks: true,
            emit_positions: true,
        }
    }
}

/// A message to a shard worker.
pub(crate) enum ShardMsg {
    /// Ops to apply, in seq order.
    Batch(Vec<SeqOp>),
    /// Flush and report the books to the aggregator (a consistent cut).
    Barrier(crossbeam_channel::Sender<EngineState>),
}

struct ShardLink {
    tx: Sender<ShardMsg>,
    pending: Vec<SeqOp>,
}

/// Counters of what the pipeline did under load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Events accepted and sequenced.
    pub sequenced: u64,
    /// Repeated trade ids ignored.
    pub duplicates: u64,
    /// Ticks dropped because a later tick superseded them while a shard lagged.
    pub conflated_ticks: u64,
    /// Times the sequencer had to wait for a full shard queue.
    pub blocked_sends: u64,
}

/// The running engine: submit events, take consistent snapshots, finish.
pub struct Pipeline {
    seq: Sequencer,
    links: Vec<ShardLink>,
    workers: Vec<JoinHandle<()>>,
    aggregator: Option<JoinHandle<()>>,
    config: PipelineConfig,
    stats: PipelineStats,
    seen: FxHashSet<u32>,
}

impl Pipeline {
    /// Starts the shard workers and the aggregator.
    #[must_use]
    pub fn start(mut config: PipelineConfig, sink: Box<dyn DeltaSink>) -> Self {
        config.shards = config.shards.max(1);
        config.batch_size = config.batch_size.max(1);
        let (agg_tx, agg_rx) = bounded::<AggMsg>(config.queue_batches.max(1) * config.shards);
        let mut links = Vec::with_capacity(config.shards);
        let mut workers = Vec::with_capacity(config.shards);
        for i in 0..config.shards {
            let (tx, rx) = bounded(config.queue_batches.max(1));
            let book = Book::new(config.method, config.emit_positions);
            let out = agg_tx.clone();
            let coalesce = config.coalesce;
            let handle = std::thread::Builder::new()
                .name(format!("kupala-shard-{i}"))
                .spawn(move || shard_worker(i, book, &rx, &out, coalesce));
            if let Ok(h) = handle {
                workers.push(h);
            }
            links.push(ShardLink {
                tx,
                pending: Vec::new(),
            });
        }
        drop(agg_tx);
        let shards = config.shards;
        let aggregator = std::thread::Builder::new()
            .name("kupala-aggregator".into())
            .spawn(move || Aggregator::new(shards, sink).run(&agg_rx))
            .ok();
        Self {
            seq: Sequencer::new(config.shards, config.bases.clone()),
            links,
            workers,
            aggregator,
            config,
            stats: PipelineStats::default(),
            seen: FxHashSet::default(),
        }
    }

    /// The names behind the engine's ids.
    #[must_use]
    pub const fn names(&self) -> &Names {
        self.seq.names()
    }

    /// What the pipeline did under load so far.
    #[must_use]
    pub const fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// The last `seq` assigned.
    #[must_use]
    pub const fn last_seq(&self) -> u64 {
        self.seq.last_seq()
    }

    /// Sequences and routes one event; `Ok(None)` for an ignored repeat.
    /// Batches are sent when full; call [`flush`](Self::flush) to send now.
    pub fn submit(&mut self, event: &Event) -> Result<Option<u64>, SequenceError> {
        let Some(sop) = self.seq.sequence(event)? else {
            self.stats.duplicates += 1;
            return Ok(None);
        };
        self.stats.sequenced += 1;
        self.route(sop);
        Ok(Some(sop.seq))
    }

    /// Routes an already-sequenced op: by instrument, or to every shard.
    fn route(&mut self, sop: SeqOp) {
        match sop.op.instrument() {
            Some(inst) => {
                let shard = self.seq.shard_of(inst);
                self.push(shard, sop);
            }
            None => {
                for shard in 0..self.links.len() {
                    self.push(shard, sop);
                }
            }
        }
    }

    fn push(&mut self, shard: usize, sop: SeqOp) {
        let pending = &mut self.links[shard].pending;
        pending.push(sop);
        if pending.len() % self.config.batch_size == 0 {
            self.send(shard, false);
        }
    }

    /// Sends every shard's pending batch (blocking only on a full queue).
    pub fn flush(&mut self) {
        for shard in 0..self.links.len() {
            if !self.links[shard].pending.is_empty() {
                self.send(shard, true);
            }
        }
    }

    fn send(&mut self, shard: usize, must: bool) {
        let batch = std::mem::take(&mut self.links[shard].pending);
        match self.links[shard].tx.try_send(ShardMsg::Batch(batch)) {
            Ok(()) => {}
            Err(TrySendError::Full(ShardMsg::Batch(mut batch))) => {
                if self.config.conflate_ticks {
                    self.stats.conflated_ticks += compact_ticks(&mut batch, &mut self.seen);
                }
                if must || batch.len() >= self.config.max_pending {
                    self.stats.blocked_sends += 1;
                    let _ = self.links[shard].tx.send(ShardMsg::Batch(batch));
                } else {
                    self.links[shard].pending = batch;
                }
            }
            Err(_) => {}
        }
    }

    /// A consistent snapshot of every shard and the totals, all at the
    /// current `seq`: a barrier travels through each shard channel in order.
    pub fn snapshot(&mut self) -> EngineState {
        self.flush();
        let (tx, rx) = bounded(1);
        for link in &self.links {
            let _ = link.tx.send(ShardMsg::Barrier(tx.clone()));
        }
        rx.recv().unwrap_or_default()
    }

    /// Takes a final snapshot, then stops every thread cleanly.
    pub fn finish(mut self) -> EngineState {
        let state = self.snapshot();
        self.shutdown();
        state
    }

    fn shutdown(&mut self) {
        for link in self.links.drain(..) {
            drop(link.tx);
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
        self.flush();
        self.shutdown();
    }
}

/// Drops ticks that a later tick of the same instrument supersedes, never
/// across an EOD (whose day baseline reads the mark). Returns how many.
fn compact_ticks(batch: &mut Vec<SeqOp>, seen: &mut FxHashSet<u32>) -> u64 {
    seen.clear();
    let mut keep = vec![true; batch.len()];
    for (i, sop) in batch.iter().enumerate().rev() {
        match sop.op {
            Op::Eod { .. } => seen.clear(),
            Op::Tick { instrument, .. } => keep[i] = seen.insert(instrument.0),
            _ => {}
        }
    }
    let before = batch.len();
    let mut it = keep.iter();
    batch.retain(|_| *it.next().unwrap_or(&true));
    (before - batch.len()) as u64
}

fn shard_worker(shard: usize, mut book: Book, rx: &Receiver<ShardMsg>, out: &Sender<AggMsg>, coalesce: bool) {
    while let Ok(msg) = rx.recv() {
        match msg {
            ShardMsg::Batch(ops) => {
                for sop in &ops {
                    book.apply(sop);
                    if !coalesce {
                        send_output(shard, &mut book, out);
                    }
                }
                send_output(shard, &mut book, out);
            }
            ShardMsg::Barrier(reply) => {
                send_output(shard, &mut book, out);
                let msg = AggMsg::Barrier {
                    shard,
                    seq: book.seq(),
                    positions: book.positions(),
                    closed: book.closed().to_vec(),
                    reply,
                };
                let _ = out.send(msg);
            }
        }
    }
}

fn send_output(shard: usize, book: &mut Book, out: &Sender<AggMsg>) {
    let o = book.flush();
    if !o.is_empty() {
        let _ = out.send(AggMsg::Output(shard, o));
    }
}
