//! The hot layout of a shard's books: what a tick reads and writes.
//!
//! Each instrument keeps its holders contiguous, one 32-byte [`Holder`] per
//! position (two to a cache line): the quantity and cost basis copied from
//! the position's ledger, its book and its conversion group. A tick is
//! one pass over that array. Everything else of a position (lots,
//! realized, fees, day baselines, flags) is in its cold record
//! (`book::Position`), which only trades, splits, EODs and snapshots touch.
//!
//! A holder does not store the base values its book's totals include:
//! they are a pure function of its quantity and cost, its instrument's
//! *applied* mark and its group's *applied* conversion (those of the last
//! flush). Each change moves the totals by the difference of two
//! valuations: a flush from the applied mark (or rate) to the current one,
//! a trade or split from the old quantity and cost to the new ones at the
//! applied mark. Every valuation is exact and deterministic, so the
//! differences telescope to exactly what storing the values gave.

use crate::fx::Conversion;
use crate::ids::{AccountId, BookId, CurrencyId};
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
    /// The index of the next holder of an instrument that has `len` (a
    /// shard holds fewer than 2^32 positions: the sequencer's limit).
    pub(crate) fn from_len(len: usize) -> Self {
        Self(u32::try_from(len).unwrap_or_else(|_| crate::num::out_of_bounds()))
    }

    /// As an index into the instrument's holders.
    pub(crate) const fn index(self) -> usize {
        self.0 as usize
    }
}

/// One position as a tick sees it. `qty` and `cost` mirror the ledger (set
/// by every trade and split).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C)]
pub(crate) struct Holder {
    /// Exact signed cost basis (10^-18, before the multiplier).
    pub(crate) cost: i128,
    /// Signed quantity, raw (10^-9).
    pub(crate) qty: i64,
    /// The book whose totals it moves.
    pub(crate) book: BookId,
    /// Its conversion group.
    pub(crate) group: GroupId,
}

const _: () = assert!(size_of::<Holder>() == 32, "two holders to a cache line");

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

    /// What a holding adds to its account's totals: its value at `mark`
    /// converted to base, or nothing while its group has no rate (an
    /// unpriced position is left out of the sums).
    #[inline]
    pub(crate) fn in_base(
        mark: i64,
        qty: i64,
        cost: i128,
        multiplier: Multiplier,
        conv: Option<Conversion>,
    ) -> Self {
        conv.map_or(Self::ZERO, |c| Self::at(mark, qty, cost, multiplier).converted(c))
    }

    /// No value (an unpriced or empty holding).
    pub(crate) const ZERO: Self = Self {
        market_value: 0,
        unrealized: 0,
    };
}

/// One book's totals in its account's base currency, kept by the shard
/// that owns the account (accounts are partitioned over shards) and moved
/// in place by every change: nothing is re-summed and nothing is shipped
/// to be added elsewhere. The last fields are what the book adds to the
/// firm's totals (`book/firm.rs`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Totals {
    // The first cache line holds what a tick moves and the dirty flag.
    pub(crate) market_value: i128,
    pub(crate) unrealized: i128,
    pub(crate) day: i128,
    /// Changed since the last flush (and listed in `BookTotals::dirty`).
    pub(crate) dirty: bool,
    /// The book has (had) a position here: its totals are reported.
    pub(crate) known: bool,
    /// Its base has a rate to the firm's reporting currency: its figures
    /// are in the firm's sums.
    pub(crate) in_firm: bool,
    /// Its base is the firm's reporting currency: the firm takes its
    /// market value, unrealized and currency P&L as they are, summed as
    /// they move (`BookTotals::as_reported`), not settled per book.
    pub(crate) as_reported: bool,
    pub(crate) base: CurrencyId,
    /// Positions with no rate to base (left out of the sums).
    pub(crate) unpriced: i64,
    pub(crate) realized: i128,
    pub(crate) fees: i128,
    /// Dividend income.
    pub(crate) income: i128,
    /// The currency effect on the capital invested in other currencies
    /// than the base (`book/fx_cost.rs`).
    pub(crate) fx: i128,
    /// Market value, unrealized and currency P&L as the firm's sums
    /// include them (converted at the last settled rate).
    pub(crate) firm_mv: i128,
    pub(crate) firm_unrealized: i128,
    pub(crate) firm_fx: i128,
    /// The last flush's seq that changed them.
    pub(crate) seq: u64,
    /// Listed positions (the firm counts them unpriced while the base has
    /// no rate to the reporting currency).
    pub(crate) listed: i32,
    /// What the firm's `unpriced` includes of this book.
    pub(crate) firm_unpriced: i32,
}

const _: () = assert!(
    size_of::<Totals>() == 128 + 64,
    "a tick's line, then what trades move"
);

const _: () = assert!(
    std::mem::offset_of!(Totals, unpriced) + 8 <= 64,
    "what a tick moves fits one cache line"
);

impl Totals {
    /// As the engine reports them, for `account` (the book's account, or
    /// the account whose books these totals sum).
    pub(crate) fn state(&self, account: AccountId) -> PortfolioState {
        PortfolioState {
            account,
            base_currency: self.base,
            unpriced: self.unpriced,
            market_value: Notional(self.market_value),
            realized_pnl: Notional(self.realized),
            unrealized_pnl: Notional(self.unrealized),
            fees: Notional(self.fees),
            income: Notional(self.income),
            fx_pnl: Notional(self.fx),
            // Summed from the totals (each within the sequencer's bound).
            net_pnl: Notional(sub(
                add(add(self.realized, self.unrealized), self.income),
                self.fees,
            )),
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
            income: p.income.0,
            fx: p.fx_pnl.0,
            day: p.day_pnl.0,
            unpriced: p.unpriced,
            seq: p.seq,
            base: p.base_currency,
            known: true,
            ..Self::default()
        }
    }

    /// Adds another book's totals (an account's are the sum of its
    /// books'; each sum is within the sequencer's bound).
    pub(crate) fn add(&mut self, o: &Self) {
        self.market_value = add(self.market_value, o.market_value);
        self.unrealized = add(self.unrealized, o.unrealized);
        self.day = add(self.day, o.day);
        self.unpriced += o.unpriced;
        self.realized = add(self.realized, o.realized);
        self.fees = add(self.fees, o.fees);
        self.income = add(self.income, o.income);
        self.fx = add(self.fx, o.fx);
        self.seq = self.seq.max(o.seq);
        self.base = o.base;
        self.known |= o.known;
    }
}

/// The owned books' totals, dense by book index, and the list of those
/// changed since the last flush.
#[derive(Debug, Default)]
pub(crate) struct BookTotals {
    pub(crate) by_book: Vec<Totals>,
    pub(crate) dirty: Vec<BookId>,
    /// The changed books not in the reporting currency (a part of
    /// `dirty`): the ones a flush settles for the firm.
    pub(crate) dirty_converted: Vec<BookId>,
    /// The firm's reporting currency.
    pub(crate) reporting: CurrencyId,
    /// The sums over the books in the reporting currency, moved with them.
    pub(crate) as_reported: ReportedSums,
}

/// What the books whose base is the reporting currency add to the firm:
/// their sums, kept as they move, so the tick loop pays one add for the
/// firm and no flush visits those books for it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ReportedSums {
    pub(crate) market_value: i128,
    pub(crate) unrealized: i128,
    pub(crate) fx: i128,
    pub(crate) unpriced: i64,
}

impl BookTotals {
    /// Makes room for `book` (called when a position is created, so the
    /// tick loop indexes without growing); true when the book is new here.
    pub(crate) fn reserve(&mut self, book: BookId, base: CurrencyId) -> bool {
        let i = book.index();
        if self.by_book.len() <= i {
            self.by_book.resize_with(i + 1, Totals::default);
        }
        let t = &mut self.by_book[i];
        let new = !t.known;
        (t.base, t.known) = (base, true);
        t.as_reported = base == self.reporting;
        new
    }

    /// The totals of `book` (which must have been reserved), marked as
    /// changed for the next flush.
    #[inline(always)]
    pub(crate) fn of(&mut self, book: BookId) -> &mut Totals {
        let t = &mut self.by_book[book.index()];
        if !t.dirty {
            t.dirty = true;
            self.dirty.push(book);
            if !t.as_reported {
                self.dirty_converted.push(book);
            }
        }
        t
    }

    /// Adds a repricing's change of market value and unrealized P&L (which
    /// moves day P&L by the same amount).
    #[inline(always)]
    pub(crate) fn revalue(&mut self, book: BookId, d_mv: i128, d_unreal: i128) {
        let t = self.of(book);
        t.market_value = add(t.market_value, d_mv);
        t.unrealized = add(t.unrealized, d_unreal);
        t.day = add(t.day, d_unreal);
        if t.as_reported {
            let s = &mut self.as_reported;
            s.market_value = add(s.market_value, d_mv);
            s.unrealized = add(s.unrealized, d_unreal);
        }
    }

    /// Keeps the list of changed books to settle for the firm within twice
    /// the books (each in it once per flush that changed it, until a cut
    /// settles them).
    pub(crate) fn compact_converted(&mut self) {
        if self.dirty_converted.len() > 2 * self.by_book.len() + 1024 {
            self.dirty_converted.sort_unstable();
            self.dirty_converted.dedup();
        }
    }

    /// Adds to a book's currency effect.
    pub(crate) fn add_fx(&mut self, book: BookId, fx: i128) {
        let t = self.of(book);
        t.fx = add(t.fx, fx);
        if t.as_reported {
            self.as_reported.fx = add(self.as_reported.fx, fx);
        }
    }

    /// Adds to a book's count of unpriced positions.
    pub(crate) fn add_unpriced(&mut self, book: BookId, n: i64) {
        let t = self.of(book);
        t.unpriced += n;
        if t.as_reported {
            self.as_reported.unpriced += n;
        }
    }

    /// Moves `book` from one valuation of a holding to another (a
    /// repricing, a rate, or a trade at the applied mark); nothing when
    /// they are equal, so an unchanged book stays clean.
    #[inline(always)]
    pub(crate) fn shift(&mut self, book: BookId, before: Valuation, after: Valuation) {
        let d_mv = sub(after.market_value, before.market_value);
        let d_unreal = sub(after.unrealized, before.unrealized);
        if d_mv != 0 || d_unreal != 0 {
            self.revalue(book, d_mv, d_unreal);
        }
    }
}

/// Moves a run of holders from the applied mark `from` to `to` and records
/// each change in its book's pending totals: the tick loop. `convs` is
/// the shard's applied conversions by group (`None`: no rate yet, the
/// position is unpriced and left out of the totals).
#[inline]
pub(crate) fn reprice_holders(
    holders: &[Holder],
    from: i64,
    to: i64,
    multiplier: Multiplier,
    convs: &[Option<Conversion>],
    totals: &mut BookTotals,
) {
    if from == to {
        return;
    }
    if multiplier == Multiplier::ONE {
        if convs.iter().all(|c| *c == Some(Conversion::IDENTITY)) {
            reprice_plain(holders, from, to, totals);
        } else {
            reprice_mixed(holders, from, to, convs, totals);
        }
        return;
    }
    for h in holders {
        let Some(conv) = convs[h.group.index()] else {
            continue;
        };
        let before = Valuation::at(from, h.qty, h.cost, multiplier).converted(conv);
        let after = Valuation::at(to, h.qty, h.cost, multiplier).converted(conv);
        totals.shift(h.book, before, after);
    }
}

/// The tick loop for multiplier 1 when some of the shard's positions are
/// in another currency than their account's base: a holder in its base
/// currency moves by `(to − from) × qty` as in [`reprice_plain`], only the
/// others pay for two converted valuations.
fn reprice_mixed(
    holders: &[Holder],
    from: i64,
    to: i64,
    convs: &[Option<Conversion>],
    totals: &mut BookTotals,
) {
    let step = i128::from(to) - i128::from(from);
    for h in holders {
        if h.qty == 0 {
            continue;
        }
        let Some(conv) = convs[h.group.index()] else {
            continue;
        };
        if conv == Conversion::IDENTITY {
            let d = step * i128::from(h.qty);
            totals.revalue(h.book, d, d);
        } else {
            let before = Valuation::at(from, h.qty, h.cost, Multiplier::ONE).converted(conv);
            let after = Valuation::at(to, h.qty, h.cost, Multiplier::ONE).converted(conv);
            totals.shift(h.book, before, after);
        }
    }
}

/// The tick loop when every position of the shard is in its account's
/// currency and the multiplier is 1 (the common book): both figures move
/// by `(to − from) × qty`, exactly the difference of the two valuations of
/// [`Valuation::at`] (the cost cancels).
fn reprice_plain(holders: &[Holder], from: i64, to: i64, totals: &mut BookTotals) {
    let step = i128::from(to) - i128::from(from);
    for h in holders {
        // |mark × qty| is within the sequencer's bound T ≤ i128::MAX / 4
        // at both marks (`limits`), so the difference cannot overflow.
        if h.qty == 0 {
            continue;
        }
        let d = step * i128::from(h.qty);
        totals.revalue(h.book, d, d);
    }
}
