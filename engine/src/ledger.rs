//! The lot ledger of one position and the cost methods that read it.
//!
//! A position is a signed quantity and an exact cost basis (`Σ qty × price` at
//! the exact scale, signed like the quantity, before the multiplier). `avg`
//! keeps the basis as one pooled lot; `fifo`, `lifo` and `hifo` keep every
//! open lot and consume the oldest, the newest or the dearest (highest cost
//! per unit, the oldest among equals) first. A trade is a pure function of
//! (ledger, signed qty, price) that returns what it realized.
//!
//! ```
//! use kupala_engine::ledger::{Ledger, Method};
//! use kupala_engine::num::{Price, Quantity};
//! let q = |n| Quantity::from_int(n);
//! let p = |n| Price::from_int(n);
//! let mut l = Ledger::default();
//! l.trade(Method::Avg, q(100), p(10));                  // open long 100 @ 10
//! l.trade(Method::Avg, q(50), p(13));                   // add: avg 11
//! let r = l.trade(Method::Avg, q(-200), p(12));         // flip to short 50 @ 12
//! assert_eq!(r.0, 150 * 1_000_000_000_000_000_000);     // (12 - 11) × 150
//! assert_eq!(l.qty(), q(-50));
//! assert_eq!(l.avg_cost(), p(12));
//! ```

use std::collections::VecDeque;

use ethnum::I256;

use crate::num::{Notional, Price, Quantity, Rate, div_round, mul_div_round, out_of_bounds, split_qty};

#[path = "ledger_method.rs"]
mod method;
pub use method::{CostMethods, Method};

/// One open lot: a signed quantity, its exact signed cost, and that cost
/// in the account's base currency at the rate it was opened at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Lot {
    /// Signed quantity, raw at 10^-9.
    pub qty: i64,
    /// Signed `qty × price`, raw at 10^-18.
    pub cost: i128,
    /// The cost times the multiplier in base currency, at the rate of the
    /// trade that opened it (0 for a position in its base currency, whose
    /// base cost is its cost).
    pub cost_base: i128,
    /// The journal seq of the trade that opened it: the lot's name for a
    /// closing trade's `close_lots` (0 when unknown: a lot restored from
    /// a snapshot written before lots were named).
    pub opened: u64,
}

/// What a fill needs beyond its quantity and price: the seq of the trade
/// (the name of the lot it opens) and the lots it closes first, by the seqs
/// that opened them, in order (`close_lots`). A pick naming no open lot is
/// passed over: the sequencer refuses such a trade live, so only a what-if
/// replay under another method meets one.
#[derive(Clone, Copy, Debug, Default)]
pub struct Order<'a> {
    /// The seq of the trade.
    pub seq: u64,
    /// Lots to close first, by opening seq.
    pub picks: &'a [u64],
}

/// What a fill closed: the realized P&L, and what the FX attribution of a
/// position in another currency than its account's base needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fill {
    /// Realized P&L at the exact scale, before the multiplier:
    /// `closed_value − closed cost`.
    pub realized: Notional,
    /// The closed quantity valued at the fill price (signed like the
    /// position it closed), before the multiplier.
    pub closed_value: i128,
    /// The base cost the close removed.
    pub closed_base: i128,
}

/// A ledger as its parts, as a book keeps them: quantity and cost in the
/// hot record, the base cost and the lots in the cold one.
#[derive(Debug, Default)]
pub struct LedgerParts {
    /// Signed open quantity, raw.
    pub qty: i64,
    /// Exact signed cost, before the multiplier.
    pub cost: i128,
    /// The open cost in base currency (see [`Lot::cost_base`]).
    pub cost_base: i128,
    /// The open lots.
    pub lots: Lots,
}

/// The open lots of a position under a lot method, kept out of line: an `avg`
/// position (whose one pooled lot is the ledger's quantity and cost) pays
/// one pointer for them, and a book's cold record stays small.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(
    clippy::box_collection,
    reason = "the box is the point: 8 bytes per position, not 32"
)]
pub struct Lots(Option<Box<VecDeque<Lot>>>);

impl Lots {
    /// The lots, oldest first.
    pub fn iter(&self) -> impl Iterator<Item = &Lot> {
        self.0.iter().flat_map(|d| d.iter())
    }

    /// Whether no lot is open.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|d| d.is_empty())
    }

    /// The lots for a change, allocated on first use.
    fn deque(&mut self) -> &mut VecDeque<Lot> {
        self.0.get_or_insert_with(Box::default)
    }
}

impl From<VecDeque<Lot>> for Lots {
    fn from(d: VecDeque<Lot>) -> Self {
        Self((!d.is_empty()).then(|| Box::new(d)))
    }
}

/// A position's open quantity and cost basis, with its lots under a lot
/// method (fifo, lifo, hifo).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ledger {
    qty: i64,
    cost: i128,
    cost_base: i128,
    lots: Lots,
}

impl Ledger {
    /// A ledger from its parts (a restored snapshot); the lots must sum
    /// to the quantity, cost and base cost under a lot method and be empty
    /// under avg.
    #[must_use]
    pub fn from_parts(parts: LedgerParts) -> Self {
        Self {
            qty: parts.qty,
            cost: parts.cost,
            cost_base: parts.cost_base,
            lots: parts.lots,
        }
    }

    /// The ledger as its parts.
    #[must_use]
    pub fn into_parts(self) -> LedgerParts {
        LedgerParts {
            qty: self.qty,
            cost: self.cost,
            cost_base: self.cost_base,
            lots: self.lots,
        }
    }

    /// The open cost in base currency, at the rates the lots were opened
    /// at (0 while the trades carried no conversion).
    #[must_use]
    pub const fn cost_base(&self) -> i128 {
        self.cost_base
    }

    /// The signed open quantity.
    #[must_use]
    pub const fn qty(&self) -> Quantity {
        Quantity::from_raw(self.qty)
    }

    /// The exact signed cost basis of the open quantity (before multiplier).
    #[must_use]
    pub const fn cost(&self) -> Notional {
        Notional(self.cost)
    }

    /// The open lots, oldest first (empty under `avg`, which pools them).
    pub fn lots(&self) -> impl Iterator<Item = &Lot> {
        self.lots.iter()
    }

    /// Average cost per unit of the open quantity (0 when flat).
    #[must_use]
    pub fn avg_cost(&self) -> Price {
        avg_cost(self.qty, self.cost)
    }

    /// Applies a fill of signed `qty` (buy > 0) at `price` and returns the
    /// realized P&L at the exact scale, before the multiplier.
    ///
    /// Reducing realizes against the method's cost; crossing zero realizes the
    /// whole old position and opens the remainder at `price`.
    pub fn trade(&mut self, method: Method, qty: Quantity, price: Price) -> Notional {
        self.fill(method, Order::default(), qty, price, &|_| 0).realized
    }

    /// [`Ledger::trade`], keeping the base cost and the lots' names: what
    /// it opens costs `to_base(cost)` in base currency (the cost times the
    /// multiplier at the rate of the moment) and is named `order.seq`, and
    /// what it closes (`order.picks` first, then in method order) removes
    /// its share.
    pub fn fill(
        &mut self,
        method: Method,
        order: Order<'_>,
        qty: Quantity,
        price: Price,
        to_base: &dyn Fn(i128) -> i128,
    ) -> Fill {
        self.fill_noting(method, order, qty, price, to_base, None)
    }

    /// [`Ledger::fill`], adding to `closed` the opening seq of every lot
    /// it closes whole (the sequencer's shadow forgets their names).
    pub fn fill_noting(
        &mut self,
        method: Method,
        order: Order<'_>,
        qty: Quantity,
        price: Price,
        to_base: &dyn Fn(i128) -> i128,
        noted: Option<&mut Vec<u64>>,
    ) -> Fill {
        let t = qty.raw();
        let mut fill = Fill::default();
        let mut open = t;
        if self.qty != 0 && (self.qty > 0) != (t > 0) {
            let closed = t.unsigned_abs().min(self.qty.unsigned_abs());
            // At most |self.qty|, an i64.
            let closed = i64::try_from(closed).unwrap_or_else(|_| out_of_bounds());
            let (removed, removed_base) = match method {
                Method::Avg => (
                    take_share(self.cost, closed, self.qty.abs()),
                    take_share(self.cost_base, closed, self.qty.abs()),
                ),
                Method::Fifo | Method::Lifo | Method::Hifo => {
                    self.consume(method, order.picks, closed, noted)
                }
            };
            let sign = self.qty.signum();
            fill.closed_value = i128::from(sign * closed) * i128::from(price.raw());
            fill.realized = Notional(fill.closed_value - removed);
            fill.closed_base = removed_base;
            self.qty -= sign * closed;
            self.cost -= removed;
            self.cost_base -= removed_base;
            open = t + sign * closed;
        }
        if open != 0 {
            let cost = i128::from(open) * i128::from(price.raw());
            let cost_base = to_base(cost);
            self.qty += open;
            self.cost += cost;
            self.cost_base += cost_base;
            if method.keeps_lots() {
                self.lots.deque().push_back(Lot {
                    qty: open,
                    cost,
                    cost_base,
                    opened: order.seq,
                });
            }
        }
        fill
    }

    /// Sets every base cost from `to_base` (a position priced at its first
    /// rate: what it opened before converts at that rate).
    pub fn rebase(&mut self, to_base: &dyn Fn(i128) -> i128) {
        if self.lots.is_empty() {
            self.cost_base = to_base(self.cost);
            return;
        }
        let lots = self.lots.deque();
        for lot in lots.iter_mut() {
            lot.cost_base = to_base(lot.cost);
        }
        self.cost_base = lots.iter().map(|l| l.cost_base).sum();
    }

    /// Whether a lot opened by the trade at `seq` is open.
    #[must_use]
    pub fn has_lot(&self, seq: u64) -> bool {
        self.lots.0.as_ref().is_some_and(|d| find_lot(d, seq).is_some())
    }

    /// Removes `closed` units (unsigned) from the lots, those `picks` names
    /// first and then in method order, and returns their exact cost and
    /// base cost; the opening seq of each lot closed whole goes to `noted`.
    fn consume(
        &mut self,
        method: Method,
        picks: &[u64],
        mut closed: i64,
        mut noted: Option<&mut Vec<u64>>,
    ) -> (i128, i128) {
        let (mut removed, mut removed_base) = (0i128, 0i128);
        let lots = self.lots.deque();
        let mut picks = picks.iter();
        while closed > 0 {
            let picked = picks.by_ref().find_map(|&seq| find_lot(lots, seq));
            let at = picked.or_else(|| match method {
                Method::Lifo => lots.len().checked_sub(1),
                Method::Hifo => dearest(lots),
                Method::Avg | Method::Fifo => (!lots.is_empty()).then_some(0),
            });
            let Some(at) = at else { break };
            let lot = &mut lots[at];
            let size = lot.qty.abs();
            let take = closed.min(size);
            let cost = take_share(lot.cost, take, size);
            let cost_base = take_share(lot.cost_base, take, size);
            lot.qty -= lot.qty.signum() * take;
            lot.cost -= cost;
            lot.cost_base -= cost_base;
            removed += cost;
            removed_base += cost_base;
            closed -= take;
            if lot.qty == 0 {
                if let Some(n) = noted.as_deref_mut() {
                    n.push(lot.opened);
                }
                lots.remove(at);
            }
        }
        (removed, removed_base)
    }

    /// Applies a split of `ratio` new units per old unit: quantities scale,
    /// costs stay, so the cost per unit divides by the ratio.
    pub fn split(&mut self, ratio: Rate) {
        // The range checks refuse a split that takes a quantity out of range.
        let scale =
            |q: i64| i64::try_from(split_qty(i128::from(q), ratio)).unwrap_or_else(|_| out_of_bounds());
        if self.lots.is_empty() {
            self.qty = scale(self.qty);
        } else {
            let lots = self.lots.deque();
            for lot in lots.iter_mut() {
                lot.qty = scale(lot.qty);
            }
            lots.retain(|l| l.qty != 0);
            self.qty = lots.iter().map(|l| l.qty).sum();
            self.cost = lots.iter().map(|l| l.cost).sum();
            self.cost_base = lots.iter().map(|l| l.cost_base).sum();
        }
        if self.qty == 0 {
            (self.cost, self.cost_base) = (0, 0);
        }
    }
}

/// Average cost per unit of a signed quantity `qty` (raw) with exact cost
/// `cost` (0 when flat).
#[must_use]
pub fn avg_cost(qty: i64, cost: i128) -> Price {
    if qty == 0 {
        return Price::ZERO;
    }
    Price::from_raw(i64::try_from(div_round(cost, i128::from(qty))).unwrap_or_else(|_| out_of_bounds()))
}

/// The index of the lot with the highest cost per unit, the oldest among
/// equal ones (`None` when there is none). `a.cost / a.qty > b.cost / b.qty`
/// is `a.cost × b.qty > b.cost × a.qty` when the quantities share a sign (as
/// the lots of one position do) and the reverse otherwise, compared exactly
/// in 256 bits.
fn dearest(lots: &VecDeque<Lot>) -> Option<usize> {
    let mut best: Option<(usize, &Lot)> = None;
    for (i, lot) in lots.iter().enumerate() {
        let dearer = best.is_none_or(|(_, b)| {
            let lhs = I256::from(lot.cost) * I256::from(b.qty);
            let rhs = I256::from(b.cost) * I256::from(lot.qty);
            if (lot.qty > 0) == (b.qty > 0) {
                lhs > rhs
            } else {
                lhs < rhs
            }
        });
        if dearer {
            best = Some((i, lot));
        }
    }
    best.map(|(i, _)| i)
}

/// The index of the open lot opened at `seq` (> 0). Lots are kept in the
/// order they opened, so their opening seqs increase (0, a lot restored
/// from a snapshot written before lots were named, only comes first) and a
/// binary search finds it.
fn find_lot(lots: &VecDeque<Lot>, seq: u64) -> Option<usize> {
    if seq == 0 {
        return None;
    }
    lots.binary_search_by_key(&seq, |l| l.opened).ok()
}

/// The share `part / whole` of `cost`, exact when the part is the whole.
fn take_share(cost: i128, part: i64, whole: i64) -> i128 {
    if part == whole {
        cost
    } else {
        mul_div_round(cost, i128::from(part), i128::from(whole))
    }
}

#[cfg(test)]
#[path = "ledger_tests.rs"]
mod tests;
