//! The firm's totals in the reporting currency (`[engine]
//! reporting_currency`), as one shard's part of them.
//!
//! The firm consolidates the books: each book's base-currency figures
//! convert into the reporting currency the way a position's convert into
//! its base. Realized P&L, fees and income convert at the rate of the
//! moment they occur (added here as they happen); market value, unrealized
//! and currency P&L at the current rate. A book in the reporting currency
//! adds them as they are: their sums move with its totals
//! (`BookTotals::as_reported`), so the tick loop pays one add and no flush
//! visits the book for the firm. Any other book keeps its converted values
//! in its totals, and a flush moves the sums by differences. A book
//! whose base has no rate to the reporting currency is left out and its
//! listed positions counted in `unpriced`, until the first rate: what it
//! realized, paid and received so far, and its day baseline, convert at
//! that rate. Day P&L is net P&L less its value at the last EOD.
//!
//! Each shard sums its own books; the aggregator adds the shards' sums
//! (never re-summing positions), so the firm is exact and shard-independent.

use super::Book;
use crate::fx::Conversion;
use crate::ids::{BookId, CurrencyId};
use crate::num::{Notional, add, sub};
use crate::state::FirmState;

/// One shard's part of the firm's totals (exact, 10^-18, in the reporting
/// currency); parts add up to the firm's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FirmSums {
    /// Market value.
    pub market_value: i128,
    /// Unrealized P&L.
    pub unrealized: i128,
    /// Realized P&L, each at the rate of its moment.
    pub realized: i128,
    /// Fees, each at the rate of its moment.
    pub fees: i128,
    /// Dividend income, each at the rate of its moment.
    pub income: i128,
    /// The currency effect on the capital invested.
    pub fx: i128,
    /// Net P&L at the last EOD (the day-P&L baseline).
    pub baseline: i128,
    /// Positions left out (no rate to base, or their base none to the
    /// reporting currency).
    pub unpriced: i64,
}

impl FirmSums {
    /// Adds another part.
    pub fn add(&mut self, o: &Self) {
        self.market_value = add(self.market_value, o.market_value);
        self.unrealized = add(self.unrealized, o.unrealized);
        self.realized = add(self.realized, o.realized);
        self.fees = add(self.fees, o.fees);
        self.income = add(self.income, o.income);
        self.fx = add(self.fx, o.fx);
        self.baseline = add(self.baseline, o.baseline);
        self.unpriced += o.unpriced;
    }

    /// `realized + unrealized + income - fees`.
    #[must_use]
    pub fn net(&self) -> i128 {
        sub(add(add(self.realized, self.unrealized), self.income), self.fees)
    }

    /// As the engine reports them.
    #[must_use]
    pub fn state(&self, reporting_currency: CurrencyId, seq: u64) -> FirmState {
        let net = self.net();
        FirmState {
            reporting_currency,
            unpriced: self.unpriced,
            market_value: Notional(self.market_value),
            realized_pnl: Notional(self.realized),
            unrealized_pnl: Notional(self.unrealized),
            fees: Notional(self.fees),
            income: Notional(self.income),
            fx_pnl: Notional(self.fx),
            net_pnl: Notional(net),
            day_pnl: Notional(sub(net, self.baseline)),
            seq,
        }
    }
}

/// A base currency of this shard's books and its conversion to the
/// reporting currency.
#[derive(Clone, Debug)]
struct BaseRate {
    base: CurrencyId,
    conv: Option<Conversion>,
    /// Its books (none kept for the reporting currency itself: its
    /// conversion never changes).
    books: Vec<BookId>,
    /// The conversion moved since the last settlement.
    moved: bool,
}

/// The firm's part kept by one shard.
#[derive(Clone, Debug)]
pub(crate) struct Firm {
    pub(crate) reporting: CurrencyId,
    bases: Vec<BaseRate>,
    /// The accumulated amounts of every book and the settled values of
    /// the books in other currencies (those in the reporting currency are
    /// in `BookTotals::as_reported`).
    pub(crate) sums: FirmSums,
    /// What the last flush reported.
    pub(crate) sent: FirmSums,
}

impl Default for Firm {
    fn default() -> Self {
        Self::new(CurrencyId::USD)
    }
}

impl Firm {
    /// No books yet, reporting in `reporting`.
    pub(crate) fn new(reporting: CurrencyId) -> Self {
        Self {
            reporting,
            bases: Vec::new(),
            sums: FirmSums::default(),
            sent: FirmSums::default(),
        }
    }

    /// The current conversion of `base` to the reporting currency.
    fn conv(&self, base: CurrencyId) -> Option<Conversion> {
        if base == self.reporting {
            return Some(Conversion::IDENTITY);
        }
        self.bases.iter().find(|b| b.base == base).and_then(|b| b.conv)
    }
}

impl Book {
    /// Reports the firm in `reporting` (default USD).
    #[must_use]
    pub fn reporting_in(mut self, reporting: CurrencyId) -> Self {
        self.firm = Firm::new(reporting);
        self.totals.reporting = reporting;
        self
    }

    /// Enters a book new to this shard into the firm: in its sums at once
    /// when its base has a rate to the reporting currency.
    pub(crate) fn firm_join(&mut self, book: BookId, base: CurrencyId) {
        if base != self.firm.reporting && !self.firm.bases.iter().any(|b| b.base == base) {
            let conv = self.fx.conversion(base, self.firm.reporting);
            self.firm.bases.push(BaseRate {
                base,
                conv,
                books: Vec::new(),
                moved: false,
            });
        }
        if let Some(b) = self.firm.bases.iter_mut().find(|b| b.base == base) {
            b.books.push(book);
        }
        let in_firm = self.firm.conv(base).is_some();
        self.totals.of(book).in_firm = in_firm;
    }

    /// Adds realized P&L, fees and income (base) to `book`'s totals and,
    /// converted at the rate of this moment, to the firm's.
    pub(crate) fn book_flow(&mut self, book: BookId, realized: i128, fees: i128, income: i128) {
        let t = self.totals.of(book);
        t.realized = add(t.realized, realized);
        t.fees = add(t.fees, fees);
        t.income = add(t.income, income);
        t.day = add(t.day, sub(add(realized, income), fees));
        let (in_firm, base) = (t.in_firm, t.base);
        if !in_firm {
            return;
        }
        let Some(c) = self.firm.conv(base) else {
            return;
        };
        let s = &mut self.firm.sums;
        s.realized = add(s.realized, c.apply(realized));
        s.fees = add(s.fees, c.apply(fees));
        s.income = add(s.income, c.apply(income));
    }

    /// Follows an FX op: a base's conversion to the reporting currency
    /// that changed is settled at the next flush; one that appears for the
    /// first time prices its books now (their realized P&L, fees, income
    /// and day baseline so far convert at this first rate).
    pub(crate) fn firm_rates(&mut self) {
        for i in 0..self.firm.bases.len() {
            let base = self.firm.bases[i].base;
            let conv = self.fx.conversion(base, self.firm.reporting);
            let entry = &mut self.firm.bases[i];
            if conv == entry.conv {
                continue;
            }
            let first = entry.conv.is_none();
            (entry.conv, entry.moved) = (conv, true);
            if let (true, Some(c)) = (first, conv) {
                for k in 0..self.firm.bases[i].books.len() {
                    let book = self.firm.bases[i].books[k];
                    self.firm_price(book, c);
                }
            }
        }
    }

    /// Enters an unpriced book into the firm at its first rate.
    fn firm_price(&mut self, book: BookId, c: Conversion) {
        let t = self.totals.of(book);
        t.in_firm = true;
        let net = sub(add(add(t.realized, t.unrealized), t.income), t.fees);
        let baseline = sub(net, t.day);
        let (r, f, inc) = (t.realized, t.fees, t.income);
        let s = &mut self.firm.sums;
        s.realized = add(s.realized, c.apply(r));
        s.fees = add(s.fees, c.apply(f));
        s.income = add(s.income, c.apply(inc));
        s.baseline = add(s.baseline, c.apply(baseline));
    }

    /// Moves the firm's sums to the current values of every changed book
    /// and of every book whose base's rate moved (a flush, which then
    /// forgets the changed books: `drain`; an EOD settles without).
    pub(crate) fn settle_firm(&mut self, drain: bool) {
        for i in 0..self.firm.bases.len() {
            if !self.firm.bases[i].moved {
                continue;
            }
            self.firm.bases[i].moved = false;
            for k in 0..self.firm.bases[i].books.len() {
                let book = self.firm.bases[i].books[k];
                self.settle_book(book);
            }
        }
        for k in 0..self.totals.dirty_converted.len() {
            let book = self.totals.dirty_converted[k];
            self.settle_book(book);
        }
        if drain {
            self.totals.clear_converted();
        }
    }

    /// Moves the firm's sums from what they include of `book` to its
    /// current values at the current rate.
    fn settle_book(&mut self, book: BookId) {
        let t = &self.totals.by_book[book.index()];
        if t.as_reported {
            return;
        }
        let conv = if t.in_firm { self.firm.conv(t.base) } else { None };
        let (mv, unreal, fx, unpriced) = match conv {
            Some(c) => (
                c.apply(t.market_value),
                c.apply(t.unrealized),
                c.apply(t.fx),
                t.unpriced,
            ),
            None => (0, 0, 0, i64::from(t.listed)),
        };
        let (d_mv, d_unreal, d_fx) = (
            sub(mv, t.firm_mv),
            sub(unreal, t.firm_unrealized),
            sub(fx, t.firm_fx),
        );
        let d_unpriced = unpriced - i64::from(t.firm_unpriced);
        if d_mv == 0 && d_unreal == 0 && d_fx == 0 && d_unpriced == 0 {
            return;
        }
        let t = &mut self.totals.by_book[book.index()];
        (t.firm_mv, t.firm_unrealized, t.firm_fx) = (mv, unreal, fx);
        t.firm_unpriced = i32::try_from(unpriced).unwrap_or_else(|_| crate::num::out_of_bounds());
        let s = &mut self.firm.sums;
        s.market_value = add(s.market_value, d_mv);
        s.unrealized = add(s.unrealized, d_unreal);
        s.fx = add(s.fx, d_fx);
        s.unpriced += d_unpriced;
    }

    /// At an EOD (after the positions' baselines moved): the firm's day
    /// P&L starts again from its net P&L now.
    pub(crate) fn firm_eod(&mut self) {
        self.settle_firm(false);
        self.firm.sums.baseline = self.firm_sums().net();
    }

    /// After a restore (the books joined the firm as their positions were
    /// restored, their totals set after): every book's in-firm flag from
    /// the restored rates,
    /// and the sums of what the books hold now; `flows` (the realized P&L,
    /// fees, income and baseline the firm accumulated, kept by one shard,
    /// zero in the others) set, or, without them (a snapshot from before
    /// books, or of another reporting currency), the books' amounts so far
    /// converted at the restored rates.
    pub(crate) fn firm_restore(&mut self, flows: Option<FirmSums>) {
        for i in 0..self.totals.by_book.len() {
            let t = &self.totals.by_book[i];
            if !t.known {
                continue;
            }
            let book = BookId::from_index(i);
            let conv = self.firm.conv(t.base);
            if t.base == self.firm.reporting {
                let (mv, unreal, fx, unpriced) = (t.market_value, t.unrealized, t.fx, t.unpriced);
                let r = &mut self.totals.as_reported;
                r.market_value = add(r.market_value, mv);
                r.unrealized = add(r.unrealized, unreal);
                r.fx = add(r.fx, fx);
                r.unpriced += unpriced;
                let t = &mut self.totals.by_book[i];
                (t.as_reported, t.in_firm) = (true, true);
                if flows.is_none() {
                    self.firm_price(book, Conversion::IDENTITY);
                }
                continue;
            }
            self.totals.by_book[i].in_firm = false;
            if let Some(c) = conv {
                if flows.is_some() {
                    self.totals.by_book[i].in_firm = true;
                } else {
                    self.firm_price(book, c);
                }
            }
            self.settle_book(book);
        }
        if let Some(f) = flows {
            let s = &mut self.firm.sums;
            (s.realized, s.fees, s.income, s.baseline) = (f.realized, f.fees, f.income, f.baseline);
        }
    }

    /// This shard's part of the firm now, every change settled (what a
    /// cut reports).
    pub fn settled_firm(&mut self) -> FirmSums {
        self.settle_firm(true);
        self.firm_sums()
    }

    /// This shard's part of the firm (settled at the last flush).
    #[must_use]
    pub fn firm_sums(&self) -> FirmSums {
        let r = &self.totals.as_reported;
        let s = &self.firm.sums;
        FirmSums {
            market_value: add(s.market_value, r.market_value),
            unrealized: add(s.unrealized, r.unrealized),
            fx: add(s.fx, r.fx),
            unpriced: s.unpriced + r.unpriced,
            ..*s
        }
    }

    /// This shard's part of the firm when it changed since the last call
    /// (what a flush reports).
    pub(crate) fn firm_change(&mut self) -> Option<FirmSums> {
        let now = self.firm_sums();
        (now != self.firm.sent).then(|| {
            self.firm.sent = now;
            now
        })
    }
}
