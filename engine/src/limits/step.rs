//! The effect of one op on the range bounds (see the module docs of
//! `limits`): computed first, refused if out of range, then written.

use ethnum::U256;

use super::{CurLimit, InstLimit, RANGE, Table, mult_raw};
use crate::ids::{BookId, CurrencyId, InstrumentId};
use crate::num::{Fee, Money, Price, Quantity, Rate, UNIT, split_price, split_qty};
use crate::op::Op;

const MAX_QTY: i128 = i64::MAX as i128;
/// 10^9 as a U256.
fn unit() -> U256 {
    U256::from(UNIT.unsigned_abs())
}

/// `RANGE` at the bound's scale (10^-36).
fn limit() -> U256 {
    U256::from(RANGE.unsigned_abs()) * unit() * unit()
}

/// A bound at 10^-36 in whole units of money, rounded up.
pub(crate) fn units(total: U256) -> U256 {
    let scale = unit() * unit() * unit() * unit();
    total.div_ceil_compat(scale)
}

trait DivCeil {
    fn div_ceil_compat(self, d: Self) -> Self;
}

impl DivCeil for U256 {
    fn div_ceil_compat(self, d: Self) -> Self {
        self / d + U256::from(u8::from(self % d != U256::ZERO))
    }
}

fn beyond(total: Option<U256>) -> Option<String> {
    match total {
        Some(t) if t <= limit() => None,
        t => Some(format!(
            "its effects could take a money figure beyond the representable range: the \
             bound of every position value, P&L and account total would reach {} units, \
             beyond the limit of ±{} units",
            t.map_or_else(|| "more than 10^40".to_owned(), |t| units(t).to_string()),
            Money::from_raw(RANGE / i128::from(UNIT)),
        )),
    }
}

/// `total - old + new` for one currency's term; `None` when it cannot be
/// represented (then it is far beyond the limit).
fn moved(total: U256, old: &CurLimit, new: &CurLimit) -> Option<U256> {
    total.checked_sub(old.term()?)?.checked_add(new.term()?)
}

/// A currency's bounds with an instrument's exposure `before` replaced by
/// its exposure `after`.
fn reexposed(mut cur: CurLimit, before: &InstLimit, after: &InstLimit) -> CurLimit {
    cur.exposure = cur
        .exposure
        .saturating_sub(before.exposure())
        .saturating_add(after.exposure());
    cur
}

/// Records an instrument's new bounds, its currency's and the total (an
/// overflowed total saturates to the largest bound, which refuses anything
/// checked after it).
fn commit<T: Table>(t: &mut T, i: InstrumentId, l: InstLimit, cur: CurLimit, total: Option<U256>) {
    t.set_inst(i, l);
    t.set_cur(l.currency, cur);
    t.set_total(total.unwrap_or(U256::MAX));
}

/// Applies `op` to the bounds; with `check`, refuses it (changing nothing)
/// when a bound would leave its range.
pub(crate) fn step<T: Table>(t: &mut T, op: &Op, check: bool) -> Result<(), String> {
    match *op {
        Op::Trade {
            book,
            base,
            instrument,
            qty,
            price,
            fee,
            ..
        } => trade(t, (book, instrument), base, qty, price, fee, check),
        Op::Tick { instrument, price } => tick(t, instrument, price, check),
        Op::Fx { base, quote, rate } => fx(t, base, quote, rate, check),
        Op::Split { instrument, ratio } => split(t, instrument, ratio, check),
        Op::Dividend { instrument, amount } => dividend(t, instrument, amount, check),
        Op::Instrument {
            instrument,
            currency,
            multiplier,
        } => {
            let mut l = t.inst(instrument);
            if l.lots == 0 && l.abs_sum == 0 {
                (l.currency, l.mult) = (currency, mult_raw(multiplier));
                t.set_inst(instrument, l);
            }
            Ok(())
        }
        Op::Eod { .. } | Op::Mark { .. } | Op::Pick { .. } => Ok(()),
    }
}

fn raise_peak(l: &mut InstLimit, price: i64) {
    l.peak = l.peak.max(u128::from(price.unsigned_abs()));
    l.negative |= price < 0;
}

fn trade<T: Table>(
    t: &mut T,
    key: (BookId, InstrumentId),
    base: CurrencyId,
    qty: Quantity,
    price: Price,
    fee: Fee,
    check: bool,
) -> Result<(), String> {
    let old = t.held(key);
    let new = old + i128::from(qty.raw());
    if check && new.abs() > MAX_QTY {
        return Err(format!(
            "the position would reach {}{}, beyond ±{} units",
            if new < 0 { "-" } else { "" },
            Money::from_raw(new.abs()),
            Quantity::from_raw(i64::MAX)
        ));
    }
    let before = t.inst(key.1);
    let mut l = before;
    l.abs_sum += new.abs() - old.abs();
    raise_peak(&mut l, price.raw());
    if !l.has_tick {
        l.mark = price.raw();
    }
    l.lots += 1;
    let closed = if old != 0 && (old > 0) != (qty.raw() > 0) {
        old.unsigned_abs().min(u128::from(qty.raw().unsigned_abs()))
    } else {
        0
    };
    let mut flow = U256::from(fee.raw().unsigned_abs()).saturating_mul(unit() * unit());
    if closed > 0 {
        let realized = (U256::from(closed) * U256::from(l.peak) * U256::from(l.k()) + l.slack)
            .saturating_mul(U256::from(l.mult.unsigned_abs()));
        flow = flow.saturating_add(realized);
        if l.currency != base {
            // The currency effect the close realizes: its value and the
            // base cost it removes, each within the same bound.
            flow = flow.saturating_add(realized.saturating_mul(U256::from(2u8)));
        }
    }
    let c = l.currency;
    let old_cur = t.cur(c);
    let mut cur = reexposed(old_cur, &before, &l);
    cur.flows = cur.flows.saturating_add(flow);
    let new_group = l.last_base != Some(base) && !t.has_group((c, base));
    if new_group && let Some(conv) = t.fx().conversion(c, base) {
        cur.factor = cur.factor.max(conv.factor_ceil());
    }
    l.last_base = Some(base);
    let total = moved(t.total(), &old_cur, &cur);
    if check && let Some(why) = beyond(total) {
        return Err(why);
    }
    t.set_held(key, new);
    t.set_inst(key.1, l);
    t.set_cur(c, cur);
    if new_group {
        t.add_group((c, base));
    }
    t.set_total(total.unwrap_or(U256::MAX));
    Ok(())
}

fn tick<T: Table>(t: &mut T, i: InstrumentId, price: Price, check: bool) -> Result<(), String> {
    if t.mark_within_peak(i, price.raw()) {
        return Ok(());
    }
    let before = t.inst(i);
    let mut l = before;
    (l.mark, l.has_tick) = (price.raw(), true);
    raise_peak(&mut l, price.raw());
    if l.peak == before.peak && l.negative == before.negative {
        // The hot path: a mark within the instrument's peak moves no bound.
        t.set_inst(i, l);
        return Ok(());
    }
    let old_cur = t.cur(l.currency);
    let cur = reexposed(old_cur, &before, &l);
    let total = moved(t.total(), &old_cur, &cur);
    if check && let Some(why) = beyond(total) {
        return Err(why);
    }
    commit(t, i, l, cur, total);
    Ok(())
}

fn fx<T: Table>(
    t: &mut T,
    base: CurrencyId,
    quote: CurrencyId,
    rate: Rate,
    check: bool,
) -> Result<(), String> {
    let mut rates = t.fx().clone();
    rates.set(base, quote, rate);
    let mut changed: Vec<(CurrencyId, CurLimit, CurLimit)> = Vec::new();
    for (from, to) in t.groups() {
        let Some(conv) = rates.conversion(from, to) else {
            continue;
        };
        let f = conv.factor_ceil();
        let pos = changed.iter().position(|x| x.0 == from);
        let entry = match pos {
            Some(p) => &mut changed[p],
            None => {
                let c = t.cur(from);
                changed.push((from, c, c));
                let last = changed.len() - 1;
                &mut changed[last]
            }
        };
        entry.2.factor = entry.2.factor.max(f);
    }
    let mut total = Some(t.total());
    for (_, old, new) in &changed {
        total = total.and_then(|x| moved(x, old, new));
    }
    if check && let Some(why) = beyond(total) {
        return Err(why);
    }
    *t.fx_mut() = rates;
    for (c, _, new) in changed {
        t.set_cur(c, new);
    }
    t.set_total(total.unwrap_or(U256::MAX));
    Ok(())
}

/// A dividend pays at most `Σ|qty| × |amount| × multiplier` in all: a flow,
/// like what a close realizes.
fn dividend<T: Table>(t: &mut T, i: InstrumentId, amount: Price, check: bool) -> Result<(), String> {
    let l = t.inst(i);
    if l.abs_sum == 0 {
        return Ok(());
    }
    let paid = U256::from(l.abs_sum.unsigned_abs())
        .saturating_mul(U256::from(amount.raw().unsigned_abs()))
        .saturating_mul(U256::from(l.mult.unsigned_abs()));
    let old_cur = t.cur(l.currency);
    let mut cur = old_cur;
    cur.flows = cur.flows.saturating_add(paid);
    let total = moved(t.total(), &old_cur, &cur);
    if check && let Some(why) = beyond(total) {
        return Err(why);
    }
    t.set_cur(l.currency, cur);
    t.set_total(total.unwrap_or(U256::MAX));
    Ok(())
}

fn split<T: Table>(t: &mut T, i: InstrumentId, ratio: Rate, check: bool) -> Result<(), String> {
    let before = t.inst(i);
    let mut l = before;
    let mark = split_price(l.mark, ratio);
    if check && (split_qty(l.abs_sum, ratio).abs() > MAX_QTY || mark.abs() > MAX_QTY) {
        return Err("the split would take its quantities or its mark out of range".to_owned());
    }
    // Each lot's quantity rounds by at most half a raw unit, so its cost per
    // unit stays below peak / ratio (+1 for the rounding of the division),
    // plus one peak per lot: the slack (doubled to cover fifo lots that round
    // apart from the sequencer's own quantity).
    let ratio_raw = U256::from(ratio.raw().unsigned_abs().max(1));
    let peak = (U256::from(l.peak) * unit()).div_ceil_compat(ratio_raw) + U256::ONE;
    l.peak = u128::try_from(peak).unwrap_or(u128::MAX);
    l.slack = l
        .slack
        .saturating_add(U256::from(l.lots).saturating_mul(U256::from(l.peak)) * U256::from(2u8));
    l.mark = i64::try_from(mark).unwrap_or(l.mark);
    // Checked on a bound of the new Σ|qty| (each position rounds by ≤ ½ raw
    // unit); the exact sum is written after.
    l.abs_sum = split_qty(before.abs_sum, ratio).saturating_add(i128::from(l.lots));
    let old_cur = t.cur(l.currency);
    let cur = reexposed(old_cur, &before, &l);
    let total = moved(t.total(), &old_cur, &cur);
    if check && let Some(why) = beyond(total) {
        return Err(why);
    }
    l.abs_sum = t.split_held(i, ratio);
    let cur = reexposed(old_cur, &before, &l);
    let total = moved(t.total(), &old_cur, &cur);
    commit(t, i, l, cur, total);
    Ok(())
}
