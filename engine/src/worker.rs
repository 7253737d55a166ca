//! A shard worker: the thread that owns one [`Book`], applies the batches
//! the router sends, and reports what changed to the aggregator.
//!
//! Batching adapts to load (LMAX's smart batching): in coalesced mode the
//! worker applies every batch already waiting in its queue before it
//! flushes, so a lagging shard reprices each instrument once per backlog
//! rather than once per batch, and an idle one flushes each batch at once.
//! A flush also closes when [`MAX_UNFLUSHED`] ops are applied, so a queue
//! that never empties still publishes.
//!
//! A replay that only finishes (see `pipeline::Replayer`) flushes lazily
//! ([`FlushRule::Every`]): only at its size limit or a cut, never because
//! its queue emptied, since nobody reads its deltas before the end.
//!
//! In every-tick mode each op is flushed on its own (per-event deltas), and
//! the flushes of one batch travel as segments of one output: one message
//! per batch, not per op. Outputs come back from the aggregator on `spare`
//! and are reused: a flush allocates nothing in steady state.

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use std::sync::Arc;

use crate::book::{Book, ShardOutput};
use crate::messages::{AggMsg, BarrierPart, Batch, CutKind, Report, ShardMsg};
use crate::shard_depths::ShardDepths;

/// Ops applied before a coalesced flush closes even with more queued.
pub(crate) const MAX_UNFLUSHED: usize = 64 * 1024;

/// Portfolio and position states an every-tick output holds before it is
/// sent: enough to carry several ticks per message, few enough (≈ 250 KB)
/// that the aggregator reads them from cache.
pub const MAX_OUTPUT_ENTRIES: usize = 2048;

/// When a coalescing shard closes a flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum FlushRule {
    /// When its queue runs empty, or at [`MAX_UNFLUSHED`] ops (live).
    Idle,
    /// Only once this many ops are applied, or at a cut (an offline
    /// replay, whose deltas nobody reads before the end).
    Every(usize),
}

impl FlushRule {
    const fn limit(self) -> usize {
        match self {
            Self::Idle => MAX_UNFLUSHED,
            Self::Every(n) => n,
        }
    }
}

/// What a shard has applied but not yet flushed.
#[derive(Clone, Copy, Debug, Default)]
struct Unflushed {
    /// Ops applied since the last flush.
    ops: usize,
    /// When the oldest of them entered the engine (0 = not measured).
    t_in: u64,
    /// The highest `through` of their batches.
    through: u64,
}

/// One shard's thread state.
pub(crate) struct ShardWorker {
    pub(crate) shard: usize,
    pub(crate) book: Book,
    pub(crate) out: Sender<AggMsg>,
    /// Emptied outputs handed back by the aggregator.
    pub(crate) spare: Receiver<ShardOutput>,
    pub(crate) coalesce: bool,
    pub(crate) rule: FlushRule,
    /// Where this shard's queue length is recorded after each receive.
    depths: Arc<ShardDepths>,
    /// How far this shard is complete (see `ShardMsg::Batch`).
    done: u64,
    /// The output being filled (every-tick mode: one segment per op).
    output: Option<ShardOutput>,
}

impl ShardWorker {
    pub(crate) fn new(
        shard: usize,
        book: Book,
        out: Sender<AggMsg>,
        spare: Receiver<ShardOutput>,
        coalesce: bool,
        rule: FlushRule,
        depths: Arc<ShardDepths>,
    ) -> Self {
        Self {
            shard,
            book,
            out,
            spare,
            coalesce,
            rule,
            depths,
            done: 0,
            output: None,
        }
    }

    /// Runs until the router drops its sender.
    pub(crate) fn run(mut self, rx: &Receiver<ShardMsg>) {
        let mut pending: Option<Unflushed> = None;
        loop {
            let msg = match pending {
                Some(u) if self.rule == FlushRule::Idle => match rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => {
                        self.close(u);
                        pending = None;
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => {
                        self.close(u);
                        return;
                    }
                },
                _ => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => {
                        if let Some(u) = pending {
                            self.close(u);
                        }
                        return;
                    }
                },
            };
            self.depths.set(self.shard, rx.len());
            match msg {
                ShardMsg::Batch(Batch { ops, t_in, through }) => {
                    if self.coalesce {
                        ops.iter().for_each(|sop| self.book.apply(sop));
                    } else {
                        self.apply_each(&ops, t_in);
                    }
                    let u = pending.get_or_insert_with(Unflushed::default);
                    u.ops += ops.len();
                    if u.t_in == 0 {
                        u.t_in = t_in;
                    }
                    u.through = u.through.max(through);
                    if !self.coalesce || u.ops >= self.rule.limit() {
                        self.close(*u);
                        pending = None;
                    }
                }
                ShardMsg::Barrier { reply, kind } => {
                    if let Some(u) = pending.take() {
                        self.close(u);
                    }
                    // Every cut carries the totals; the position states and
                    // history are for state cuts, the image for snapshots.
                    let state = kind == CutKind::State;
                    let positions = match &kind {
                        CutKind::State => self.book.positions(),
                        CutKind::Accounts(accounts) => self.book.positions_of(accounts),
                        CutKind::Totals | CutKind::Image => Vec::new(),
                    };
                    let msg = AggMsg::Barrier(BarrierPart {
                        shard: self.shard,
                        seq: self.book.seq(),
                        positions,
                        portfolios: self.book.portfolios(),
                        books: self.book.books(),
                        firm: self.book.settled_firm(),
                        closed: if state {
                            self.book.closed().to_vec()
                        } else {
                            Vec::new()
                        },
                        image: (kind == CutKind::Image).then(|| self.book.image()),
                        reply,
                    });
                    let _ = self.out.send(msg);
                }
            }
        }
    }

    /// Every-tick mode: applies and flushes each op on its own, each flush a
    /// segment of one output (one message per batch, not per op). An EOD
    /// goes in an output of its own, so the aggregator publishes its
    /// day's positions in order with the flushes around it.
    fn apply_each(&mut self, ops: &[crate::op::SeqOp], t_in: u64) {
        for sop in ops {
            if matches!(sop.op, crate::op::Op::Eod { .. }) {
                self.send(self.done);
            }
            self.book.apply(sop);
            let o = self
                .output
                .get_or_insert_with(|| self.spare.try_recv().unwrap_or_default());
            if o.segments.is_empty() {
                o.t_in = t_in;
            }
            self.book.flush_into(o);
            if !o.eod.is_empty() || o.portfolios.len() + o.positions.len() >= MAX_OUTPUT_ENTRIES {
                self.send(self.done);
            }
        }
    }

    /// Flushes what was applied and records how far the shard is complete.
    fn close(&mut self, u: Unflushed) {
        let through = u.through.max(self.done);
        let o = self
            .output
            .get_or_insert_with(|| self.spare.try_recv().unwrap_or_default());
        if o.segments.is_empty() {
            o.t_in = u.t_in;
        }
        if self.coalesce {
            self.book.flush_into(o);
        }
        self.send(through);
        self.done = through;
    }

    /// Sends the output so far, complete through `through` (an output with
    /// no change is sent only when that moved).
    fn send(&mut self, through: u64) {
        let Some(o) = self.output.take() else {
            return;
        };
        if o.is_empty() && through <= self.done {
            let mut o = o;
            o.clear();
            self.output = Some(o);
            return;
        }
        let _ = self.out.send(AggMsg::Output(Report {
            shard: self.shard,
            output: o,
            through: through.max(self.done),
        }));
    }
}
