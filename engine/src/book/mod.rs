//! A shard's books: the positions of the instruments routed to it, their
//! marks, the FX rates, and the indexes that keep every update incremental.
//!
//! - instrument → its holders, contiguous (`holders`): a tick reprices only
//!   the positions holding it, in one pass over one array;
//! - (currency, base) → positions ("conversion groups"): an FX tick reprices
//!   only the positions whose conversion rate changed;
//! - the owned books' totals move in place by each change, never by
//!   re-summing (accounts, with their books, are partitioned over shards,
//!   see `partition`); an account's totals are the sum of its books'
//!   (`links`), the firm's are kept in part by each shard (`firm`).
//!
//! Events only *mark* positions dirty; [`Book::flush`] reprices each dirty
//! position once. Realized P&L and fees are converted at the moment they
//! occur, so deferring the repricing changes no figure, only how often
//! deltas are sent: flushing after every event gives per-tick deltas,
//! flushing per batch coalesces them.

mod cold;
mod firm;
mod flush;
mod fx_cost;
pub(crate) mod holders;
mod holding;
mod income;
mod links;
mod marks;
mod sweeps;
pub(crate) mod totals;
mod trade;

pub(crate) use cold::{Amounts, Cross, CrossId, Position};
pub use firm::FirmSums;
pub use flush::{EodCapture, Segment, ShardOutput};
pub(crate) use income::Income;
pub use marks::MarkCapture;
pub(crate) use trade::NewPosition;

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::book_index::BookIndex;
use crate::fx::{Conversion, FxRates};
use crate::ids::AccountId;
use crate::ids::{CurrencyId, InstrumentId};
use crate::interest::{Interest, InterestView};
use crate::lean::{Chunked, grow_to};
use crate::num::{Multiplier, add, sub};
use crate::op::{Op, SeqOp};
use crate::partition::Owner;
use crate::state::{ClosedPosition, PositionDelta};
use firm::Firm;
use holders::{GroupId, Holder, SlotId, Valuation};
use links::BookLinks;
use totals::BookTotals;
use trade::TradeOp;

/// An instrument as a shard knows it, with its holders (hot) and the slot
/// of each holder's cold record (same order).
#[derive(Clone, Debug)]
pub(crate) struct Inst {
    pub(crate) currency: CurrencyId,
    pub(crate) multiplier: Multiplier,
    /// Raw mark price (valid when `has_mark`).
    pub(crate) mark: i64,
    /// The mark the account totals reflect: `mark` as of the last flush
    /// (see `holders`).
    pub(crate) applied: i64,
    pub(crate) has_mark: bool,
    /// Once a tick arrived, trades stop moving the mark.
    pub(crate) has_tick: bool,
    pub(crate) holders: Vec<Holder>,
    /// The holders in another currency than their base, with the base
    /// values the totals include (see `holders::CrossHolder`).
    pub(crate) cross: Vec<holders::CrossHolder>,
    pub(crate) slots: Vec<SlotId>,
    pub(crate) dirty: bool,
    /// The last op that moved the mark (or split): every listed holder
    /// changed with it.
    pub(crate) seq: u64,
}

impl Default for Inst {
    fn default() -> Self {
        Self {
            currency: CurrencyId::USD,
            multiplier: Multiplier::ONE,
            mark: 0,
            applied: 0,
            has_mark: false,
            has_tick: false,
            holders: Vec::new(),
            cross: Vec::new(),
            slots: Vec::new(),
            dirty: false,
            seq: 0,
        }
    }
}

/// Positions sharing one (instrument currency, base currency) conversion;
/// the conversion itself is in `Book::convs` (the tick loop reads it).
#[derive(Clone, Debug)]
pub(crate) struct Group {
    pub(crate) from: CurrencyId,
    pub(crate) to: CurrencyId,
    pub(crate) positions: Vec<SlotId>,
    pub(crate) dirty: bool,
    /// The last FX op that changed the conversion.
    pub(crate) seq: u64,
}

/// The books one shard owns. Single-threaded; a shard worker drives it.
#[derive(Debug)]
pub struct Book {
    pub(crate) emit_positions: bool,
    /// Whose position states a flush emits (see `interest`), and this
    /// shard's copy of it.
    pub(crate) interest: Option<Arc<Interest>>,
    pub(crate) wanted: InterestView,
    pub(crate) instruments: Vec<Inst>,
    pub(crate) positions: Chunked<Position>,
    /// The base-currency amounts of the positions held in another currency
    /// than their account's base (see `cold`).
    pub(crate) cross: Chunked<Cross>,
    /// The dividend income of the positions ever paid one (see `income`).
    pub(crate) income: FxHashMap<SlotId, Income>,
    pub(crate) by_key: BookIndex<SlotId>,
    pub(crate) fx: FxRates,
    pub(crate) groups: Vec<Group>,
    /// Each group's conversion at the latest rate (`None` until a rate
    /// exists), by group: what realized P&L and fees convert at.
    pub(crate) convs: Vec<Option<Conversion>>,
    /// Each group's conversion as the account totals reflect it (as of
    /// the last flush): what the tick loop values holders at.
    pub(crate) applied_convs: Vec<Option<Conversion>>,
    /// Each group's kind (fixed by its currencies).
    pub(crate) group_kinds: Vec<holders::ConvKind>,
    pub(crate) group_of: FxHashMap<(CurrencyId, CurrencyId), GroupId>,
    pub(crate) closed: Vec<ClosedPosition>,
    pub(crate) dirty_inst: Vec<InstrumentId>,
    pub(crate) dirty_groups: Vec<GroupId>,
    pub(crate) dirty_pos: Vec<SlotId>,
    /// The accounts whose positions and totals this book holds.
    pub(crate) owner: Owner,
    /// The owned books' totals, moved in place.
    pub(crate) totals: BookTotals,
    /// Each owned book's account, and each account's books.
    pub(crate) links: BookLinks,
    /// This shard's part of the firm's totals.
    pub(crate) firm: Firm,
    /// The accounts a flush already reports (by account id), and their
    /// list: reused buffers.
    pub(crate) account_dirty: Vec<bool>,
    pub(crate) dirty_accounts: Vec<AccountId>,
    /// Whether flushes report the changed totals (a sink may not want them).
    pub(crate) emit_totals: bool,
    pub(crate) out_positions: Vec<PositionDelta>,
    /// The states each EOD captured, until the next flush sends them.
    pub(crate) out_eod: Vec<flush::EodCapture>,
    /// Positions rolled into history since the last flush.
    pub(crate) out_closed: Vec<ClosedPosition>,
    /// The books changed since the last P&L history mark (`None` before
    /// the first: it takes every book).
    pub(crate) marks: Option<marks::MarkTrack>,
    /// The history marks captured, until the next flush sends them.
    pub(crate) out_marks: Vec<MarkCapture>,
    /// The lots the next trade closes first (its `close_lots`, from the
    /// `Op::Pick`s just before it), by opening seq: a reused buffer.
    pub(crate) picks: Vec<u64>,
    pub(crate) seq: u64,
}

impl Book {
    /// Empty books; `emit_positions` says whether flushes produce
    /// per-position deltas (account totals are always produced). Each
    /// trade carries its account's cost method.
    #[must_use]
    pub fn new(emit_positions: bool) -> Self {
        Self {
            emit_positions,
            interest: None,
            wanted: InterestView::default(),
            instruments: Vec::new(),
            positions: Chunked::default(),
            cross: Chunked::default(),
            income: FxHashMap::default(),
            by_key: BookIndex::default(),
            fx: FxRates::default(),
            groups: Vec::new(),
            convs: Vec::new(),
            applied_convs: Vec::new(),
            group_kinds: Vec::new(),
            group_of: FxHashMap::default(),
            closed: Vec::new(),
            dirty_inst: Vec::new(),
            dirty_groups: Vec::new(),
            dirty_pos: Vec::new(),
            owner: Owner::ALL,
            totals: BookTotals::default(),
            links: BookLinks::default(),
            firm: Firm::default(),
            account_dirty: Vec::new(),
            dirty_accounts: Vec::new(),
            emit_totals: true,
            out_positions: Vec::new(),
            out_eod: Vec::new(),
            out_closed: Vec::new(),
            marks: None,
            out_marks: Vec::new(),
            picks: Vec::new(),
            seq: 0,
        }
    }

    /// Flushes emit position states only for the accounts `interest`
    /// wants (without one, for every account).
    #[must_use]
    pub fn with_interest(mut self, interest: Arc<Interest>) -> Self {
        self.interest = Some(interest);
        self
    }

    /// These books as shard `owner.shard` of `owner.shards`: only the
    /// accounts partitioned to it are kept (see `partition`).
    #[must_use]
    pub const fn owning(mut self, owner: Owner) -> Self {
        self.owner = owner;
        self
    }

    /// Whether flushes report changed account totals (default yes); off
    /// when the sink does not want them, which makes an every-tick flush
    /// nearly free.
    #[must_use]
    pub const fn reporting_totals(mut self, on: bool) -> Self {
        self.emit_totals = on;
        self
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
                if inst.holders.is_empty() {
                    inst.currency = currency;
                    inst.multiplier = multiplier;
                }
            }
            Op::Trade {
                account,
                book,
                base,
                instrument,
                qty,
                price,
                fee,
                method,
            } => self.trade(
                seq,
                TradeOp {
                    account,
                    book,
                    base,
                    instrument,
                    qty,
                    price,
                    fee: i128::from(fee.raw()),
                    method,
                },
            ),
            Op::Tick { instrument, price } => {
                let inst = self.inst_mut(instrument);
                inst.mark = price.raw();
                inst.has_mark = true;
                inst.has_tick = true;
                self.touch_inst(instrument, seq);
            }
            Op::Fx { base, quote, rate } => self.fx(seq, base, quote, rate),
            Op::Eod { date } => self.eod(seq, date),
            Op::Mark { at, coarse } => self.history_mark(seq, at, coarse),
            Op::Pick { opened, .. } => self.picks.push(opened),
            Op::Split { instrument, ratio } => self.split(seq, instrument, ratio),
            Op::Dividend { instrument, amount } => self.dividend(seq, instrument, amount),
        }
    }

    pub(crate) fn inst_mut(&mut self, id: InstrumentId) -> &mut Inst {
        if self.instruments.len() <= id.index() {
            grow_to(&mut self.instruments, id.index() + 1, Inst::default);
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

    pub(crate) fn touch_pos(&mut self, slot: SlotId, seq: u64) {
        let p = &mut self.positions[slot.index()];
        p.seq = seq;
        if !p.dirty {
            p.dirty = true;
            self.dirty_pos.push(slot);
        }
    }

    /// The hot record of a position.
    pub(crate) fn hot(&self, slot: SlotId) -> &Holder {
        let p = &self.positions[slot.index()];
        &self.instruments[p.instrument.index()].holders[p.holder.index()]
    }

    pub(crate) fn hot_mut(&mut self, slot: SlotId) -> &mut Holder {
        let p = &self.positions[slot.index()];
        &mut self.instruments[p.instrument.index()].holders[p.holder.index()]
    }

    /// A position's value in base as its book's totals include it (at
    /// the applied mark and rate; after a flush, the current ones).
    pub(crate) fn base_value(&self, slot: SlotId) -> Valuation {
        let p = &self.positions[slot.index()];
        let inst = &self.instruments[p.instrument.index()];
        let h = &inst.holders[p.holder.index()];
        let conv = self.applied_convs[h.group.index()];
        Valuation::in_base(inst.applied, h.qty, h.cost, inst.multiplier, conv)
    }

    /// The last seq that changed a position: its own last trade, split or
    /// EOD, or (while listed) the last op that moved its instrument's mark
    /// or its group's rate, whichever is later.
    pub(crate) fn position_seq(&self, slot: SlotId) -> u64 {
        let p = &self.positions[slot.index()];
        let inst = self.instruments[p.instrument.index()].seq;
        self.seq_with(p, inst, self.hot(slot).group)
    }

    /// [`Book::position_seq`] from the cold record, its instrument's last
    /// seq and its group (for a caller that holds them already).
    pub(crate) fn seq_with(&self, p: &Position, inst_seq: u64, group: GroupId) -> u64 {
        if p.listed {
            p.seq.max(inst_seq).max(self.groups[group.index()].seq)
        } else {
            p.seq
        }
    }

    /// The exact net P&L in instrument currency and (when priced) in base.
    pub(crate) fn net(&self, slot: SlotId) -> (i128, i128) {
        let p = &self.positions[slot.index()];
        let inst = &self.instruments[p.instrument.index()];
        let h = self.hot(slot);
        let v = Valuation::at(inst.mark, h.qty, h.cost, inst.multiplier);
        let b = self.base_amounts(slot);
        let income = self.income_of(slot);
        (
            sub(add(add(p.realized, v.unrealized), income.local), p.fees),
            sub(
                add(add(b.realized, self.base_value(slot).unrealized), income.base),
                b.fees,
            ),
        )
    }
}
