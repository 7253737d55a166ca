//! Range checks the sequencer makes before it accepts an event, so that no
//! shard or the aggregator can overflow later. Refusing here, before the
//! journal, keeps the books a pure function of the journal.
//!
//! Two kinds of bound are kept:
//! - a position's quantity must stay within what a `Quantity` holds
//!   (≈ 9.2 × 10^9 units), and a split must keep every quantity and the mark
//!   in range;
//! - one firm-wide bound `T` of every money figure (docs/architecture.md,
//!   Numbers: Ranges): `T = Σ_currency (E_c + R_c) × F_c`, where
//!   - `E_c = Σ_{instruments in c} (Σ|qty| × peak × k + slack) × multiplier`
//!     bounds Σ|market value|, Σ|cost basis| and Σ|unrealized| (`peak` is
//!     the largest |price| the instrument was ever traded or marked at,
//!     scaled by splits; `k` is 2 once a negative price was seen, else 1;
//!     `slack` covers the rounding of split lots);
//!   - `R_c` accumulates, per trade, `closed × peak × k × multiplier + |fee|`:
//!     a bound of what realized P&L and fees can ever add up to;
//!   - `F_c ≥ 1` is the largest conversion factor from `c` into any base it
//!     is held in, ever (realized amounts convert at the rate of their time).
//!
//!   Every position figure (instrument currency or base), every account total,
//!   net P&L, and every partial sum of them is at most `T` in absolute value;
//!   a day P&L (net − baseline) at most `2T`, and every change the shards send
//!   at most `4T`. So `T ≤ RANGE = i128::MAX / 4` (≈ 4.25 × 10^19 units at
//!   10^-18) proves every i128 of the shards and the aggregator safe.
//!
//! `T` is kept exactly, in 256-bit integers at 10^-36 (quantity × price ×
//! multiplier × factor, each at 10^-9), and moved by each event in O(1): a
//! tick below the instrument's peak costs one comparison.

mod overlay;
mod restore;
mod step;

pub(crate) use overlay::Overlay;

use ethnum::U256;
use rustc_hash::FxHashSet;

use crate::book_index::BookIndex;
use crate::fx::FxRates;
use crate::ids::{BookId, CurrencyId, InstrumentId};
use crate::lean::grow_to;
use crate::num::{Multiplier, Rate, UNIT, out_of_bounds, split_qty};
use crate::op::Op;

/// The largest absolute value (raw, at 10^-18) the firm-wide bound may
/// reach: a quarter of `i128`, ≈ 4.25 × 10^19 units of money.
pub const RANGE: i128 = i128::MAX / 4;

/// What the range checks know of one instrument.
#[derive(Clone, Copy, Debug)]
pub(crate) struct InstLimit {
    /// Sum of |qty| over the positions held (bounds each of them).
    pub(crate) abs_sum: i128,
    pub(crate) mark: i64,
    pub(crate) has_tick: bool,
    pub(crate) currency: CurrencyId,
    /// The multiplier, raw at 10^-9.
    pub(crate) mult: i64,
    /// Largest |price| ever traded or marked (split-adjusted, rounded up).
    pub(crate) peak: u128,
    /// A negative price was seen: unrealized may reach |mv| + |cost|.
    pub(crate) negative: bool,
    /// Trades so far (bounds the number of lots).
    pub(crate) lots: u64,
    /// Cost (10^-18) beyond `abs_sum × peak` that split rounding may leave.
    pub(crate) slack: U256,
    /// The base currency of the last trade (skips the group lookup).
    pub(crate) last_base: Option<CurrencyId>,
}

impl Default for InstLimit {
    fn default() -> Self {
        Self {
            abs_sum: 0,
            mark: 0,
            has_tick: false,
            currency: CurrencyId::USD,
            mult: UNIT,
            peak: 0,
            negative: false,
            lots: 0,
            slack: U256::ZERO,
            last_base: None,
        }
    }
}

impl InstLimit {
    const fn k(&self) -> u128 {
        if self.negative { 2 } else { 1 }
    }

    /// `(Σ|qty| × peak × k + slack) × multiplier`, at 10^-27.
    pub(crate) fn exposure(&self) -> U256 {
        let held = U256::from(self.abs_sum.unsigned_abs())
            .saturating_mul(U256::from(self.peak))
            .saturating_mul(U256::from(self.k()));
        held.saturating_add(self.slack)
            .saturating_mul(U256::from(self.mult.unsigned_abs()))
    }
}

/// What the range checks know of one instrument currency.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CurLimit {
    /// Σ of its instruments' exposures, at 10^-27.
    pub(crate) exposure: U256,
    /// Cumulative bound of realized P&L and fees, at 10^-27.
    pub(crate) flows: U256,
    /// Largest conversion factor into a base it is held in (10^-9, ≥ 1).
    pub(crate) factor: U256,
}

impl CurLimit {
    /// `(exposure + flows) × max(factor, 1)` at 10^-36; `None` beyond 256 bits.
    pub(crate) fn term(&self) -> Option<U256> {
        self.exposure
            .checked_add(self.flows)?
            .checked_mul(self.factor.max(U256::from(UNIT.unsigned_abs())))
    }
}

/// Read and write access to the checks' state: [`Limits`] itself, or an
/// [`Overlay`] that checks a batch without changing it.
pub(crate) trait Table {
    fn held(&self, key: (BookId, InstrumentId)) -> i128;
    fn set_held(&mut self, key: (BookId, InstrumentId), qty: i128);
    fn inst(&self, i: InstrumentId) -> InstLimit;
    fn set_inst(&mut self, i: InstrumentId, l: InstLimit);
    fn cur(&self, c: CurrencyId) -> CurLimit;
    fn set_cur(&mut self, c: CurrencyId, l: CurLimit);
    fn has_group(&self, g: (CurrencyId, CurrencyId)) -> bool;
    fn add_group(&mut self, g: (CurrencyId, CurrencyId));
    fn groups(&self) -> Vec<(CurrencyId, CurrencyId)>;
    fn fx(&self) -> &FxRates;
    fn fx_mut(&mut self) -> &mut FxRates;
    fn total(&self) -> U256;
    fn set_total(&mut self, t: U256);
    /// Scales every held quantity of `i` by a split and returns the new Σ|qty|.
    fn split_held(&mut self, i: InstrumentId, ratio: Rate) -> i128;

    /// The hot path of a tick: when `price` is within the instrument's peak
    /// (and not a first negative), records it as the mark and returns true
    /// (no bound moves); otherwise changes nothing and returns false.
    fn mark_within_peak(&mut self, i: InstrumentId, price: i64) -> bool {
        let mut l = self.inst(i);
        if !within_peak(&l, price) {
            return false;
        }
        (l.mark, l.has_tick) = (price, true);
        self.set_inst(i, l);
        true
    }
}

/// True when a mark at `price` moves none of `l`'s bounds.
fn within_peak(l: &InstLimit, price: i64) -> bool {
    u128::from(price.unsigned_abs()) <= l.peak && (price >= 0 || l.negative)
}

/// A position's quantity (raw, an `i64`) as the range checks keep it: in
/// two `u32` halves, so an index entry (instrument, quantity) is 12 bytes
/// with 4-byte alignment, not 16.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Held([u32; 2]);

impl Held {
    pub(crate) const fn new(qty: i64) -> Self {
        let b = qty.to_le_bytes();
        Self([
            u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        ])
    }

    pub(crate) const fn get(self) -> i64 {
        let (lo, hi) = (self.0[0].to_le_bytes(), self.0[1].to_le_bytes());
        i64::from_le_bytes([lo[0], lo[1], lo[2], lo[3], hi[0], hi[1], hi[2], hi[3]])
    }
}

/// What the range checks remember.
#[derive(Clone, Debug, Default)]
pub(crate) struct Limits {
    /// Each position's quantity, raw: within a `Quantity`, since a trade or
    /// split that would leave it is refused.
    held: BookIndex<Held>,
    inst: Vec<InstLimit>,
    cur: Vec<CurLimit>,
    groups: FxHashSet<(CurrencyId, CurrencyId)>,
    fx: FxRates,
    total: U256,
}

impl Limits {
    /// Refuses an op whose effects could leave a representable range; on
    /// success the op is recorded. The error is the reason, without the event.
    pub(crate) fn accept(&mut self, op: &Op) -> Result<(), String> {
        step::step(self, op, true)
    }

    /// Records an op accepted before (a journal replay): never refuses.
    pub(crate) fn apply(&mut self, op: &Op) {
        let _ = step::step(self, op, false);
    }

    /// The firm-wide bound, in units of money (rounded up), for diagnostics.
    #[cfg(test)]
    pub(crate) fn bound_units(&self) -> U256 {
        step::units(self.total)
    }
}

impl Table for Limits {
    fn held(&self, key: (BookId, InstrumentId)) -> i128 {
        self.held.get(key.0, key.1).map_or(0, |h| i128::from(h.get()))
    }

    fn set_held(&mut self, key: (BookId, InstrumentId), qty: i128) {
        self.held.set(
            key.0,
            key.1,
            Held::new(i64::try_from(qty).unwrap_or_else(|_| out_of_bounds())),
        );
    }

    fn inst(&self, i: InstrumentId) -> InstLimit {
        self.inst.get(i.index()).copied().unwrap_or_default()
    }

    fn set_inst(&mut self, i: InstrumentId, l: InstLimit) {
        if self.inst.len() <= i.index() {
            grow_to(&mut self.inst, i.index() + 1, InstLimit::default);
        }
        self.inst[i.index()] = l;
    }

    fn mark_within_peak(&mut self, i: InstrumentId, price: i64) -> bool {
        match self.inst.get_mut(i.index()) {
            Some(l) if within_peak(l, price) => {
                (l.mark, l.has_tick) = (price, true);
                true
            }
            _ => false,
        }
    }

    fn cur(&self, c: CurrencyId) -> CurLimit {
        self.cur.get(c.index()).copied().unwrap_or_default()
    }

    fn set_cur(&mut self, c: CurrencyId, l: CurLimit) {
        if self.cur.len() <= c.index() {
            self.cur.resize(c.index() + 1, CurLimit::default());
        }
        self.cur[c.index()] = l;
    }

    fn has_group(&self, g: (CurrencyId, CurrencyId)) -> bool {
        self.groups.contains(&g)
    }

    fn add_group(&mut self, g: (CurrencyId, CurrencyId)) {
        self.groups.insert(g);
    }

    fn groups(&self) -> Vec<(CurrencyId, CurrencyId)> {
        self.groups.iter().copied().collect()
    }

    fn fx(&self) -> &FxRates {
        &self.fx
    }

    fn fx_mut(&mut self) -> &mut FxRates {
        &mut self.fx
    }

    fn total(&self) -> U256 {
        self.total
    }

    fn set_total(&mut self, t: U256) {
        self.total = t;
    }

    fn split_held(&mut self, i: InstrumentId, ratio: Rate) -> i128 {
        let mut sum = 0i128;
        for (_, q) in self.held.of_instrument_mut(i) {
            let split = split_qty(i128::from(q.get()), ratio);
            *q = Held::new(i64::try_from(split).unwrap_or_else(|_| out_of_bounds()));
            sum = sum.saturating_add(split.abs());
        }
        sum
    }
}

/// The multiplier of an instrument event, raw.
pub(crate) const fn mult_raw(m: Multiplier) -> i64 {
    m.rate().raw()
}

#[cfg(test)]
mod tests;
