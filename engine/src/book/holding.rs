//! A position's holding: its ledger taken out of the hot and cold records
//! for a trade or a split and stored back, its book's totals moved from the
//! old holding to the new one at the applied mark and rate.

use super::Book;
use super::fx_cost;
use super::holders::{SlotId, Valuation};
use crate::ledger::{Ledger, LedgerParts};
use crate::num::sub;

impl Book {
    /// A position's ledger, from its hot quantity and cost and its cold
    /// lots (moved out, not copied), for a trade or a split to change;
    /// [`Book::put_ledger`] stores it back.
    pub(super) fn take_ledger(&mut self, slot: SlotId) -> Ledger {
        let lots = std::mem::take(&mut self.positions[slot.index()].lots);
        let (cost_base, _) = self.fx_parts(slot);
        let h = self.hot(slot);
        Ledger::from_parts(LedgerParts {
            qty: h.qty,
            cost: h.cost,
            cost_base,
            lots,
        })
    }

    /// Stores a ledger taken by [`Book::take_ledger`] back: quantity and
    /// cost into the hot record, the lots and base cost into the cold one.
    pub(super) fn put_ledger(&mut self, slot: SlotId, ledger: Ledger) {
        let parts = ledger.into_parts();
        self.positions[slot.index()].lots = parts.lots;
        self.set_holding(slot, parts.qty, parts.cost, parts.cost_base);
    }

    /// Sets a holder's quantity, cost and base cost, moving its book's
    /// totals from its old value to its new one at the applied mark and
    /// rate (a flush then moves it on with the rest of its instrument and
    /// group).
    pub(crate) fn set_holding(&mut self, slot: SlotId, qty: i64, cost: i128, cost_base: i128) {
        let (old_base, _) = self.fx_parts(slot);
        let cross = self.positions[slot.index()].cross.is_some();
        self.set_cost_base(slot, cost_base);
        let p = &self.positions[slot.index()];
        let inst = &mut self.instruments[p.instrument.index()];
        let (mark, mult) = (inst.applied, inst.multiplier);
        let h = &mut inst.holders[p.holder.index()];
        let conv = self.applied_convs[h.group.index()];
        let before = Valuation::in_base(mark, h.qty, h.cost, mult, conv);
        let after = Valuation::in_base(mark, qty, cost, mult, conv);
        let fx = if cross && p.priced {
            sub(
                fx_cost::fx_open(conv, mult, cost, cost_base),
                fx_cost::fx_open(conv, mult, h.cost, old_base),
            )
        } else {
            0
        };
        (h.qty, h.cost) = (qty, cost);
        let book = h.book;
        if let Some(c) = p.cross {
            let entry = &mut inst.cross[self.cross[c.index()].entry as usize];
            debug_assert_eq!(entry.value, before, "a cross holder's kept base values");
            entry.value = after;
        }
        self.totals.shift(book, before, after);
        if fx != 0 {
            self.totals.add_fx(book, fx);
        }
    }

    /// Stores a cross-currency position's base values as the totals
    /// include them (a restore, which sets holdings without moving totals).
    pub(crate) fn keep_cross_value(&mut self, slot: SlotId) {
        let p = &self.positions[slot.index()];
        let Some(c) = p.cross else { return };
        let (entry, instrument) = (self.cross[c.index()].entry as usize, p.instrument);
        let value = self.base_value(slot);
        self.instruments[instrument.index()].cross[entry].value = value;
    }
}
