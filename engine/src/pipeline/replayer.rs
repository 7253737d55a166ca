//! The offline replay: a pipeline that re-applies a journal and finishes
//! (`kupala replay`, the what-if backtest under another cost method).
//!
//! Nothing reads its state before the end and no event is accepted after
//! the journal, so it skips the two costs a live pipeline pays per event:
//! the range bounds (they only guard events still to come) and the shards'
//! flush whenever their queue runs empty (a flush is a valuation of every
//! instrument touched; deferring it to the size limit or the final cut
//! values each instrument once per 64 Ki ops instead of once per batch),
//! and it builds no per-position delta (its sink would drop them).
//! The final state is the same: account totals are kept by deltas, which
//! telescope to the same sums however often they are taken.

use super::{Pipeline, PipelineConfig, Restored};
use crate::aggregator::NullSink;
use crate::ids::Names;
use crate::op::SeqOp;
use crate::sequencer::{NewName, SequenceError, TradeTags};
use crate::state::EngineState;
use crate::worker::{FlushRule, MAX_UNFLUSHED};

/// A pipeline that only replays accepted ops and then finishes; it has no
/// way to submit a new event, so the bounds it does not keep are never read.
pub struct Replayer {
    pipeline: Pipeline,
}

impl Replayer {
    /// Starts empty shards, flushing every 64 Ki ops, and the aggregator.
    #[must_use]
    pub fn start(config: PipelineConfig) -> Self {
        Self::flushing_every(config, MAX_UNFLUSHED)
    }

    /// Like [`Replayer::start`], the shards valuing what changed once per
    /// `ops` ops applied (at least 1): fewer holds less in the dirty lists
    /// and costs more valuations. The final state does not depend on it.
    #[must_use]
    pub fn flushing_every(mut config: PipelineConfig, ops: usize) -> Self {
        // The final cut reads every position from the books; per-position
        // deltas on the way would go to a sink that drops them.
        config.emit_positions = false;
        let restored = Restored::empty(&config);
        Self::launch(config, restored, ops)
    }

    /// Like [`Replayer::start`], from the books and sequencer of a restored
    /// snapshot (an as-of query: the snapshot, then the journal after it),
    /// restored with `config` (whose `emit_positions` should be off).
    #[must_use]
    pub fn from_restored(mut config: PipelineConfig, restored: Restored) -> Self {
        config.emit_positions = false;
        Self::launch(config, restored, MAX_UNFLUSHED)
    }

    fn launch(config: PipelineConfig, restored: Restored, ops: usize) -> Self {
        Self {
            pipeline: Pipeline::launch(config, Box::new(NullSink), restored, FlushRule::Every(ops.max(1))),
        }
    }

    /// Applies an op from the journal with the names it introduced.
    pub fn replay(
        &mut self,
        names: &[NewName],
        sop: SeqOp,
        tags: TradeTags<'_>,
    ) -> Result<(), SequenceError> {
        let ts = tags.ts;
        let sop = self.pipeline.seq.replay_unbounded(names, sop, tags)?;
        self.pipeline.route_replayed(names, sop, ts);
        Ok(())
    }

    /// Sends the pending batch on (the shards still flush lazily).
    pub fn flush(&mut self) {
        self.pipeline.flush();
    }

    /// The names replayed so far.
    #[must_use]
    pub const fn names(&self) -> &Names {
        self.pipeline.names()
    }

    /// The final state (through a cut, which flushes every shard), then
    /// stops the threads.
    pub fn finish(self) -> EngineState {
        self.pipeline.finish()
    }
}
