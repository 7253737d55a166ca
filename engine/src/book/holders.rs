//! The hot layout of a shard's books: what a tick reads and writes.
//!
//! Each instrument keeps its holders contiguous, one 64-byte [`Holder`] per
//! position (one cache line): the quantity and cost basis copied from the
//! position's ledger, the base values last added to its account's totals,
//! its account and its conversion group. A tick is one pass over that
//! array. Everything else of a position (lots, realized, fees, day
//! baselines, flags) is in its cold record (`book::Position`), which only
//! trades, splits, EODs and snapshots touch.

use crate::fx::Conversion;
use crate::ids::{AccountId, CurrencyId};
use crate::num::{Multiplier, Notional, add, sub};
use crate::state::PortfolioState;

/// A position's index in its shard's cold records (creation order).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct SlotId(pub(crate) u32);

impl SlotId {
    /// As an index into the cold records.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }

    /// The slot at index `i` (a shard holds far fewer than 2^32
    /// positions: the sequencer's position limit).
    pub(crate) fn from_index(i: usize) -> Self {
        Self(u32::try_from(i).unwrap_or_else(|_| crate::num::out_of_bounds()))
    }
}

/// A conversion group's index: the positions sharing one (instrument
/// currency, base currency) conversion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct GroupId(pub(crate) u32);

impl GroupId {
    /// As an index into the groups.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }

    /// The group at index `i` (a shard has a handful of groups).
    pub(crate) fn from_index(i: usize) -> Self {
        Self(u32::try_from(i).unwrap_or_else(|_| crate::num::out_of_bounds()))
    }
}

/// A holder's position in its instrument's hot array.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub(crate) struct HolderIdx(pub(crate) u32);

impl HolderIdx {
    /// As an index into the instrument's holders.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

/// One position as a tick sees it. `qty` and `cost` mirror the ledger (set
/// by every trade and split); `mv` and `unreal` are the base values the
/// account totals include.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Holder {
    /// Exact signed cost basis (10^-18, before the multiplier).
    pub(crate) cost: i128,
    /// Base market value as last repriced.
    pub(crate) mv: i128,
    /// Base unrealized P&L as last repriced.
    pub(crate) unreal: i128,
    /// Signed quantity, raw (10^-9).
    pub(crate) qty: i64,
    /// The account whose totals it moves.
    pub(crate) account: AccountId,
    /// Its conversion group.
    pub(crate) group: GroupId,
}

const _: () = assert!(size_of::<Holder>() == 64, "a holder is one cache line");

/// What a holding is worth at a mark, exact (10^-18): the one valuation
/// every figure is derived from, in instrument currency or, once
/// [`converted`](Self::converted), in base currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Valuation {
    /// `mark × qty × multiplier`.
    pub(crate) market_value: i128,
    /// `(mark × qty − cost) × multiplier`.
    pub(crate) unrealized: i128,
}

impl Valuation {
    /// The value of `qty` with cost basis `cost` at `mark`.
    #[inline]
    pub(crate) fn at(mark: i64, qty: i64, cost: i128, multiplier: Multiplier) -> Self {
        let value = i128::from(mark) * i128::from(qty);
        Self {
            market_value: multiplier.apply(value),
            unrealized: multiplier.apply(sub(value, cost)),
        }
    }

    /// Both figures converted (each rounded once).
    #[inline]
    pub(crate) fn converted(self, c: Conversion) -> Self {
        Self {
            market_value: c.apply(self.market_value),
            unrealized: c.apply(self.unrealized),
        }
    }
}

/// One account's totals in base currency, kept by the shard that owns the
/// account (accounts are partitioned over shards) and moved in place by
/// every change: nothing is re-summed and nothing is shipped to be added
/// elsewhere.
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Totals {
    // The first cache line holds what a tick moves and the dirty flag.
    pub(crate) market_value: i128,
    pub(crate) unrealized: i128,
    pub(crate) day: i128,
    /// Changed since the last flush (and listed in `AccountTotals::dirty`).
    pub(crate) dirty: bool,
    /// The account has (had) a position here: its totals are reported.
    pub(crate) known: bool,
    pub(crate) base: CurrencyId,
    /// Positions with no rate to base (left out of the sums).
    pub(crate) unpriced: i64,
    pub(crate) realized: i128,
    pub(crate) fees: i128,
    /// The last flush's seq that changed them.
    pub(crate) seq: u64,
}

const _: () = assert!(
    std::mem::offset_of!(Totals, unpriced) + 8 <= 64,
    "what a tick moves fits one cache line"
);

impl Totals {
    /// As the engine reports them.
    pub(crate) fn state(&self, account: AccountId) -> PortfolioState {
        PortfolioState {
            account,
            base_currency: self.base,
            unpriced: self.unpriced,
            market_value: Notional(self.market_value),
            realized_pnl: Notional(self.realized),
            unrealized_pnl: Notional(self.unrealized),
            fees: Notional(self.fees),
            // Summed from the totals (each within the sequencer's bound).
            net_pnl: Notional(sub(add(self.realized, self.unrealized), self.fees)),
            day_pnl: Notional(self.day),
            seq: self.seq,
        }
    }

    /// From a reported state (a restored snapshot).
    pub(crate) fn of(p: &PortfolioState) -> Self {
        Self {
            market_value: p.market_value.0,
            realized: p.realized_pnl.0,
            unrealized: p.unrealized_pnl.0,
            fees: p.fees.0,
            day: p.day_pnl.0,
            unpriced: p.unpriced,
            seq: p.seq,
            base: p.base_currency,
            known: true,
            dirty: false,
        }
    }
}

/// The owned accounts' totals, dense by account index, and the list of
/// those changed since the last flush.
#[derive(Debug, Default)]
pub(crate) struct AccountTotals {
    pub(crate) by_account: Vec<Totals>,
    pub(crate) dirty: Vec<AccountId>,
}

impl AccountTotals {
    /// Makes room for `account` (called when a position is created, so the
    /// tick loop indexes without growing).
    pub(crate) fn reserve(&mut self, account: AccountId, base: CurrencyId) {
        let i = account.index();
        if self.by_account.len() <= i {
            self.by_account.resize_with(i + 1, Totals::default);
        }
        let t = &mut self.by_account[i];
        (t.base, t.known) = (base, true);
    }

    /// The totals of `account` (which must have been reserved), marked as
    /// changed for the next flush.
    #[inline(always)]
    pub(crate) fn of(&mut self, account: AccountId) -> &mut Totals {
        let t = &mut self.by_account[account.index()];
        if !t.dirty {
            t.dirty = true;
            self.dirty.push(account);
        }
        t
    }

    /// Adds a repricing's change of market value and unrealized P&L (which
    /// moves day P&L by the same amount).
    #[inline(always)]
    pub(crate) fn revalue(&mut self, account: AccountId, d_mv: i128, d_unreal: i128) {
        let t = self.of(account);
        t.market_value = add(t.market_value, d_mv);
        t.unrealized = add(t.unrealized, d_unreal);
        t.day = add(t.day, d_unreal);
    }

    /// Every known account's totals, by account id.
    pub(crate) fn states(&self) -> Vec<PortfolioState> {
        (0..self.by_account.len())
            .filter(|&i| self.by_account[i].known)
            .map(|i| {
                let a = AccountId(u32::try_from(i).unwrap_or_else(|_| crate::num::out_of_bounds()));
                self.by_account[i].state(a)
            })
            .collect()
    }
}

/// Reprices a run of holders at `mark` and records each change in its
/// account's pending totals: the tick loop. `convs` is the shard's
/// conversions by group (`None`: no rate yet, the position is unpriced and
/// left out of the totals).
#[inline]
pub(crate) fn reprice_holders(
    holders: &mut [Holder],
    mark: i64,
    multiplier: Multiplier,
    convs: &[Option<Conversion>],
    totals: &mut AccountTotals,
) {
    if multiplier == Multiplier::ONE && convs.iter().all(|c| *c == Some(Conversion::IDENTITY)) {
        reprice_plain(holders, mark, totals);
        return;
    }
    for h in holders {
        let Some(conv) = convs[h.group.index()] else {
            continue;
        };
        let v = Valuation::at(mark, h.qty, h.cost, multiplier).converted(conv);
        record(h, v, totals);
    }
}

/// The tick loop when every position of the shard is in its account's
/// currency and the multiplier is 1 (the common book): the same valuation
/// as [`Valuation::at`] with the identities left out.
fn reprice_plain(holders: &mut [Holder], mark: i64, totals: &mut AccountTotals) {
    let mark = i128::from(mark);
    for h in holders {
        let market_value = mark * i128::from(h.qty);
        let v = Valuation {
            market_value,
            unrealized: sub(market_value, h.cost),
        };
        record(h, v, totals);
    }
}

/// Stores a holder's new base values and adds the change to its account.
/// Always inlined: it is the tick loop's body (left to the compiler, it
/// was a call per holder, a third of a shard's time).
#[inline(always)]
fn record(h: &mut Holder, v: Valuation, totals: &mut AccountTotals) {
    let (d_mv, d_unreal) = (sub(v.market_value, h.mv), sub(v.unrealized, h.unreal));
    if d_mv == 0 && d_unreal == 0 {
        return;
    }
    (h.mv, h.unreal) = (v.market_value, v.unrealized);
    totals.revalue(h.account, d_mv, d_unreal);
}
