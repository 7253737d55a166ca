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
//! Flush buffers come back from the aggregator on `spare` and are reused: a
//! flush allocates nothing in steady state.

use crossbeam_channel::{Receiver, Sender, TryRecvError};

use crate::aggregator::AggMsg;
use crate::book::{Book, ShardOutput};
use crate::router::ShardMsg;

/// Ops applied before a coalesced flush closes even with more queued.
pub(crate) const MAX_UNFLUSHED: usize = 64 * 1024;

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
    /// How far this shard is complete (see `ShardMsg::Batch`).
    done: u64,
}

impl ShardWorker {
    pub(crate) fn new(
        shard: usize,
        book: Book,
        out: Sender<AggMsg>,
        spare: Receiver<ShardOutput>,
        coalesce: bool,
    ) -> Self {
        Self {
            shard,
            book,
            out,
            spare,
            coalesce,
            done: 0,
        }
    }

    /// Runs until the router drops its sender.
    pub(crate) fn run(mut self, rx: &Receiver<ShardMsg>) {
        let mut pending: Option<Unflushed> = None;
        loop {
            let msg = match pending {
                Some(u) => match rx.try_recv() {
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
                None => match rx.recv() {
                    Ok(m) => m,
                    Err(_) => return,
                },
            };
            match msg {
                ShardMsg::Batch(ops, t_in, through) => {
                    for sop in &ops {
                        self.book.apply(sop);
                        if !self.coalesce {
                            self.send_output(t_in, self.done);
                        }
                    }
                    let u = pending.get_or_insert_with(Unflushed::default);
                    u.ops += ops.len();
                    if u.t_in == 0 {
                        u.t_in = t_in;
                    }
                    u.through = u.through.max(through);
                    if !self.coalesce || u.ops >= MAX_UNFLUSHED {
                        self.close(*u);
                        pending = None;
                    }
                }
                ShardMsg::Barrier { reply, images } => {
                    if let Some(u) = pending.take() {
                        self.close(u);
                    }
                    self.send_output(0, self.done);
                    let msg = AggMsg::Barrier {
                        shard: self.shard,
                        seq: self.book.seq(),
                        positions: self.book.positions(),
                        closed: self.book.closed().to_vec(),
                        image: images.then(|| self.book.image()),
                        reply,
                    };
                    let _ = self.out.send(msg);
                }
            }
        }
    }

    /// Flushes what was applied and records how far the shard is complete.
    fn close(&mut self, u: Unflushed) {
        let through = u.through.max(self.done);
        self.send_output(u.t_in, through);
        self.done = through;
    }

    /// Sends the book's changes, complete through `through` (an output with
    /// no change is sent only when that moved).
    fn send_output(&mut self, t_in: u64, through: u64) {
        let mut o = self.spare.try_recv().unwrap_or_default();
        self.book.flush_into(&mut o);
        o.t_in = t_in;
        if !o.is_empty() || through > self.done {
            let _ = self
                .out
                .send(AggMsg::Output(self.shard, o, through.max(self.done)));
        }
    }
}
