//! Repricing and output of a shard's books: what [`Book::flush`] sends to the
//! aggregator, and the position states a snapshot reads.

use crate::book::Book;
use crate::ids::{AccountId, CurrencyId, InstrumentId};
use crate::num::{Notional, Price, Quantity, add, sub};
use crate::state::{BaseChange, BaseValues, ClosedPosition, PositionDelta, PositionState};
use crate::time::Date;

/// What one flush of a shard produces.
#[derive(Debug, Default)]
pub struct ShardOutput {
    /// The last `seq` the shard had applied.
    pub seq: u64,
    /// Changes of account totals: (account, base currency, change).
    pub accounts: Vec<(AccountId, CurrencyId, BaseChange)>,
    /// New states of the positions that changed (empty unless enabled).
    pub positions: Vec<PositionDelta>,
    /// Each EOD applied since the last flush: date, seq and every listed
    /// position as of that EOD (before the day baselines reset).
    pub eod: Vec<(Date, u64, Vec<PositionState>)>,
    /// Positions an EOD moved to the closed history.
    pub closed: Vec<ClosedPosition>,
    /// When the oldest op of the batch behind this output entered the
    /// engine (`clock::now_ns`; 0 = not measured): tick→delta latency.
    pub t_in: u64,
}

impl ShardOutput {
    /// True when the flush produced nothing to send.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty() && self.positions.is_empty() && self.eod.is_empty() && self.closed.is_empty()
    }
}

impl Book {
    /// Reprices every dirty position once and returns the changes to send.
    pub fn flush(&mut self) -> ShardOutput {
        self.reprice_dirty();
        let mut accounts = Vec::with_capacity(self.dirty_acc.len());
        for a in self.dirty_acc.drain(..) {
            let i = a.index();
            self.acc_dirty[i] = false;
            let ch = std::mem::take(&mut self.acc[i]);
            accounts.push((a, self.acc_base[i], ch));
        }
        ShardOutput {
            seq: self.seq,
            accounts,
            positions: std::mem::take(&mut self.out_positions),
            eod: std::mem::take(&mut self.out_eod),
            closed: std::mem::take(&mut self.out_closed),
            t_in: 0,
        }
    }

    /// Reprices the positions of dirty instruments and groups, and dirty
    /// positions, each once.
    pub(crate) fn reprice_dirty(&mut self) {
        if !self.emit_positions {
            // Totals only (the common case): each position of a dirty
            // instrument is repriced in one pass over the instrument's
            // holders, with no list to build; the few positions a trade or a
            // rate touched are repriced after (a second reprice of the same
            // position finds nothing to change).
            let ids = std::mem::take(&mut self.dirty_inst);
            for &id in &ids {
                self.reprice_instrument(id);
            }
            self.dirty_inst = ids;
            self.dirty_inst.clear();
            if self.dirty_pos.is_empty() && self.dirty_groups.is_empty() {
                return;
            }
        }
        let mut dirty = std::mem::take(&mut self.dirty_pos);
        for id in self.dirty_inst.drain(..) {
            let inst = &mut self.instruments[id.index()];
            inst.dirty = false;
            for &pi in &inst.positions {
                let p = &mut self.positions[pi as usize];
                if !p.listed {
                    continue;
                }
                // Even a position a trade already made dirty: its seq is the
                // last event that changed it, however the ops were batched.
                p.seq = p.seq.max(inst.seq);
                if !p.dirty {
                    p.dirty = true;
                    dirty.push(pi);
                }
            }
        }
        for gi in self.dirty_groups.drain(..) {
            let g = &mut self.groups[gi as usize];
            g.dirty = false;
            for &pi in &g.positions {
                let p = &mut self.positions[pi as usize];
                if !p.listed {
                    continue;
                }
                p.seq = p.seq.max(g.seq);
                if !p.dirty {
                    p.dirty = true;
                    dirty.push(pi);
                }
            }
        }
        for &pi in &dirty {
            self.positions[pi as usize].dirty = false;
            self.reprice(pi);
            if self.emit_positions && self.positions[pi as usize].listed {
                let state = self.position_state(pi);
                self.out_positions.push(PositionDelta { state, closed: false });
            }
        }
        dirty.clear();
        self.dirty_pos = dirty;
    }

    /// Reprices every listed position of one instrument at its mark (the
    /// instrument's fields are read once, not per position).
    fn reprice_instrument(&mut self, id: InstrumentId) {
        let inst = &mut self.instruments[id.index()];
        inst.dirty = false;
        let (mark, mult, seq) = (i128::from(inst.mark), inst.multiplier, inst.seq);
        let held = std::mem::take(&mut inst.positions);
        for &pi in &held {
            let p = &mut self.positions[pi as usize];
            if !p.listed {
                continue;
            }
            p.seq = p.seq.max(seq);
            if !p.priced {
                self.price_if_possible(pi);
            }
            let p = &self.positions[pi as usize];
            let Some(conv) = self.groups[p.group as usize].conv else {
                continue;
            };
            let value = mark * i128::from(p.ledger.qty().raw());
            let mv = conv.apply(mult.apply(value));
            let unreal = conv.apply(mult.apply(sub(value, p.ledger.cost().0)));
            let (d_mv, d_unreal) = (sub(mv, p.mv_base), sub(unreal, p.unreal_base));
            if d_mv == 0 && d_unreal == 0 {
                continue;
            }
            let account = p.account;
            let p = &mut self.positions[pi as usize];
            (p.mv_base, p.unreal_base) = (mv, unreal);
            let ch = self.change(account);
            ch.market_value = add(ch.market_value, d_mv);
            ch.unrealized_pnl = add(ch.unrealized_pnl, d_unreal);
            ch.day_pnl = add(ch.day_pnl, d_unreal);
        }
        self.instruments[id.index()].positions = held;
    }

    /// Recomputes a position's base market value and unrealized P&L at the
    /// current mark and rate, and records the change of its account totals.
    fn reprice(&mut self, pi: u32) {
        self.price_if_possible(pi);
        let p = &self.positions[pi as usize];
        let Some(conv) = self.groups[p.group as usize].conv else {
            return;
        };
        let inst = &self.instruments[p.instrument.index()];
        let value = i128::from(inst.mark) * i128::from(p.ledger.qty().raw());
        let mv = conv.apply(inst.multiplier.apply(value));
        let unreal = conv.apply(inst.multiplier.apply(sub(value, p.ledger.cost().0)));
        let (d_mv, d_unreal) = (sub(mv, p.mv_base), sub(unreal, p.unreal_base));
        if d_mv == 0 && d_unreal == 0 {
            return;
        }
        let account = p.account;
        let p = &mut self.positions[pi as usize];
        p.mv_base = mv;
        p.unreal_base = unreal;
        let ch = self.change(account);
        ch.market_value = add(ch.market_value, d_mv);
        ch.unrealized_pnl = add(ch.unrealized_pnl, d_unreal);
        ch.day_pnl = add(ch.day_pnl, d_unreal);
    }

    /// A position's full state (call after a flush, so base values are current).
    #[must_use]
    pub(crate) fn position_state(&self, pi: u32) -> PositionState {
        let p = &self.positions[pi as usize];
        let inst = &self.instruments[p.instrument.index()];
        let q = p.ledger.qty();
        let value = i128::from(inst.mark) * i128::from(q.raw());
        let unreal = inst.multiplier.apply(sub(value, p.ledger.cost().0));
        let net = sub(add(p.realized, unreal), p.fees);
        PositionState {
            account: p.account,
            instrument: p.instrument,
            currency: inst.currency,
            base_currency: p.base,
            qty: q,
            avg_cost: p.ledger.avg_cost(),
            mark: Price::from_raw(inst.mark),
            market_value: Notional(inst.multiplier.apply(value)),
            realized_pnl: Notional(p.realized),
            unrealized_pnl: Notional(unreal),
            fees: Notional(p.fees),
            net_pnl: Notional(net),
            day_pnl: Notional(sub(net, p.baseline)),
            base: p.priced.then(|| BaseValues {
                market_value: Notional(p.mv_base),
                realized_pnl: Notional(p.realized_base),
                unrealized_pnl: Notional(p.unreal_base),
                fees: Notional(p.fees_base),
                net_pnl: Notional(sub(add(p.realized_base, p.unreal_base), p.fees_base)),
            }),
            seq: p.seq,
        }
    }

    /// Every listed position's state, in slot order. Flush first.
    #[must_use]
    pub fn positions(&self) -> Vec<PositionState> {
        (0..self.positions.len())
            .filter(|&i| self.positions[i].listed)
            .filter_map(|i| u32::try_from(i).ok())
            .map(|pi| self.position_state(pi))
            .collect()
    }

    /// The closed-position history this shard rolled, oldest first.
    #[must_use]
    pub fn closed(&self) -> &[ClosedPosition] {
        &self.closed
    }

    /// How many listed positions hold a nonzero quantity.
    #[must_use]
    pub fn open_positions(&self) -> usize {
        self.positions
            .iter()
            .filter(|p| p.listed && p.ledger.qty() != Quantity::ZERO)
            .count()
    }
}
