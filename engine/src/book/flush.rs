//! Repricing and output of a shard's books: what [`Book::flush`] sends to the
//! aggregator, and the position states a snapshot reads.

use super::firm::FirmSums;
use super::fx_cost::fx_open;
use super::holders::{Applied, ConvKind, GroupId, Run, SlotId, Valuation, reprice_holders};
use super::links::BookLinks;
use super::marks::MarkCapture;
use super::totals::Totals;
use super::{Inst, Position};
use crate::book::Book;
use crate::ids::{AccountId, BookId};
use crate::interest::InterestView;
use crate::lean::Chunked;
use crate::ledger::avg_cost;
use crate::num::{Notional, Price, Quantity, add, sub};
use crate::state::{
    BaseValues, BookState, ClosedPosition, PortfolioState, PositionDelta, PositionState, SoleBook,
};
use crate::time::Date;

/// Every listed position as of one EOD (before the day baselines reset).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EodCapture {
    /// The EOD's date.
    pub date: Date,
    /// The EOD's seq.
    pub seq: u64,
    /// The shard's listed positions at that EOD.
    pub states: Vec<PositionState>,
}

/// Where one flush ends in a [`ShardOutput`] that holds several (every-tick
/// mode sends the flushes of a whole batch in one message).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment {
    /// The last `seq` the shard had applied at this flush.
    pub seq: u64,
    /// End (exclusive) of this flush's entries in `portfolios`.
    pub portfolios: usize,
    /// End (exclusive) of this flush's entries in `books`.
    pub books: usize,
    /// End (exclusive) of this flush's entries in `sole`.
    pub sole: usize,
    /// End (exclusive) of this flush's entries in `positions`.
    pub positions: usize,
    /// How many books' totals this flush changed (reported or not).
    pub changed: usize,
    /// This flush changed the shard's part of the firm: it is the next
    /// entry of `ShardOutput::firm` (kept apart, so a segment stays small).
    pub firm: bool,
}

/// What one or more flushes of a shard produce, in order. Its buffers are
/// reused: the aggregator hands an emptied output back to the shard (see
/// [`ShardOutput::clear`]), so a flush allocates nothing in steady state.
#[derive(Debug, Default)]
pub struct ShardOutput {
    /// One entry per flush, in order; each is published on its own.
    pub segments: Vec<Segment>,
    /// The new totals of the accounts that changed, flush after flush
    /// (empty when the book does not report totals).
    pub portfolios: Vec<PortfolioState>,
    /// The new totals of the books that changed, likewise (of accounts
    /// with several books: an account's only book is in `sole`).
    pub books: Vec<BookState>,
    /// The changed books that are their account's only one, as their
    /// account's portfolio entry.
    pub sole: Vec<SoleBook>,
    /// The shard's part of the firm after each flush that changed it.
    pub firm: Vec<FirmSums>,
    /// New states of the positions that changed (empty unless enabled).
    pub positions: Vec<PositionDelta>,
    /// Each EOD applied.
    pub eod: Vec<EodCapture>,
    /// Positions an EOD moved to the closed history.
    pub closed: Vec<ClosedPosition>,
    /// Each P&L history mark applied (this shard's part of it).
    pub marks: Vec<MarkCapture>,
    /// When the oldest op of the batch behind this output entered the
    /// engine (`clock::now_ns`; 0 = not measured): tick→delta latency.
    pub t_in: u64,
}

impl ShardOutput {
    /// True when the flushes produced nothing to send.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.segments.iter().all(|s| s.changed == 0 && !s.firm)
            && self.positions.is_empty()
            && self.eod.is_empty()
            && self.closed.is_empty()
            && self.marks.is_empty()
    }

    /// The last `seq` the shard had applied (0 before any flush).
    #[must_use]
    pub fn seq(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.seq)
    }

    /// Empties every list, keeping their capacity for the next flush.
    pub fn clear(&mut self) {
        self.segments.clear();
        self.portfolios.clear();
        self.books.clear();
        self.sole.clear();
        self.firm.clear();
        self.positions.clear();
        self.eod.clear();
        self.closed.clear();
        self.marks.clear();
        self.t_in = 0;
    }
}

impl Book {
    /// Reprices every dirty position once and returns the changes to send.
    pub fn flush(&mut self) -> ShardOutput {
        let mut out = ShardOutput::default();
        self.flush_into(&mut out);
        out
    }

    /// [`flush`](Self::flush) appended to `out` as one more segment, reusing
    /// its buffers.
    pub fn flush_into(&mut self, out: &mut ShardOutput) {
        self.reprice_dirty();
        // The firm's figures are a function of the books' state: with no
        // sink for totals they are settled only when a cut reads them.
        let firm = if self.emit_totals {
            self.settle_firm(true);
            self.firm_change()
        } else {
            None
        };
        if let Some(track) = self.marks.as_mut() {
            self.totals.dirty.iter().for_each(|&b| track.note(b));
        }
        let (totals, seq) = (&mut self.totals, self.seq);
        let changed = totals.dirty.len();
        for &b in &totals.dirty {
            let t = &mut totals.by_book[b.index()];
            t.dirty = false;
            t.seq = t.seq.max(seq);
            if self.emit_totals {
                let account = self.links.account(b);
                let state = t.state(account);
                if self.links.only_book(account, b) {
                    // The account's totals are this book's: sent once.
                    let portfolio =
                        u32::try_from(out.portfolios.len()).unwrap_or_else(|_| crate::num::out_of_bounds());
                    out.sole.push(SoleBook { book: b, portfolio });
                    out.portfolios.push(state);
                    continue;
                }
                if !self.account_dirty[account.index()] {
                    self.account_dirty[account.index()] = true;
                    self.dirty_accounts.push(account);
                }
                out.books.push(BookState {
                    book: b,
                    totals: state,
                });
            }
        }
        totals.dirty.clear();
        for &a in &self.dirty_accounts {
            self.account_dirty[a.index()] = false;
            out.portfolios.push(self.account_state(a));
        }
        self.dirty_accounts.clear();
        out.firm.extend(firm);
        out.positions.append(&mut self.out_positions);
        out.eod.append(&mut self.out_eod);
        out.closed.append(&mut self.out_closed);
        out.marks.append(&mut self.out_marks);
        out.segments.push(Segment {
            seq: self.seq,
            portfolios: out.portfolios.len(),
            books: out.books.len(),
            sole: out.sole.len(),
            positions: out.positions.len(),
            changed,
            firm: firm.is_some(),
        });
    }

    /// An account's totals: the sum of its books' in this shard.
    pub(crate) fn account_state(&self, account: AccountId) -> PortfolioState {
        let mut sum = Totals::default();
        for b in self.links.books_of(account) {
            sum.add(&self.totals.by_book[b.index()]);
        }
        sum.state(account)
    }

    /// Moves the holders of dirty instruments to their current marks (one
    /// pass each), then the positions of dirty groups to their current
    /// rates; with position deltas on, records the state of every
    /// position a trade, split, EOD, mark or rate changed, each once.
    /// (A trade or split already moved its account's totals, at the
    /// applied mark: see [`Book::set_holding`].)
    pub(crate) fn reprice_dirty(&mut self) {
        if let Some(interest) = &self.interest {
            self.wanted.refresh(interest);
        }
        let mut touched = std::mem::take(&mut self.dirty_pos);
        let ids = std::mem::take(&mut self.dirty_inst);
        let applied = Applied {
            convs: &self.applied_convs,
            kinds: &self.group_kinds,
            all_identity: self.group_kinds.iter().all(|&k| k == ConvKind::Identity),
        };
        for &id in &ids {
            let inst = &mut self.instruments[id.index()];
            inst.dirty = false;
            let run = Run {
                holders: &inst.holders,
                cross: &mut inst.cross,
            };
            reprice_holders(
                run,
                inst.applied,
                inst.mark,
                inst.multiplier,
                applied,
                &mut self.totals,
            );
            inst.applied = inst.mark;
            if self.emit_positions {
                mark_wanted(&mut self.positions, inst, &self.links, &self.wanted, &mut touched);
            }
        }
        self.dirty_inst = ids;
        self.dirty_inst.clear();
        for gi in std::mem::take(&mut self.dirty_groups) {
            self.reprice_group(gi);
            let g = &mut self.groups[gi.index()];
            g.dirty = false;
            mark_listed(&mut self.positions, &g.positions, &mut touched);
        }
        for &slot in &touched {
            self.positions[slot.index()].dirty = false;
            self.price_if_possible(slot);
            if self.emit_positions
                && self.positions[slot.index()].listed
                && self.wanted.wants(self.account_of(slot))
            {
                let state = self.position_state(slot);
                self.out_positions.push(PositionDelta { state, closed: false });
            }
        }
        touched.clear();
        self.dirty_pos = touched;
    }

    /// Moves a group's listed positions from its applied conversion to its
    /// current one (at their instruments' marks, already current).
    fn reprice_group(&mut self, gi: GroupId) {
        let (from, to) = (self.applied_convs[gi.index()], self.convs[gi.index()]);
        let g = &self.groups[gi.index()];
        for &slot in &g.positions {
            let p = &self.positions[slot.index()];
            if !p.listed {
                continue;
            }
            let inst = &self.instruments[p.instrument.index()];
            let h = &inst.holders[p.holder.index()];
            let (mark, mult) = (inst.applied, inst.multiplier);
            let (book, cost) = (h.book, h.cost);
            let before = Valuation::in_base(mark, h.qty, cost, mult, from);
            let after = Valuation::in_base(mark, h.qty, cost, mult, to);
            let fx = match p.cross {
                Some(c) => {
                    let cross = self.cross[c.index()];
                    let entry = &mut self.instruments[p.instrument.index()].cross[cross.entry as usize];
                    debug_assert_eq!(entry.value, before, "a cross holder's kept base values");
                    entry.value = after;
                    if p.priced {
                        sub(
                            fx_open(to, mult, cost, cross.cost_base),
                            fx_open(from, mult, cost, cross.cost_base),
                        )
                    } else {
                        0
                    }
                }
                None => 0,
            };
            self.totals.shift(book, before, after);
            if fx != 0 {
                self.totals.add_fx(book, fx);
            }
        }
        self.applied_convs[gi.index()] = to;
    }

    /// A position's full state (call after a flush, so base values are current).
    #[must_use]
    pub(crate) fn position_state(&self, slot: SlotId) -> PositionState {
        let p = &self.positions[slot.index()];
        let inst = &self.instruments[p.instrument.index()];
        let h = self.hot(slot);
        let v = Valuation::at(inst.mark, h.qty, h.cost, inst.multiplier);
        let b = self.base_value(slot);
        let amounts = self.base_amounts(slot);
        let income = self.income_of(slot);
        let net = sub(add(add(p.realized, v.unrealized), income.local), p.fees);
        PositionState {
            account: self.links.account(h.book),
            book: h.book,
            instrument: p.instrument,
            currency: inst.currency,
            base_currency: self.groups[h.group.index()].to,
            qty: Quantity::from_raw(h.qty),
            avg_cost: avg_cost(h.qty, h.cost),
            mark: Price::from_raw(inst.mark),
            market_value: Notional(v.market_value),
            realized_pnl: Notional(p.realized),
            unrealized_pnl: Notional(v.unrealized),
            fees: Notional(p.fees),
            income: Notional(income.local),
            net_pnl: Notional(net),
            day_pnl: Notional(sub(net, p.baseline)),
            base: p.priced.then(|| BaseValues {
                market_value: Notional(b.market_value),
                realized_pnl: Notional(amounts.realized),
                unrealized_pnl: Notional(b.unrealized),
                fees: Notional(amounts.fees),
                income: Notional(income.base),
                net_pnl: Notional(sub(
                    add(add(amounts.realized, b.unrealized), income.base),
                    amounts.fees,
                )),
                cost: Notional(match p.cross {
                    Some(c) => self.cross[c.index()].cost_base,
                    None => inst.multiplier.apply(h.cost),
                }),
                fx_pnl: Notional(self.fx_pnl(slot)),
            }),
            seq: self.position_seq(slot),
        }
    }

    /// Every listed position's state, in slot order. Flush first.
    #[must_use]
    pub fn positions(&self) -> Vec<PositionState> {
        self.listed().map(|slot| self.position_state(slot)).collect()
    }

    /// The listed positions of `accounts` (those this shard owns), in
    /// account, then book, then instrument order. Flush first.
    #[must_use]
    pub fn positions_of(&self, accounts: &[AccountId]) -> Vec<PositionState> {
        accounts
            .iter()
            .flat_map(|&a| self.books_in_order(a))
            .flat_map(|b| self.by_key.of_book(b))
            .filter(|slot| self.positions[slot.index()].listed)
            .map(|slot| self.position_state(slot))
            .collect()
    }

    /// `account`'s books here, by book id.
    fn books_in_order(&self, account: AccountId) -> Vec<BookId> {
        let mut books: Vec<BookId> = self.links.books_of(account).collect();
        books.sort_unstable();
        books
    }

    /// The totals of every account this shard owns (each the sum of its
    /// books'), by account id. Flush first.
    #[must_use]
    pub fn portfolios(&self) -> Vec<PortfolioState> {
        (0..self.links.account_slots())
            .map(AccountId::from_index)
            .filter(|&a| self.links.books_of(a).next().is_some())
            .map(|a| self.account_state(a))
            .collect()
    }

    /// The totals of every book this shard owns, by book id. Flush first.
    #[must_use]
    pub fn books(&self) -> Vec<BookState> {
        (0..self.totals.by_book.len())
            .filter(|&i| self.totals.by_book[i].known)
            .map(|i| {
                let book = BookId::from_index(i);
                BookState {
                    book,
                    totals: self.totals.by_book[i].state(self.links.account(book)),
                }
            })
            .collect()
    }

    /// The account a position belongs to.
    pub(crate) fn account_of(&self, slot: SlotId) -> AccountId {
        self.links.account(self.hot(slot).book)
    }

    /// The closed-position history this shard rolled, oldest first.
    #[must_use]
    pub fn closed(&self) -> &[ClosedPosition] {
        &self.closed
    }

    /// How many listed positions hold a nonzero quantity.
    #[must_use]
    pub fn open_positions(&self) -> usize {
        self.instruments
            .iter()
            .flat_map(|inst| inst.holders.iter().zip(&inst.slots))
            .filter(|(h, slot)| h.qty != 0 && self.positions[slot.index()].listed)
            .count()
    }
}

/// Adds each listed slot of `slots` not yet marked to `touched`.
/// Marks the listed holders of a repriced instrument whose account is
/// wanted, for their states to go out.
fn mark_wanted(
    positions: &mut Chunked<Position>,
    inst: &Inst,
    links: &BookLinks,
    wanted: &InterestView,
    touched: &mut Vec<SlotId>,
) {
    for (h, &slot) in inst.holders.iter().zip(&inst.slots) {
        let p = &mut positions[slot.index()];
        if p.listed && !p.dirty && wanted.wants(links.account(h.book)) {
            p.dirty = true;
            touched.push(slot);
        }
    }
}

fn mark_listed(positions: &mut Chunked<Position>, slots: &[SlotId], touched: &mut Vec<SlotId>) {
    for &slot in slots {
        let p = &mut positions[slot.index()];
        if p.listed && !p.dirty {
            p.dirty = true;
            touched.push(slot);
        }
    }
}
