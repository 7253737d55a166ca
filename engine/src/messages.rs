//! The messages between the engine's threads, in a leaf module that the
//! router, the shard workers, the aggregator, the journal writer and the
//! pipeline all read (none of them imports another for its messages).

use crossbeam_channel::Sender;
use std::sync::Arc;

use crate::book::{FirmSums, ShardOutput};
use crate::ids::AccountId;
use crate::image::BookImage;
use crate::op::SeqOp;
use crate::state::{BookState, ClosedPosition, EngineState, PortfolioState, PositionState};

/// A consistent cut of the engine at one `seq`: the state, and the books'
/// images when asked for (for a persisted snapshot).
#[derive(Debug, Default)]
pub struct Cut {
    /// Positions, totals and closed history at the cut.
    pub state: EngineState,
    /// The merged books, when the barrier asked for them.
    pub books: Option<BookImage>,
}

/// What a barrier collects from each shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CutKind {
    /// Every listed position, the totals and the closed history (a query
    /// of the whole state).
    State,
    /// The listed positions of these accounts and the totals (a server's
    /// first view of accounts it starts to want).
    Accounts(Arc<[AccountId]>),
    /// The account totals only: a consistent cut that copies nothing per
    /// position.
    Totals,
    /// The books' images and the totals (a persisted snapshot).
    Image,
}

/// Ops for every shard, as the router sends them.
pub(crate) struct Batch {
    /// The ops, in seq order (one allocation shared by every shard).
    pub(crate) ops: Arc<[SeqOp]>,
    /// When the oldest entered the engine (`clock::now_ns`, 0 = not
    /// measured).
    pub(crate) t_in: u64,
    /// The highest seq routed when the batch was sent: with the batch
    /// applied, the shard holds every op up to it (a batch may be empty,
    /// sent only to carry it).
    pub(crate) through: u64,
}

/// A message to a shard worker.
pub(crate) enum ShardMsg {
    /// Ops to apply.
    Batch(Batch),
    /// Flush and report to the aggregator (a consistent cut) what `kind`
    /// asks for.
    Barrier { reply: Sender<Cut>, kind: CutKind },
}

/// One shard's flushes, for the aggregator to publish.
pub(crate) struct Report {
    pub(crate) shard: usize,
    pub(crate) output: ShardOutput,
    /// The shard has applied every op up to this seq (see [`Batch`]).
    pub(crate) through: u64,
}

/// A shard's part of a cut.
pub(crate) struct BarrierPart {
    pub(crate) shard: usize,
    pub(crate) seq: u64,
    /// Its listed positions (for a state cut only).
    pub(crate) positions: Vec<PositionState>,
    /// Its accounts' totals.
    pub(crate) portfolios: Vec<PortfolioState>,
    /// Its books' totals.
    pub(crate) books: Vec<BookState>,
    /// Its part of the firm's totals.
    pub(crate) firm: FirmSums,
    /// Its closed history (for a state cut only).
    pub(crate) closed: Vec<ClosedPosition>,
    pub(crate) image: Option<BookImage>,
    pub(crate) reply: Sender<Cut>,
}

/// A message from a shard to the aggregator.
pub(crate) enum AggMsg {
    /// Flushes to publish.
    Output(Report),
    /// A shard reached a barrier.
    Barrier(BarrierPart),
}
