//! A shard's books: the positions of the instruments routed to it, their
//! marks, the FX rates, and the indexes that keep every update incremental.
//!
//! - instrument → positions: a tick reprices only the positions holding it;
//! - (currency, base) → positions ("conversion groups"): an FX tick reprices
//!   only the positions whose conversion rate changed;
//! - account totals move by [`BaseChange`]s, never by re-summing.
//!
//! Events only *mark* positions dirty; [`Book::flush`] reprices each dirty
//! position once. Realized P&L and fees are converted at the moment they
//! occur, so deferring the repricing changes no figure, only how often
//! deltas are sent: flushing after every event gives per-tick deltas,
//! flushing per batch coalesces them.

use rustc_hash::FxHashMap;

use crate::fx::{Conversion, FxRates};
use crate::ids::{AccountId, CurrencyId, InstrumentId};
use crate::ledger::{Ledger, Method};
use crate::num::{Multiplier, Price, Quantity, Rate, UNIT, add, out_of_bounds, split_price, sub};
use crate::op::{Op, SeqOp};
use crate::state::{BaseChange, ClosedPosition, PositionDelta};
use crate::time::Date;

/// An instrument as a shard knows it.
#[derive(Clone, Debug)]
pub(crate) struct Inst {
    pub(crate) currency: CurrencyId,
    pub(crate) multiplier: Multiplier,
    /// Raw mark price (valid when `has_mark`).
    pub(crate) mark: i64,
    pub(crate) has_mark: bool,
    /// Once a tick arrived, trades stop moving the mark.
    pub(crate) has_tick: bool,
    pub(crate) positions: Vec<u32>,
    pub(crate) dirty: bool,
    pub(crate) seq: u64,
}

impl Default for Inst {
    fn default() -> Self {
        Self {
            currency: CurrencyId::USD,
            multiplier: Multiplier::ONE,
            mark: 0,
            has_mark: false,
            has_tick: false,
            positions: Vec::new(),
            dirty: false,
            seq: 0,
        }
    }
}

/// Positions sharing one (instrument currency, base currency) conversion.
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) from: CurrencyId,
    pub(crate) to: CurrencyId,
    pub(crate) conv: Option<Conversion>,
    pub(crate) positions: Vec<u32>,
    pub(crate) dirty: bool,
    pub(crate) seq: u64,
}

/// One position's state. Amounts are exact (10^-18) in the instrument's
/// currency, or in base currency for the `*_base` fields.
#[derive(Clone, Debug)]
pub(crate) struct Position {
    pub(crate) account: AccountId,
    pub(crate) instrument: InstrumentId,
    pub(crate) base: CurrencyId,
    pub(crate) group: u32,
    pub(crate) ledger: Ledger,
    pub(crate) realized: i128,
    pub(crate) fees: i128,
    pub(crate) realized_base: i128,
    pub(crate) fees_base: i128,
    /// Net P&L at the last EOD (the day-P&L baseline), and in base.
    pub(crate) baseline: i128,
    pub(crate) baseline_base: i128,
    /// Base values as last repriced (what the account totals include).
    pub(crate) mv_base: i128,
    pub(crate) unreal_base: i128,
    pub(crate) priced: bool,
    /// False once an EOD rolled it into the closed history.
    pub(crate) listed: bool,
    pub(crate) dirty: bool,
    pub(crate) seq: u64,
}

/// The books one shard owns. Single-threaded; a shard worker drives it.
#[derive(Debug)]
pub struct Book {
    pub(crate) method: Method,
    pub(crate) emit_positions: bool,
    pub(crate) instruments: Vec<Inst>,
    pub(crate) positions: Vec<Position>,
    pub(crate) by_key: FxHashMap<(AccountId, InstrumentId), u32>,
    pub(crate) fx: FxRates,
    pub(crate) groups: Vec<Group>,
    pub(crate) group_of: FxHashMap<(CurrencyId, CurrencyId), u32>,
    pub(crate) closed: Vec<ClosedPosition>,
    pub(crate) dirty_inst: Vec<InstrumentId>,
    pub(crate) dirty_groups: Vec<u32>,
    pub(crate) dirty_pos: Vec<u32>,
    /// Pending changes of account totals, by account index.
    pub(crate) acc: Vec<BaseChange>,
    pub(crate) acc_base: Vec<CurrencyId>,
    pub(crate) acc_dirty: Vec<bool>,
    pub(crate) dirty_acc: Vec<AccountId>,
    pub(crate) out_positions: Vec<PositionDelta>,
    /// The states each EOD captured, until the next flush sends them.
    pub(crate) out_eod: Vec<(Date, u64, Vec<crate::state::PositionState>)>,
    /// Positions rolled into history since the last flush.
    pub(crate) out_closed: Vec<ClosedPosition>,
    pub(crate) seq: u64,
}

impl Book {
    /// Empty books using `method`; `emit_positions` says whether flushes
    /// produce per-position deltas (account totals are always produced).
    #[must_use]
    pub fn new(method: Method, emit_positions: bool) -> Self {
        Self {
            method,
            emit_positions,
            instruments: Vec::new(),
            positions: Vec::new(),
            by_key: FxHashMap::default(),
            fx: FxRates::default(),
            groups: Vec::new(),
            group_of: FxHashMap::default(),
            closed: Vec::new(),
            dirty_inst: Vec::new(),
            dirty_groups: Vec::new(),
            dirty_pos: Vec::new(),
            acc: Vec::new(),
            acc_base: Vec::new(),
            acc_dirty: Vec::new(),
            dirty_acc: Vec::new(),
            out_positions: Vec::new(),
            out_eod: Vec::new(),
            out_closed: Vec::new(),
            seq: 0,
        }
    }

    /// The cost method.
    #[must_use]
    pub const fn method(&self) -> Method {
        self.method
    }

    /// The last `seq` applied.
    #[must_use]
    pub const fn seq(&self) -> u64 {
        self.seq
    }

    /// How many positions (listed or not) this shard holds.
    #[must_use]
    pub fn position_count(&self) -> usize {
        self.positions.len()
    }

    /// Applies one sequenced op. Cheap: marks what needs repricing.
    pub fn apply(&mut self, sop: &SeqOp) {
        let seq = sop.seq;
        self.seq = seq;
        match sop.op {
            Op::Instrument {
                instrument,
                currency,
                multiplier,
            } => {
                let inst = self.inst_mut(instrument);
                if inst.positions.is_empty() {
                    inst.currency = currency;
                    inst.multiplier = multiplier;
                }
            }
            Op::Trade {
                account,
                base,
                instrument,
                qty,
                price,
                fee,
            } => self.trade(seq, account, base, instrument, qty, price, fee.raw()),
            Op::Tick { instrument, price } => {
                let inst = self.inst_mut(instrument);
                inst.mark = price.raw();
                inst.has_mark = true;
                inst.has_tick = true;
                self.touch_inst(instrument, seq);
            }
            Op::Fx { base, quote, rate } => self.fx(seq, base, quote, rate),
            Op::Eod { date } => self.eod(seq, date),
            Op::Split { instrument, ratio } => self.split(seq, instrument, ratio),
        }
    }

    pub(crate) fn inst_mut(&mut self, id: InstrumentId) -> &mut Inst {
        if self.instruments.len() <= id.index() {
            self.instruments.resize_with(id.index() + 1, Inst::default);
        }
        &mut self.instruments[id.index()]
    }

    fn touch_inst(&mut self, id: InstrumentId, seq: u64) {
        let inst = &mut self.instruments[id.index()];
        inst.seq = seq;
        if !inst.dirty {
            inst.dirty = true;
            self.dirty_inst.push(id);
        }
    }

    pub(crate) fn touch_pos(&mut self, pi: u32, seq: u64) {
        let p = &mut self.positions[pi as usize];
        p.seq = seq;
        if !p.dirty {
            p.dirty = true;
            self.dirty_pos.push(pi);
        }
    }

    pub(crate) fn change(&mut self, account: AccountId) -> &mut BaseChange {
        let i = account.index();
        if self.acc.len() <= i {
            self.acc.resize_with(i + 1, BaseChange::default);
            self.acc_base.resize(i + 1, CurrencyId::USD);
            self.acc_dirty.resize(i + 1, false);
        }
        if !self.acc_dirty[i] {
            self.acc_dirty[i] = true;
            self.dirty_acc.push(account);
        }
        &mut self.acc[i]
    }

    #[allow(clippy::too_many_arguments, reason = "the fields of one trade op")]
    fn trade(
        &mut self,
        seq: u64,
        account: AccountId,
        base: CurrencyId,
        instrument: InstrumentId,
        qty: Quantity,
        price: Price,
        fee: i128,
    ) {
        let inst = self.inst_mut(instrument);
        if !inst.has_tick {
            inst.mark = price.raw();
            inst.has_mark = true;
            self.touch_inst(instrument, seq);
        }
        let mult = self.instruments[instrument.index()].multiplier;
        let pi = self.slot(account, base, instrument);
        self.price_if_possible(pi);
        let method = self.method;
        let p = &mut self.positions[pi as usize];
        p.listed = true;
        let realized = mult.apply(p.ledger.trade(method, qty, price).0);
        let fee = fee
            .checked_mul(i128::from(UNIT))
            .unwrap_or_else(|| out_of_bounds());
        p.realized = add(p.realized, realized);
        p.fees = add(p.fees, fee);
        if p.priced
            && let Some(c) = self.groups[p.group as usize].conv
        {
            let (dr, df) = (c.apply(realized), c.apply(fee));
            p.realized_base = add(p.realized_base, dr);
            p.fees_base = add(p.fees_base, df);
            let ch = self.change(account);
            ch.realized_pnl = add(ch.realized_pnl, dr);
            ch.fees = add(ch.fees, df);
            ch.day_pnl = add(ch.day_pnl, sub(dr, df));
        }
        self.touch_pos(pi, seq);
    }

    /// The slot of (account, instrument), created on first use.
    fn slot(&mut self, account: AccountId, base: CurrencyId, instrument: InstrumentId) -> u32 {
        if let Some(&pi) = self.by_key.get(&(account, instrument)) {
            return pi;
        }
        let currency = self.instruments[instrument.index()].currency;
        let group = self.group_index(currency, base);
        let pi = u32::try_from(self.positions.len()).unwrap_or(u32::MAX);
        self.positions.push(Position {
            account,
            instrument,
            base,
            group,
            ledger: Ledger::default(),
            realized: 0,
            fees: 0,
            realized_base: 0,
            fees_base: 0,
            baseline: 0,
            baseline_base: 0,
            mv_base: 0,
            unreal_base: 0,
            priced: false,
            listed: true,
            dirty: false,
            seq: 0,
        });
        self.by_key.insert((account, instrument), pi);
        self.instruments[instrument.index()].positions.push(pi);
        self.groups[group as usize].positions.push(pi);
        self.change(account).unpriced += 1;
        self.acc_base[account.index()] = base;
        pi
    }

    pub(crate) fn group_index(&mut self, from: CurrencyId, to: CurrencyId) -> u32 {
        if let Some(&g) = self.group_of.get(&(from, to)) {
            return g;
        }
        let g = u32::try_from(self.groups.len()).unwrap_or(u32::MAX);
        self.groups.push(Group {
            from,
            to,
            conv: self.fx.conversion(from, to),
            positions: Vec::new(),
            dirty: false,
            seq: 0,
        });
        self.group_of.insert((from, to), g);
        g
    }

    /// Turns an unpriced position priced once its group has a rate: its
    /// realized P&L, fees and day baseline so far convert at this first rate.
    pub(crate) fn price_if_possible(&mut self, pi: u32) {
        let p = &self.positions[pi as usize];
        if p.priced {
            return;
        }
        let Some(c) = self.groups[p.group as usize].conv else {
            return;
        };
        let account = p.account;
        let p = &mut self.positions[pi as usize];
        p.priced = true;
        p.realized_base = c.apply(p.realized);
        p.fees_base = c.apply(p.fees);
        p.baseline_base = c.apply(p.baseline);
        let (r, f, b) = (p.realized_base, p.fees_base, p.baseline_base);
        let ch = self.change(account);
        ch.unpriced -= 1;
        ch.realized_pnl = add(ch.realized_pnl, r);
        ch.fees = add(ch.fees, f);
        ch.day_pnl = add(ch.day_pnl, sub(sub(r, f), b));
    }

    fn fx(&mut self, seq: u64, base: CurrencyId, quote: CurrencyId, rate: Rate) {
        self.fx.set(base, quote, rate);
        for gi in 0..self.groups.len() {
            let g = &mut self.groups[gi];
            let conv = self.fx.conversion(g.from, g.to);
            if conv != g.conv {
                let first = g.conv.is_none();
                g.conv = conv;
                if first {
                    // The first usable rate prices the group's positions now,
                    // not at the next flush, so a later rate in the same batch
                    // cannot stand in for it.
                    for k in 0..self.groups[gi].positions.len() {
                        let pi = self.groups[gi].positions[k];
                        self.price_if_possible(pi);
                    }
                }
                let g = &mut self.groups[gi];
                g.seq = seq;
                if !g.dirty {
                    g.dirty = true;
                    self.dirty_groups.push(u32::try_from(gi).unwrap_or(u32::MAX));
                }
            }
        }
    }

    fn split(&mut self, seq: u64, instrument: InstrumentId, ratio: Rate) {
        let inst = self.inst_mut(instrument);
        inst.mark = i64::try_from(split_price(inst.mark, ratio)).unwrap_or(inst.mark);
        let held = inst.positions.clone();
        self.touch_inst(instrument, seq);
        for pi in held {
            self.positions[pi as usize].ledger.split(ratio);
            self.touch_pos(pi, seq);
        }
    }

    fn eod(&mut self, seq: u64, date: Date) {
        self.reprice_dirty();
        let states = (0..self.positions.len())
            .filter(|&i| self.positions[i].listed)
            .filter_map(|i| u32::try_from(i).ok())
            .map(|pi| self.position_state(pi))
            .collect();
        self.out_eod.push((date, seq, states));
        for pi in 0..self.positions.len() {
            if !self.positions[pi].listed {
                continue;
            }
            let pi = u32::try_from(pi).unwrap_or(u32::MAX);
            let (net, net_base) = self.net(pi);
            let p = &mut self.positions[pi as usize];
            p.baseline = net;
            let account = p.account;
            if p.priced {
                let day = sub(net_base, p.baseline_base);
                p.baseline_base = net_base;
                let ch = self.change(account);
                ch.day_pnl = sub(ch.day_pnl, day);
            }
            self.touch_pos(pi, seq);
            let p = &self.positions[pi as usize];
            if p.priced && p.ledger.qty() == Quantity::ZERO {
                self.roll_closed(pi, date);
            }
        }
    }

    /// Moves a flat, priced position into the closed history and frees its
    /// slot for a new position; the account totals keep what it realized.
    fn roll_closed(&mut self, pi: u32, date: Date) {
        let position = self.position_state(pi);
        let closed = ClosedPosition {
            date,
            position: position.clone(),
        };
        self.closed.push(closed.clone());
        self.out_closed.push(closed);
        if self.emit_positions {
            self.out_positions.push(PositionDelta {
                state: position,
                closed: true,
            });
        }
        let p = &mut self.positions[pi as usize];
        p.ledger = Ledger::default();
        (p.realized, p.fees, p.realized_base, p.fees_base) = (0, 0, 0, 0);
        (p.baseline, p.baseline_base, p.mv_base, p.unreal_base) = (0, 0, 0, 0);
        p.listed = false;
    }

    /// The exact net P&L in instrument currency and (when priced) in base.
    pub(crate) fn net(&self, pi: u32) -> (i128, i128) {
        let p = &self.positions[pi as usize];
        let inst = &self.instruments[p.instrument.index()];
        let q = i128::from(p.ledger.qty().raw());
        let unreal = inst
            .multiplier
            .apply(sub(i128::from(inst.mark) * q, p.ledger.cost().0));
        (
            sub(add(p.realized, unreal), p.fees),
            sub(add(p.realized_base, p.unreal_base), p.fees_base),
        )
    }
}
