//! Trades on a shard's books: a fill moves a position's ledger, its
//! realized P&L and fees (converted at the rate of the moment), and creates
//! the position, its conversion group and its indexes on first use.

use super::holders::{ConvKind, CrossHolder, GroupId, Holder, HolderIdx, SlotId, Valuation};
use super::{Amounts, Book, Cross, CrossId, Group, Position};
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId};
use crate::lean::push_lean;
use crate::ledger::{Lots, Method, Order};
use crate::num::{Price, Quantity, UNIT, add, out_of_bounds, sub};

impl Book {
    pub(super) fn trade(&mut self, seq: u64, t: TradeOp) {
        let mut picks = std::mem::take(&mut self.picks);
        self.fill(seq, t, &picks);
        picks.clear();
        self.picks = picks;
    }

    /// A trade closing the lots opened at the seqs `picks` first.
    fn fill(&mut self, seq: u64, t: TradeOp, picks: &[u64]) {
        let inst = self.inst_mut(t.instrument);
        if !inst.has_tick {
            inst.mark = t.price.raw();
            inst.has_mark = true;
            self.touch_inst(t.instrument, seq);
        }
        if !self.owner.owns(t.account) {
            // Another shard's account: only the mark moved (above).
            return;
        }
        let mult = self.instruments[t.instrument.index()].multiplier;
        let slot = self.slot(t.account, t.book, t.base, t.instrument);
        self.price_if_possible(slot);
        let conv = self.convs[self.hot(slot).group.index()];
        let to_base = self.to_base(slot);
        let mut ledger = self.take_ledger(slot);
        let order = Order { seq, picks };
        let fill = match to_base {
            Some((c, m)) => ledger.fill(t.method, order, t.qty, t.price, &|cost| c.apply(m.apply(cost))),
            None => ledger.fill(t.method, order, t.qty, t.price, &|_| 0),
        };
        let realized = mult.apply(fill.realized.0);
        self.put_ledger(slot, ledger);
        let fee = t
            .fee
            .checked_mul(i128::from(UNIT))
            .unwrap_or_else(|| out_of_bounds());
        // Read before the local amounts move: a same-currency position's
        // base amounts are its local ones.
        let mut b = self.base_amounts(slot);
        let p = &mut self.positions[slot.index()];
        let relisted = !p.listed;
        p.listed = true;
        p.realized = add(p.realized, realized);
        p.fees = add(p.fees, fee);
        let priced = p.priced;
        if relisted {
            self.totals.of(t.book).listed += 1;
        }
        if priced && let Some(c) = conv {
            let (dr, df) = (c.apply(realized), c.apply(fee));
            b.realized = add(b.realized, dr);
            b.fees = add(b.fees, df);
            self.set_base_amounts(slot, b);
            self.book_flow(t.book, dr, df, 0);
            if to_base.is_some() && fill.closed_value != 0 {
                self.realize_fx(slot, super::fx_cost::fx_closed(c, mult, &fill, dr));
            }
        }
        self.touch_pos(slot, seq);
    }

    /// The slot of (book, instrument), created on first use.
    fn slot(
        &mut self,
        account: AccountId,
        book: BookId,
        base: CurrencyId,
        instrument: InstrumentId,
    ) -> SlotId {
        if let Some(slot) = self.by_key.get(book, instrument) {
            return slot;
        }
        let slot = self.new_position(NewPosition {
            account,
            book,
            instrument,
            base,
        });
        self.totals.add_unpriced(book, 1);
        slot
    }

    /// Adds an empty, listed, unpriced position to every index (and its
    /// book, if new here, to the account's books and the firm).
    pub(crate) fn new_position(&mut self, key: NewPosition) -> SlotId {
        let NewPosition {
            account,
            book,
            instrument,
            base,
        } = key;
        let currency = self.inst_mut(instrument).currency;
        let group = self.group_index(currency, base);
        let slot = SlotId::from_index(self.positions.len());
        let inst = &mut self.instruments[instrument.index()];
        let holder = HolderIdx::from_len(inst.holders.len());
        push_lean(
            &mut inst.holders,
            Holder {
                book,
                group,
                ..Holder::default()
            },
        );
        push_lean(&mut inst.slots, slot);
        let cross = (currency != base).then(|| {
            let entry = u32::try_from(inst.cross.len()).unwrap_or_else(|_| out_of_bounds());
            push_lean(
                &mut inst.cross,
                CrossHolder {
                    holder,
                    value: Valuation::ZERO,
                },
            );
            self.cross.push(Cross {
                entry,
                ..Cross::default()
            });
            CrossId::from_index(self.cross.len() - 1)
        });
        self.positions.push(Position {
            instrument,
            holder,
            cross,
            lots: Lots::default(),
            realized: 0,
            fees: 0,
            baseline: 0,
            priced: false,
            listed: true,
            dirty: false,
            seq: 0,
        });
        self.by_key.set(book, instrument, slot);
        push_lean(&mut self.groups[group.index()].positions, slot);
        if self.totals.reserve(book, base) {
            self.links.link(book, account);
            if self.account_dirty.len() <= account.index() {
                self.account_dirty.resize(account.index() + 1, false);
            }
            self.firm_join(book, base);
        }
        self.totals.of(book).listed += 1;
        slot
    }

    pub(crate) fn group_index(&mut self, from: CurrencyId, to: CurrencyId) -> GroupId {
        if let Some(&g) = self.group_of.get(&(from, to)) {
            return g;
        }
        let g = GroupId::from_index(self.groups.len());
        self.groups.push(Group {
            from,
            to,
            positions: Vec::new(),
            dirty: false,
            seq: 0,
        });
        let conv = self.fx.conversion(from, to);
        self.convs.push(conv);
        self.group_kinds.push(if from == to {
            ConvKind::Identity
        } else {
            ConvKind::Cross
        });
        // A new group has no holder yet: nothing of it is in the totals, so
        // it may start at the current rate.
        self.applied_convs.push(conv);
        self.group_of.insert((from, to), g);
        g
    }

    /// Turns an unpriced position priced once its group has a rate: its
    /// realized P&L, fees and day baseline so far convert at this first rate.
    pub(crate) fn price_if_possible(&mut self, slot: SlotId) {
        if self.positions[slot.index()].priced {
            return;
        }
        let h = self.hot(slot);
        let (book, group) = (h.book, h.group);
        let Some(c) = self.convs[group.index()] else {
            return;
        };
        let p = &mut self.positions[slot.index()];
        p.priced = true;
        let base = Amounts {
            realized: c.apply(p.realized),
            fees: c.apply(p.fees),
            baseline: c.apply(p.baseline),
        };
        self.set_base_amounts(slot, base);
        let income = self.price_income(slot, c);
        self.price_fx(slot, c);
        self.totals.add_unpriced(book, -1);
        let tot = self.totals.of(book);
        tot.day = sub(tot.day, base.baseline);
        self.book_flow(book, base.realized, base.fees, income);
    }
}

/// Where a new position goes.
pub(crate) struct NewPosition {
    pub(crate) account: AccountId,
    pub(crate) book: BookId,
    pub(crate) instrument: InstrumentId,
    pub(crate) base: CurrencyId,
}

/// The fields of one trade op, as a book applies it.
pub(super) struct TradeOp {
    pub(super) account: AccountId,
    pub(super) book: BookId,
    pub(super) base: CurrencyId,
    pub(super) instrument: InstrumentId,
    pub(super) qty: Quantity,
    pub(super) price: Price,
    pub(super) fee: i128,
    pub(super) method: Method,
}
