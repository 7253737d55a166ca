//! Ops that sweep many positions of a book at once: an FX rate (every
//! conversion group it moves), a split (every holder of the instrument)
//! and the EOD (every listed position's day baseline, and the rollover of
//! flat ones into the closed history).

use super::flush::EodCapture;
use super::holders::{GroupId, SlotId};
use super::{Amounts, Book};
use crate::ids::{CurrencyId, InstrumentId};
use crate::ledger::Lots;
use crate::num::{Rate, out_of_bounds, split_price, sub};
use crate::state::{ClosedPosition, PositionDelta};
use crate::time::Date;

impl Book {
    pub(super) fn fx(&mut self, seq: u64, base: CurrencyId, quote: CurrencyId, rate: Rate) {
        self.fx.set(base, quote, rate);
        for gi in 0..self.groups.len() {
            let g = &self.groups[gi];
            let conv = self.fx.conversion(g.from, g.to);
            if conv == self.convs[gi] {
                continue;
            }
            let first = self.convs[gi].is_none();
            self.convs[gi] = conv;
            if first {
                // The first usable rate prices the group's positions now,
                // not at the next flush, so a later rate in the same batch
                // cannot stand in for it.
                for k in 0..self.groups[gi].positions.len() {
                    let slot = self.groups[gi].positions[k];
                    self.price_if_possible(slot);
                }
            }
            let g = &mut self.groups[gi];
            g.seq = seq;
            if !g.dirty {
                g.dirty = true;
                self.dirty_groups.push(GroupId::from_index(gi));
            }
        }
        self.firm_rates();
    }

    pub(super) fn split(&mut self, seq: u64, instrument: InstrumentId, ratio: Rate) {
        let inst = self.inst_mut(instrument);
        // The range checks refuse a split that takes the mark out of range.
        inst.mark = i64::try_from(split_price(inst.mark, ratio)).unwrap_or_else(|_| out_of_bounds());
        let held = inst.slots.clone();
        self.touch_inst(instrument, seq);
        for slot in held {
            let mut ledger = self.take_ledger(slot);
            ledger.split(ratio);
            self.put_ledger(slot, ledger);
            self.touch_pos(slot, seq);
        }
    }

    /// Every listed slot, in slot order.
    pub(super) fn listed(&self) -> impl Iterator<Item = SlotId> + '_ {
        (0..self.positions.len())
            .filter(|&i| self.positions[i].listed)
            .map(SlotId::from_index)
    }

    pub(super) fn eod(&mut self, seq: u64, date: Date) {
        self.reprice_dirty();
        let states = self.listed().map(|slot| self.position_state(slot)).collect();
        self.out_eod.push(EodCapture { date, seq, states });
        let listed: Vec<SlotId> = self.listed().collect();
        for slot in listed {
            let (net, net_base) = self.net(slot);
            let book = self.hot(slot).book;
            let before = self.base_amounts(slot);
            let p = &mut self.positions[slot.index()];
            p.baseline = net;
            if p.priced {
                let day = sub(net_base, before.baseline);
                self.set_base_amounts(
                    slot,
                    Amounts {
                        baseline: net_base,
                        ..before
                    },
                );
                let tot = self.totals.of(book);
                tot.day = sub(tot.day, day);
            }
            self.touch_pos(slot, seq);
            if self.positions[slot.index()].priced && self.hot(slot).qty == 0 {
                self.roll_closed(slot, date);
            }
        }
        self.firm_eod();
    }

    /// Moves a flat, priced position into the closed history and frees its
    /// slot for a new position; the account totals keep what it realized.
    fn roll_closed(&mut self, slot: SlotId, date: Date) {
        let position = self.position_state(slot);
        let closed = ClosedPosition {
            date,
            position: position.clone(),
        };
        self.closed.push(closed.clone());
        self.out_closed.push(closed);
        if self.emit_positions && self.wanted.wants(position.account) {
            self.out_positions.push(PositionDelta {
                state: position,
                closed: true,
            });
        }
        let p = &mut self.positions[slot.index()];
        p.lots = Lots::default();
        (p.realized, p.fees, p.baseline) = (0, 0, 0);
        p.listed = false;
        let book = self.hot(slot).book;
        self.totals.of(book).listed -= 1;
        self.set_base_amounts(slot, Amounts::default());
        self.income.remove(&slot);
        self.set_holding(slot, 0, 0, 0);
        self.clear_fx(slot);
    }
}
