//! FX attribution of a position held in another currency than its
//! account's base: its open cost kept in base at the rates its lots were
//! opened at (`cost_base`), and the currency effect on that capital,
//! `fx_pnl = cost × multiplier converted at the rate now − cost_base`,
//! plus what closes realized of it. A position in its base currency has
//! none (its base cost is its cost) and stores nothing for it.
//!
//! The open part moves only with the cost (a trade, a split, a roll-over)
//! and with the rate (a group's repricing), never with a tick, so the tick
//! loop does no work for it.

use super::Book;
use super::holders::SlotId;
use crate::fx::Conversion;
use crate::ledger::Fill;
use crate::num::{Multiplier, add, sub};

/// The open currency effect of a holding: its cost converted at `conv`
/// less its base cost; nothing while it has no rate (an unpriced position
/// is left out of the sums).
pub(crate) fn fx_open(conv: Option<Conversion>, mult: Multiplier, cost: i128, cost_base: i128) -> i128 {
    conv.map_or(0, |c| sub(c.apply(mult.apply(cost)), cost_base))
}

/// The currency effect a close realizes: its value converted at the rate
/// of the moment, less the realized P&L as converted, less the base cost
/// it removed (so that realized + FX in base is the closed value in base
/// less what it cost in base, exactly).
pub(crate) fn fx_closed(c: Conversion, mult: Multiplier, fill: &Fill, realized_base: i128) -> i128 {
    sub(
        sub(c.apply(mult.apply(fill.closed_value)), realized_base),
        fill.closed_base,
    )
}

impl Book {
    /// A position's base cost and realized currency P&L (zero for a
    /// position in its base currency).
    pub(crate) fn fx_parts(&self, slot: SlotId) -> (i128, i128) {
        match self.positions[slot.index()].cross {
            Some(c) => {
                let x = &self.cross[c.index()];
                (x.cost_base, x.fx_realized)
            }
            None => (0, 0),
        }
    }

    /// Restores a cross-currency position's base cost and realized
    /// currency P&L (a snapshot; nothing for another position).
    pub(crate) fn restore_fx(&mut self, slot: SlotId, cost_base: i128, fx_realized: i128) {
        if let Some(c) = self.positions[slot.index()].cross {
            let x = &mut self.cross[c.index()];
            (x.cost_base, x.fx_realized) = (cost_base, fx_realized);
        }
    }

    /// Gives a restored cross-currency position of a snapshot without base
    /// costs its base cost at the rate of the restore (its currency effect
    /// counts from there; the restored totals, which have none, agree).
    pub(crate) fn rebase_restored(&mut self, slot: SlotId) {
        let p = &self.positions[slot.index()];
        if p.cross.is_none() || !p.priced {
            return;
        }
        if let Some(c) = self.convs[self.hot(slot).group.index()] {
            self.rebase_at(slot, c);
        }
    }

    /// Sets a position's base costs (its lots' and their sum) to its costs
    /// converted at `c`; returns its cost and new base cost.
    fn rebase_at(&mut self, slot: SlotId, c: Conversion) -> (i128, i128) {
        let mult = self.instruments[self.positions[slot.index()].instrument.index()].multiplier;
        let mut ledger = self.take_ledger(slot);
        ledger.rebase(&|cost| c.apply(mult.apply(cost)));
        let parts = ledger.into_parts();
        self.positions[slot.index()].lots = parts.lots;
        self.set_cost_base(slot, parts.cost_base);
        (parts.cost, parts.cost_base)
    }

    /// Sets a cross-currency position's base cost (nothing for another).
    pub(super) fn set_cost_base(&mut self, slot: SlotId, cost_base: i128) {
        if let Some(c) = self.positions[slot.index()].cross {
            self.cross[c.index()].cost_base = cost_base;
        }
    }

    /// Adds to a cross-currency position's realized currency P&L and to
    /// its account's totals.
    pub(super) fn realize_fx(&mut self, slot: SlotId, fx: i128) {
        let Some(c) = self.positions[slot.index()].cross else {
            return;
        };
        let x = &mut self.cross[c.index()];
        x.fx_realized = add(x.fx_realized, fx);
        let book = self.hot(slot).book;
        self.totals.add_fx(book, fx);
    }

    /// A position's whole currency effect at the current rate (after a
    /// flush, the applied one): open plus realized.
    pub(crate) fn fx_pnl(&self, slot: SlotId) -> i128 {
        let p = &self.positions[slot.index()];
        if p.cross.is_none() || !p.priced {
            return 0;
        }
        let inst = &self.instruments[p.instrument.index()];
        let h = self.hot(slot);
        let (cost_base, realized) = self.fx_parts(slot);
        let conv = self.applied_convs[h.group.index()];
        add(fx_open(conv, inst.multiplier, h.cost, cost_base), realized)
    }

    /// Prices a cross-currency position's base cost at its first rate `c`
    /// (what it opened while unpriced converts at that rate) and adds its
    /// open currency effect, at the applied rate, to its account's totals.
    pub(super) fn price_fx(&mut self, slot: SlotId, c: Conversion) {
        if self.positions[slot.index()].cross.is_none() {
            return;
        }
        let (cost, cost_base) = self.rebase_at(slot, c);
        let mult = self.instruments[self.positions[slot.index()].instrument.index()].multiplier;
        let h = self.hot(slot);
        let (book, applied) = (h.book, self.applied_convs[h.group.index()]);
        let fx = fx_open(applied, mult, cost, cost_base);
        self.totals.add_fx(book, fx);
    }

    /// Clears a cross-currency position's realized currency P&L (a
    /// roll-over: its account's totals keep it).
    pub(super) fn clear_fx(&mut self, slot: SlotId) {
        if let Some(c) = self.positions[slot.index()].cross {
            self.cross[c.index()].fx_realized = 0;
        }
    }

    /// The function a cross-currency position's new lots take their base
    /// cost from (cost × multiplier at the rate of the moment); `None` for
    /// a position in its base currency or one still unpriced.
    pub(super) fn to_base(&self, slot: SlotId) -> Option<(Conversion, Multiplier)> {
        let p = &self.positions[slot.index()];
        if p.cross.is_none() || !p.priced {
            return None;
        }
        let conv = self.convs[self.hot(slot).group.index()]?;
        Some((conv, self.instruments[p.instrument.index()].multiplier))
    }
}
