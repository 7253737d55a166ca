//! Dividend income: cash per unit paid to every holder of an instrument on
//! the quantity it holds at that moment (a short position pays it).
//!
//! Income is kept apart from the cold record, in a map holding only the
//! positions ever paid one: most positions of a book never are (and the
//! benchmark's none), so they pay nothing for the field. Like realized P&L,
//! income converts to base at the rate of the moment it is paid; an
//! unpriced position's income converts at its first rate.

use super::Book;
use super::holders::SlotId;
use crate::fx::Conversion;
use crate::ids::InstrumentId;
use crate::num::{Price, add, out_of_bounds};

/// A position's income so far, exact (10^-18): in the instrument's
/// currency and in its account's base (meaningful once it is priced).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Income {
    pub(crate) local: i128,
    pub(crate) base: i128,
}

impl Book {
    /// Pays `amount` per unit to every holder of `instrument` this shard
    /// owns (a flat position gets nothing).
    pub(super) fn dividend(&mut self, seq: u64, instrument: InstrumentId, amount: Price) {
        let inst = self.inst_mut(instrument);
        let mult = inst.multiplier;
        let paid: Vec<(SlotId, i128)> = inst
            .slots
            .iter()
            .zip(&inst.holders)
            .filter(|(_, h)| h.qty != 0)
            .map(|(&slot, h)| {
                let cash = i128::from(h.qty)
                    .checked_mul(i128::from(amount.raw()))
                    .unwrap_or_else(|| out_of_bounds());
                (slot, mult.apply(cash))
            })
            .collect();
        for (slot, cash) in paid {
            let h = self.hot(slot);
            let (book, group) = (h.book, h.group);
            let conv = self.convs[group.index()];
            let priced = self.positions[slot.index()].priced;
            let income = self.income.entry(slot).or_default();
            income.local = add(income.local, cash);
            if priced && let Some(c) = conv {
                let b = c.apply(cash);
                income.base = add(income.base, b);
                self.book_flow(book, 0, 0, b);
            }
            self.touch_pos(slot, seq);
        }
    }

    /// A position's income (zero if it was never paid any).
    pub(crate) fn income_of(&self, slot: SlotId) -> Income {
        if self.income.is_empty() {
            return Income::default();
        }
        self.income.get(&slot).copied().unwrap_or_default()
    }

    /// Converts a position's income so far at its first rate, as it turns
    /// priced, and returns that base amount (for its account's totals).
    pub(super) fn price_income(&mut self, slot: SlotId, c: Conversion) -> i128 {
        match self.income.get_mut(&slot) {
            Some(income) => {
                income.base = c.apply(income.local);
                income.base
            }
            None => 0,
        }
    }

    /// Sets a position's income (a restored snapshot); zero takes no entry.
    pub(crate) fn set_income(&mut self, slot: SlotId, income: Income) {
        if income == Income::default() {
            self.income.remove(&slot);
        } else {
            self.income.insert(slot, income);
        }
    }
}
