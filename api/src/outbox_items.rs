//! What a client's queue holds: the items (replies, snapshots, shared
//! deltas), their keys, and what `min_change` measures of them.

use std::sync::{Arc, OnceLock};

use kupala_engine::ids::{AccountId, BookId, InstrumentId};
use kupala_engine::state::{BookState, FirmState, PortfolioState, PositionState};
use kupala_engine::store::history::NewPoint;

use super::SubId;
use crate::tick_view::TickView;

/// The conflation key of a queued item.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    Reply(u64),
    Snapshot(SubId),
    /// A position: its book (which names its account) and instrument.
    Position(SubId, BookId, InstrumentId),
    Portfolio(SubId, AccountId),
    Book(SubId, BookId),
    Firm(SubId),
    Tick(SubId),
    /// An analysis result of a job.
    Analysis(SubId, u64),
    /// A P&L history point, by its time (a series' points are distinct
    /// keys: none replaces another).
    History(SubId, i64),
}

impl Key {
    pub(super) const fn sub(self) -> Option<SubId> {
        match self {
            Self::Reply(_) => None,
            Self::Snapshot(s)
            | Self::Position(s, ..)
            | Self::Portfolio(s, _)
            | Self::Book(s, _)
            | Self::Firm(s)
            | Self::Tick(s)
            | Self::Analysis(s, _)
            | Self::History(s, _) => Some(s),
        }
    }
}

/// One thing to send.
#[derive(Debug)]
pub(crate) enum Item {
    /// A rendered reply (ack, result, error).
    Reply(String),
    /// A positions snapshot.
    Positions(Vec<PositionState>),
    /// A portfolio snapshot.
    Portfolios(Vec<PortfolioState>),
    /// A books snapshot.
    Books(Vec<BookState>),
    /// A firm snapshot (`None` before the engine reported one).
    FirmNow(Option<FirmState>),
    /// A ticks snapshot (the last tick, if any).
    Ticks(Option<TickView>),
    /// A position delta (`closed` when an EOD moved it to the history).
    Position(Arc<Shared<PositionState>>),
    /// A portfolio delta.
    Portfolio(Arc<Shared<PortfolioState>>),
    /// A book delta.
    Book(Arc<Shared<BookState>>),
    /// A firm delta.
    Firm(Arc<Shared<FirmState>>),
    /// A tick.
    Tick(Arc<Shared<TickView>>),
    /// An `analysis` snapshot or delta: its `data`, already rendered for
    /// this client's grant (`crate::analysis`).
    Analysis {
        /// A snapshot (true) or a delta.
        snapshot: bool,
        /// The `data` JSON text.
        data: Arc<str>,
    },
    /// A `history` snapshot: its `data` (the series and its stored
    /// points), rendered on the blocking pool.
    HistoryNow(String),
    /// A new P&L history point.
    HistoryPoint(Arc<Shared<NewPoint>>),
}

/// One change, shared by every subscription it goes to and rendered to
/// JSON once (by the first connection task that sends it).
#[derive(Debug)]
pub(crate) struct Shared<T> {
    /// The new state.
    pub value: T,
    /// A position that left the book at an EOD.
    pub closed: bool,
    /// The rendered `data`, filled on first use.
    pub text: OnceLock<String>,
}

impl<T> Shared<T> {
    pub(crate) fn new(value: T, closed: bool) -> Arc<Self> {
        Arc::new(Self {
            value,
            closed,
            text: OnceLock::new(),
        })
    }
}

impl Item {
    /// A snapshot (the answer to a subscribe).
    #[cfg(test)]
    pub(super) const fn is_snapshot(&self) -> bool {
        matches!(
            self,
            Self::Positions(_)
                | Self::Portfolios(_)
                | Self::Books(_)
                | Self::FirmNow(_)
                | Self::Ticks(_)
                | Self::Analysis { snapshot: true, .. }
                | Self::HistoryNow(_)
        )
    }

    /// A change of a subscription (a delta), as opposed to a reply or a
    /// snapshot: what a `deltas` message may hold.
    pub(crate) const fn is_change(&self) -> bool {
        matches!(
            self,
            Self::Position(_)
                | Self::Portfolio(_)
                | Self::Book(_)
                | Self::Firm(_)
                | Self::Tick(_)
                | Self::Analysis { snapshot: false, .. }
                | Self::HistoryPoint(_)
        )
    }

    /// The journal seq of a change (position and portfolio deltas).
    pub(super) fn change_seq(&self) -> Option<u64> {
        match self {
            Self::Position(p) => Some(p.value.seq),
            Self::Portfolio(p) => Some(p.value.seq),
            Self::Book(b) => Some(b.value.totals.seq),
            Self::Firm(f) => Some(f.value.seq),
            _ => None,
        }
    }

    /// What `min_change` compares: (quantity-like, value-like).
    pub(super) fn measure(&self) -> Option<(i64, i128)> {
        match self {
            Self::Position(p) if !p.closed => Some(position_measure(&p.value)),
            Self::Portfolio(p) => Some(portfolio_measure(&p.value)),
            Self::Book(b) => Some(portfolio_measure(&b.value.totals)),
            Self::Firm(f) => Some((f.value.unpriced, f.value.net_pnl.to_money().raw())),
            Self::Tick(t) => Some((0, i128::from(t.value.price.raw()))),
            _ => None,
        }
    }

    /// The `min_change` baselines a snapshot gives, by key.
    pub(super) fn baselines(&self, sub: SubId) -> Vec<(Key, (i64, i128))> {
        match self {
            Self::Positions(list) => list
                .iter()
                .map(|p| (Key::Position(sub, p.book, p.instrument), position_measure(p)))
                .collect(),
            Self::Portfolios(list) => list
                .iter()
                .map(|p| (Key::Portfolio(sub, p.account), portfolio_measure(p)))
                .collect(),
            Self::Books(list) => list
                .iter()
                .map(|b| (Key::Book(sub, b.book), portfolio_measure(&b.totals)))
                .collect(),
            Self::FirmNow(Some(f)) => vec![(Key::Firm(sub), (f.unpriced, f.net_pnl.to_money().raw()))],
            Self::Ticks(Some(t)) => vec![(Key::Tick(sub), (0, i128::from(t.price.raw())))],
            _ => Vec::new(),
        }
    }
}

fn position_measure(p: &PositionState) -> (i64, i128) {
    (p.qty.raw(), p.net_pnl.to_money().raw())
}

fn portfolio_measure(p: &PortfolioState) -> (i64, i128) {
    (p.unpriced, p.net_pnl.to_money().raw())
}
