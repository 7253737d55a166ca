//! Routing sequenced ops to shard workers: per-shard pending batches, the
//! bounded channels, and tick conflation under backpressure.

use crossbeam_channel::{Sender, TrySendError};
use rustc_hash::{FxHashSet, FxHasher};
use std::hash::Hasher;

use crate::ids::InstrumentId;
use crate::op::{Op, SeqOp};
use crate::pipeline::Cut;

/// The shard an instrument belongs to: a hash of its id, so routing is a
/// pure function of the journal (ids are interned in journal order).
#[must_use]
pub fn shard_of(instrument: InstrumentId, shards: usize) -> usize {
    let mut h = FxHasher::default();
    h.write_u32(instrument.0);
    usize::try_from(h.finish() % shards.max(1) as u64).unwrap_or(0)
}

/// A message to a shard worker.
pub(crate) enum ShardMsg {
    /// Ops to apply, in seq order; when the oldest entered the engine
    /// (`clock::now_ns`, 0 = not measured); and the highest seq routed to
    /// any shard when the batch was sent: with the batch applied, the shard
    /// holds every op up to that seq it will ever get (possibly an empty
    /// batch, sent only to carry it).
    Batch(Vec<SeqOp>, u64, u64),
    /// Flush and report to the aggregator (a consistent cut); `images` asks
    /// for the full books too (for a persisted snapshot).
    Barrier { reply: Sender<Cut>, images: bool },
}

struct ShardLink {
    tx: Sender<ShardMsg>,
    pending: Vec<SeqOp>,
    /// When the oldest pending op entered the engine.
    oldest: u64,
    /// The pending batch's length after its last compaction: it is
    /// compacted again only once it has doubled, so a growing backlog costs
    /// linear, not quadratic, rescanning.
    compacted: usize,
    /// The `through` seq of the last batch sent.
    through: u64,
}

/// Counters of what routing did under load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RouterStats {
    /// Ticks dropped because a later tick superseded them while a shard lagged.
    pub conflated_ticks: u64,
    /// Times a full shard queue made the router wait.
    pub blocked_sends: u64,
}

/// Owns the sending side of every shard channel.
pub(crate) struct Router {
    links: Vec<ShardLink>,
    batch_size: usize,
    max_pending: usize,
    conflate: bool,
    seen: FxHashSet<u32>,
    /// The highest seq routed so far (ops come in seq order).
    routed: u64,
    pub(crate) stats: RouterStats,
}

impl Router {
    pub(crate) fn new(
        senders: Vec<Sender<ShardMsg>>,
        batch_size: usize,
        max_pending: usize,
        conflate: bool,
    ) -> Self {
        Self {
            links: senders
                .into_iter()
                .map(|tx| ShardLink {
                    tx,
                    pending: Vec::new(),
                    oldest: 0,
                    compacted: 0,
                    through: 0,
                })
                .collect(),
            batch_size: batch_size.max(1),
            max_pending: max_pending.max(1),
            conflate,
            seen: FxHashSet::default(),
            routed: 0,
            stats: RouterStats::default(),
        }
    }

    /// Routes an op by instrument, or to every shard (FX, EOD); `t_in` is
    /// when it entered the engine (0 = not measured).
    pub(crate) fn route(&mut self, sop: SeqOp, t_in: u64) {
        self.routed = self.routed.max(sop.seq);
        match sop.op.instrument() {
            Some(inst) => self.push(shard_of(inst, self.links.len()), sop, t_in),
            None => (0..self.links.len()).for_each(|s| self.push(s, sop, t_in)),
        }
    }

    fn push(&mut self, shard: usize, sop: SeqOp, t_in: u64) {
        let link = &mut self.links[shard];
        if link.pending.is_empty() {
            link.oldest = t_in;
        }
        let pending = &mut link.pending;
        pending.push(sop);
        if pending.len().is_multiple_of(self.batch_size) {
            self.send(shard, false);
        }
    }

    /// Sends every pending batch (waiting on a full queue), and an empty
    /// one to each shard that has not heard of the last seq routed, so every
    /// shard's reported progress reaches it (the aggregator's
    /// `DeltaSink::complete` watermark).
    pub(crate) fn flush(&mut self) {
        for shard in 0..self.links.len() {
            let link = &self.links[shard];
            if !link.pending.is_empty() || link.through < self.routed {
                self.send(shard, true);
            }
        }
    }

    fn send(&mut self, shard: usize, must: bool) {
        let batch = std::mem::take(&mut self.links[shard].pending);
        let t_in = self.links[shard].oldest;
        let through = self.routed;
        match self.links[shard]
            .tx
            .try_send(ShardMsg::Batch(batch, t_in, through))
        {
            Ok(()) => {
                self.links[shard].compacted = 0;
                self.links[shard].through = through;
            }
            Err(TrySendError::Full(ShardMsg::Batch(mut batch, t_in, through))) => {
                let link = &mut self.links[shard];
                if self.conflate && batch.len() >= 2 * link.compacted.max(self.batch_size) {
                    self.stats.conflated_ticks += compact_ticks(&mut batch, &mut self.seen);
                    link.compacted = batch.len();
                }
                if must || batch.len() >= self.max_pending {
                    self.stats.blocked_sends += 1;
                    self.links[shard].compacted = 0;
                    self.links[shard].through = through;
                    let _ = self.links[shard].tx.send(ShardMsg::Batch(batch, t_in, through));
                } else {
                    self.links[shard].pending = batch;
                }
            }
            Err(_) => {}
        }
    }

    /// Flushes, then sends a barrier down every shard channel.
    pub(crate) fn barrier(&mut self, reply: &Sender<Cut>, images: bool) {
        self.flush();
        for link in &self.links {
            let _ = link.tx.send(ShardMsg::Barrier {
                reply: reply.clone(),
                images,
            });
        }
    }

    /// Drops every sender: workers drain their queues and exit.
    pub(crate) fn close(&mut self) {
        self.links.clear();
    }
}

/// Drops ticks that a later tick of the same instrument supersedes with no
/// trade, split or definition of that instrument between them (design.md:
/// only ticks with no trade between them may be coalesced), and never across
/// an EOD (whose day baseline reads the mark). Returns how many.
pub(crate) fn compact_ticks(batch: &mut Vec<SeqOp>, seen: &mut FxHashSet<u32>) -> u64 {
    seen.clear();
    let mut keep = vec![true; batch.len()];
    for (i, sop) in batch.iter().enumerate().rev() {
        match &sop.op {
            Op::Eod { .. } => seen.clear(),
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

    #[test]
    fn routing_spreads_instruments() {
        let counts = (0..1000).fold([0usize; 4], |mut c, i| {
            c[shard_of(InstrumentId(i), 4)] += 1;
            c
        });
        assert!(counts.iter().all(|&c| c > 150), "{counts:?}");
    }
}
