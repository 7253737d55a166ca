//! A shard's totals per book: what every change of a position moves in
//! place (a tick its first cache line), an account's totals being the sum
//! of its books' (`links`), and the running sums of the books in the
//! firm's reporting currency (`firm`).

use super::holders::Valuation;
use crate::ids::{AccountId, BookId, CurrencyId};
use crate::num::{Notional, add, sub};
use crate::state::PortfolioState;

/// One book's totals in its account's base currency, kept by the shard
/// that owns the account (accounts are partitioned over shards) and moved
/// in place by every change: nothing is re-summed and nothing is shipped
/// to be added elsewhere. The last fields are what the book adds to the
/// firm's totals (`book/firm.rs`).
#[derive(Clone, Copy, Debug, Default)]
#[repr(C, align(64))]
pub(crate) struct Totals {
    // The first cache line holds what a tick moves and what its flush
    // writes.
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
    /// The last flush's seq that changed them (in the tick's line: the
    /// flush that follows a tick writes it for every book the tick moved).
    pub(crate) seq: u64,
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
    /// Positions with no rate to base (left out of the sums).
    pub(crate) unpriced: i64,
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
    std::mem::offset_of!(Totals, seq) + 8 <= 64,
    "what a tick and its flush move fits one cache line"
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
    /// `dirty`): the ones a flush settles for the firm, each once.
    pub(crate) dirty_converted: Vec<BookId>,
    /// Which books `dirty_converted` lists, by book (a byte each, so the
    /// check stays off the totals' cache lines).
    pub(crate) converted_listed: Vec<bool>,
    /// The firm's reporting currency.
    pub(crate) reporting: CurrencyId,
    /// The sums over the books in the reporting currency, moved with them.
    pub(crate) as_reported: ReportedSums,
}

/// A tick loop's change of the books in the reporting currency, summed
/// locally.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct ReportedMove {
    pub(crate) market_value: i128,
    pub(crate) unrealized: i128,
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
        if self.converted_listed.len() <= i {
            self.converted_listed.resize(i + 1, false);
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
            if !t.as_reported && !self.converted_listed[book.index()] {
                self.converted_listed[book.index()] = true;
                self.dirty_converted.push(book);
            }
        }
        t
    }

    /// Forgets the changed books settled for the firm.
    pub(crate) fn clear_converted(&mut self) {
        for &b in &self.dirty_converted {
            self.converted_listed[b.index()] = false;
        }
        self.dirty_converted.clear();
    }

    /// Adds a repricing's change of market value and unrealized P&L (which
    /// moves day P&L by the same amount), and the move of the books in the
    /// reporting currency to `moved` (a tick loop's local sum, applied once
    /// after the loop: no memory round trip per holder).
    #[inline(always)]
    pub(crate) fn revalue_into(
        &mut self,
        book: BookId,
        d_mv: i128,
        d_unreal: i128,
        moved: &mut ReportedMove,
    ) {
        let t = self.of(book);
        t.market_value = add(t.market_value, d_mv);
        t.unrealized = add(t.unrealized, d_unreal);
        t.day = add(t.day, d_unreal);
        if t.as_reported {
            moved.market_value = add(moved.market_value, d_mv);
            moved.unrealized = add(moved.unrealized, d_unreal);
        }
    }

    /// Adds a tick loop's move of the books in the reporting currency.
    #[inline(always)]
    pub(crate) fn apply_reported(&mut self, moved: ReportedMove) {
        let s = &mut self.as_reported;
        s.market_value = add(s.market_value, moved.market_value);
        s.unrealized = add(s.unrealized, moved.unrealized);
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
        let mut moved = ReportedMove::default();
        self.shift_into(book, before, after, &mut moved);
        self.apply_reported(moved);
    }

    /// [`BookTotals::shift`] with the move of the books in the reporting
    /// currency added to `moved` (see [`BookTotals::revalue_into`]).
    #[inline(always)]
    pub(crate) fn shift_into(
        &mut self,
        book: BookId,
        before: Valuation,
        after: Valuation,
        moved: &mut ReportedMove,
    ) {
        let d_mv = sub(after.market_value, before.market_value);
        let d_unreal = sub(after.unrealized, before.unrealized);
        if d_mv != 0 || d_unreal != 0 {
            self.revalue_into(book, d_mv, d_unreal, moved);
        }
    }
}
