//! Rebuilding the range bounds from a snapshot: quantities and marks as
//! they are, each instrument's peak from its mark and its lots' cost per
//! unit, and what realized P&L, fees and income already reached (positions and
//! account totals, closed history included) as a fixed part of the bound.

use ethnum::U256;

use super::{Held, InstLimit, Limits, Table};
use crate::ids::{BookId, CurrencyId, InstrumentId};
use crate::image::{BookImage, PortfolioImage, Positions};
use crate::num::out_of_bounds;

/// `ceil(|cost| / |qty|)`: the largest price a lot's cost per unit reaches.
fn per_unit(cost: i128, qty: i64) -> u128 {
    let q = u128::from(qty.unsigned_abs().max(1));
    cost.unsigned_abs().div_ceil(q)
}

/// Raises `l`'s peak to a lot's cost per unit and notes a negative price.
/// The 128-bit division runs only when the cost can exceed `peak × |qty|`
/// (once the peak is known, rarely: a million positions restore without a
/// million divisions).
fn raise_to_unit_cost(l: &mut InstLimit, cost: i128, qty: i64) {
    let q = u128::from(qty.unsigned_abs().max(1));
    if l.peak
        .checked_mul(q)
        .is_none_or(|bound| cost.unsigned_abs() > bound)
    {
        l.peak = l.peak.max(per_unit(cost, qty));
    }
    l.negative |= cost != 0 && (cost < 0) != (qty < 0);
}

impl Limits {
    /// Rebuilds the limits from a snapshot's books (their positions read
    /// from `positions`, each also shown to `also`) and account totals.
    pub(crate) fn rebuild<P: Positions + ?Sized>(
        &mut self,
        books: &BookImage,
        positions: &P,
        portfolios: &[PortfolioImage],
        also: &mut dyn FnMut(&crate::image::PositionImage),
    ) -> Result<(), P::Error> {
        *self = Self::default();
        for i in &books.instruments {
            let id = InstrumentId(i.id);
            let mut l = self.inst(id);
            (l.mark, l.has_tick) = (i.mark, i.has_tick);
            (l.currency, l.mult) = (CurrencyId(i.currency), i.multiplier);
            l.peak = l.peak.max(u128::from(i.mark.unsigned_abs()));
            l.negative |= i.mark < 0;
            self.set_inst(id, l);
        }
        for f in &books.fx {
            self.fx.set(
                CurrencyId(f.base),
                CurrencyId(f.quote),
                crate::num::Rate::from_raw(f.rate),
            );
        }
        let unit = U256::from(crate::num::UNIT.unsigned_abs());
        // Base amounts already at 10^-18: lifted to the bound's 10^-36.
        let mut fixed = U256::ZERO;
        for p in portfolios {
            let v = p
                .realized_pnl
                .unsigned_abs()
                .saturating_add(p.fees.unsigned_abs())
                .saturating_add(p.income.unsigned_abs())
                .saturating_add(p.fx_pnl.unsigned_abs());
            fixed = fixed.saturating_add(U256::from(v));
        }
        positions.each(&mut |p| {
            also(p);
            let key = (BookId(p.book), InstrumentId(p.instrument));
            self.held.update(key.0, key.1, |held| {
                let qty = held
                    .map_or(0, Held::get)
                    .checked_add(p.qty)
                    .unwrap_or_else(|| out_of_bounds());
                Held::new(qty)
            });
            if self.inst.len() <= key.1.index() {
                self.set_inst(key.1, InstLimit::default());
            }
            let l = &mut self.inst[key.1.index()];
            l.abs_sum += i128::from(p.qty).abs();
            raise_to_unit_cost(l, p.cost, p.qty);
            for lot in &p.lots {
                raise_to_unit_cost(l, lot.cost, lot.qty);
            }
            l.lots += u64::try_from(p.lots.len().max(1)).unwrap_or(u64::MAX);
            let (currency, base) = (l.currency, CurrencyId(p.base));
            if l.last_base != Some(base) {
                l.last_base = Some(base);
                self.groups.insert((currency, base));
            }
            let own = p
                .realized
                .unsigned_abs()
                .saturating_add(p.fees.unsigned_abs())
                .saturating_add(p.income.unsigned_abs());
            if own != 0 {
                let mut cur = self.cur(currency);
                cur.flows = cur.flows.saturating_add(U256::from(own).saturating_mul(unit));
                self.set_cur(currency, cur);
            }
            let based = p
                .realized_base
                .unsigned_abs()
                .saturating_add(p.fees_base.unsigned_abs())
                .saturating_add(p.income_base.unsigned_abs())
                .saturating_add(p.fx_realized.unsigned_abs())
                .saturating_add(p.cost_base.unsigned_abs());
            fixed = fixed.saturating_add(U256::from(based));
        })?;
        let n = self.inst.len();
        for idx in 0..n {
            let l = self.inst[idx];
            let mut cur = self.cur(l.currency);
            cur.exposure = cur.exposure.saturating_add(l.exposure());
            self.set_cur(l.currency, cur);
        }
        for (from, to) in self.groups() {
            if let Some(conv) = self.fx.conversion(from, to) {
                let mut cur = self.cur(from);
                cur.factor = cur.factor.max(conv.factor_ceil());
                self.set_cur(from, cur);
            }
        }
        let mut total = fixed.saturating_mul(unit * unit);
        for c in &self.cur {
            total = total.saturating_add(c.term().unwrap_or(U256::MAX));
        }
        self.total = total;
        Ok(())
    }
}
