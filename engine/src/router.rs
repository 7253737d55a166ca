//! Routing sequenced ops to shard workers: every op goes to every shard
//! (see `partition`), so one pending batch is shared by all of them; the
//! bounded channels; and tick conflation under backpressure.

use crossbeam_channel::Sender;
use rustc_hash::FxHashSet;
use std::sync::Arc;

use crate::messages::{Batch, Cut, CutKind, ShardMsg};
use crate::op::{Op, SeqOp};
use crate::shard_depths::ShardDepths;

/// Counters of what routing did under load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Ticks dropped because a later tick superseded them while a shard lagged.
    pub conflated_ticks: u64,
    /// Times a full shard queue made the router wait.
    pub blocked_sends: u64,
}

/// Owns the sending side of every shard channel and the batch being built.
pub(crate) struct Router {
    links: Vec<Sender<ShardMsg>>,
    pending: Vec<SeqOp>,
    /// When the oldest pending op entered the engine.
    oldest: u64,
    /// The pending batch's length after its last compaction: it is
    /// compacted again only once it has doubled, so a growing backlog costs
    /// linear, not quadratic, rescanning.
    compacted: usize,
    /// The `through` seq of the last batch sent.
    through: u64,
    batch_size: usize,
    max_pending: usize,
    conflate: bool,
    seen: FxHashSet<u32>,
    /// The highest seq routed so far (ops come in seq order).
    routed: u64,
    pub(crate) stats: RouterStats,
    depths: Arc<ShardDepths>,
}

impl Router {
    pub(crate) fn new(
        senders: Vec<Sender<ShardMsg>>,
        batch_size: usize,
        max_pending: usize,
        conflate: bool,
        depths: Arc<ShardDepths>,
    ) -> Self {
        Self {
            links: senders,
            pending: Vec::with_capacity(batch_size.max(1)),
            oldest: 0,
            compacted: 0,
            through: 0,
            batch_size: batch_size.max(1),
            max_pending: max_pending.max(1),
            conflate,
            seen: FxHashSet::default(),
            routed: 0,
            stats: RouterStats::default(),
            depths,
        }
    }

    /// Adds an op to the batch every shard will get; `t_in` is when it
    /// entered the engine (0 = not measured). A full batch is sent.
    pub(crate) fn route(&mut self, sop: SeqOp, t_in: u64) {
        self.routed = self.routed.max(sop.seq);
        if self.pending.is_empty() {
            self.oldest = t_in;
        }
        self.pending.push(sop);
        if self.pending.len().is_multiple_of(self.batch_size) {
            self.send(false);
        }
    }

    /// Sends the pending batch (waiting on a full queue), or an empty one
    /// when the shards have not heard of the last seq routed, so every
    /// shard's reported progress reaches it (the aggregator's
    /// `DeltaSink::complete` watermark).
    pub(crate) fn flush(&mut self) {
        if !self.pending.is_empty() || self.through < self.routed {
            self.send(true);
        }
    }

    /// Sends the pending batch to every shard if each has room; otherwise
    /// keeps it (conflating superseded ticks as it grows) unless `must` or
    /// it reached `max_pending`, then waits for room.
    fn send(&mut self, must: bool) {
        // Only this thread sends, so a queue with room keeps it until sent.
        let room = self.links.iter().all(|tx| !tx.is_full());
        if !room {
            if self.conflate && self.pending.len() >= 2 * self.compacted.max(self.batch_size) {
                self.stats.conflated_ticks += compact_ticks(&mut self.pending, &mut self.seen);
                self.compacted = self.pending.len();
            }
            if !must && self.pending.len() < self.max_pending {
                return;
            }
            self.stats.blocked_sends += 1;
        }
        let batch: Arc<[SeqOp]> = Arc::from(self.pending.as_slice());
        self.pending.clear();
        let (t_in, through) = (self.oldest, self.routed);
        for (shard, tx) in self.links.iter().enumerate() {
            let _ = tx.send(ShardMsg::Batch(Batch {
                ops: Arc::clone(&batch),
                t_in,
                through,
            }));
            self.depths.set(shard, tx.len());
        }
        self.compacted = 0;
        self.through = through;
    }

    /// Flushes, then sends a barrier down every shard channel.
    pub(crate) fn barrier(&mut self, reply: &Sender<Cut>, kind: CutKind) {
        self.flush();
        for tx in &self.links {
            let _ = tx.send(ShardMsg::Barrier {
                reply: reply.clone(),
                kind: kind.clone(),
            });
        }
    }

    /// Drops every sender: workers drain their queues and exit.
    pub(crate) fn close(&mut self) {
        self.links.clear();
    }
}

/// Drops ticks that a later tick of the same instrument supersedes with no
/// trade, split or definition of that instrument between them (only such
/// ticks may be coalesced: docs/benchmarks.md, "The workload"), and never
/// across an EOD (whose day baseline reads the mark). Returns how many.
pub(crate) fn compact_ticks(batch: &mut Vec<SeqOp>, seen: &mut FxHashSet<u32>) -> u64 {
    seen.clear();
    let mut keep = vec![true; batch.len()];
    for (i, sop) in batch.iter().enumerate().rev() {
        match &sop.op {
            Op::Eod { .. } | Op::Mark { .. } => seen.clear(),
            Op::Tick { instrument, .. } => keep[i] = seen.insert(instrument.0),
            other => {
                if let Some(inst) = other.instrument() {
                    seen.remove(&inst.0);
                }
            }
        }
    }
    let before = batch.len();
    let mut it = keep.iter();
    batch.retain(|_| *it.next().unwrap_or(&true));
    (before - batch.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstrumentId;
    use crate::num::Price;
    use crate::time::Date;

    fn tick(seq: u64, i: u32) -> SeqOp {
        SeqOp {
            seq,
            op: Op::Tick {
                instrument: InstrumentId(i),
                price: Price::from_int(1),
            },
        }
    }

    #[test]
    fn conflation_keeps_the_last_tick_per_instrument_and_never_crosses_eod() {
        let eod = SeqOp {
            seq: 4,
            op: Op::Eod { date: Date(1) },
        };
        let mut batch = vec![tick(1, 7), tick(2, 8), tick(3, 7), eod, tick(5, 7), tick(6, 7)];
        let dropped = compact_ticks(&mut batch, &mut FxHashSet::default());
        let seqs: Vec<u64> = batch.iter().map(|s| s.seq).collect();
        assert_eq!((dropped, seqs), (2, vec![2, 3, 4, 6]));
    }

    #[test]
    fn conflation_never_crosses_an_event_of_the_same_instrument() {
        let split = |seq, i| SeqOp {
            seq,
            op: Op::Split {
                instrument: InstrumentId(i),
                ratio: crate::num::Rate::from_int(2),
            },
        };
        // 1 and 3 are split apart by a split of 7; 4 supersedes 2 (instrument
        // 8 has nothing between); 5 supersedes nothing later.
        let mut batch = vec![
            tick(1, 7),
            tick(2, 8),
            split(3, 7),
            tick(4, 7),
            tick(5, 8),
            tick(6, 7),
        ];
        let dropped = compact_ticks(&mut batch, &mut FxHashSet::default());
        let seqs: Vec<u64> = batch.iter().map(|s| s.seq).collect();
        assert_eq!((dropped, seqs), (2, vec![1, 3, 5, 6]));
    }
}
