//! Images: the complete, shard-independent state of the engine at one `seq`,
//! as plain data that `store::snapshot_codec` encodes into a snapshot. A book image is taken
//! from each shard at a barrier and merged; restoring splits it again by
//! instrument, so a snapshot taken with 4 shards restores into 2.

use crate::book::holders::{Holder, HolderIdx, SlotId};
use crate::book::totals::Totals;
use crate::book::{Amounts, Book, FirmSums, Inst, NewPosition};
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId};
use std::collections::VecDeque;

use crate::ledger::Lot;
use crate::num::{Multiplier, Rate};
use crate::partition::Owner;
use crate::state::PortfolioState;
use crate::trade_ids::TradeIdArena;

/// An instrument's state in a shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstImage {
    /// Instrument id.
    pub id: u32,
    /// Currency id.
    pub currency: u32,
    /// Multiplier, raw.
    pub multiplier: i64,
    /// Mark, raw.
    pub mark: i64,
    /// A mark exists.
    pub has_mark: bool,
    /// A tick arrived (trades no longer move the mark).
    pub has_tick: bool,
    /// How many positions of the image hold it (sizes a restore).
    pub holders: u32,
    /// Last seq that moved the mark.
    pub seq: u64,
}

/// One open lot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LotImage {
    /// Signed quantity, raw.
    pub qty: i64,
    /// Signed exact cost.
    pub cost: i128,
    /// Its cost in base at the rate it was opened at (cross-currency only).
    pub cost_base: i128,
    /// The seq of the trade that opened it (0: unknown).
    pub opened: u64,
}

impl PositionImage {
    /// The position's ledger: its quantity, cost, base cost and lots.
    #[must_use]
    pub fn ledger(&self) -> crate::ledger::Ledger {
        let lots: VecDeque<Lot> = self
            .lots
            .iter()
            .map(|l| Lot {
                qty: l.qty,
                cost: l.cost,
                cost_base: l.cost_base,
                opened: l.opened,
            })
            .collect();
        crate::ledger::Ledger::from_parts(crate::ledger::LedgerParts {
            qty: self.qty,
            cost: self.cost,
            cost_base: self.cost_base,
            lots: lots.into(),
        })
    }
}

/// A position slot, every field the book keeps.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields mirror book::Position one to one")]
pub struct PositionImage {
    pub account: u32,
    pub book: u32,
    pub instrument: u32,
    pub base: u32,
    pub qty: i64,
    pub cost: i128,
    pub lots: Vec<LotImage>,
    pub realized: i128,
    pub fees: i128,
    pub realized_base: i128,
    pub fees_base: i128,
    pub baseline: i128,
    pub baseline_base: i128,
    pub income: i128,
    pub income_base: i128,
    pub cost_base: i128,
    pub fx_realized: i128,
    pub mv_base: i128,
    pub unreal_base: i128,
    pub priced: bool,
    pub listed: bool,
    pub seq: u64,
}

/// Where a restore reads the positions of an image from: the image's own
/// list, or a stored snapshot's chunks decoded as they are read (so a
/// million positions are never all decoded at once). Each restoring
/// thread (a shard, the sequencer) reads them in order.
pub trait Positions: Sync {
    /// What stops a read (nothing, for a list in memory).
    type Error: Send;

    /// Calls `f` on every position, in order.
    fn each(&self, f: &mut dyn FnMut(&PositionImage)) -> Result<(), Self::Error>;
}

impl Positions for [PositionImage] {
    type Error = std::convert::Infallible;

    fn each(&self, f: &mut dyn FnMut(&PositionImage)) -> Result<(), Self::Error> {
        self.iter().for_each(f);
        Ok(())
    }
}

/// One FX pair's latest rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FxImage {
    /// Base currency id.
    pub base: u32,
    /// Quote currency id.
    pub quote: u32,
    /// Rate, raw.
    pub rate: i64,
}

/// The books of one shard, or of all shards merged.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookImage {
    /// Instruments with any state.
    pub instruments: Vec<InstImage>,
    /// Position slots.
    pub positions: Vec<PositionImage>,
    /// FX rates (the same in every shard).
    pub fx: Vec<FxImage>,
    /// The positions carry their base costs (`book/fx_cost.rs`): false for
    /// a snapshot written before the FX attribution, whose cross-currency
    /// positions then take their base cost at the rate of the restore.
    pub fx_costs: bool,
}

/// A book's totals.
#[derive(Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields mirror state::PortfolioState")]
pub struct PortfolioImage {
    pub account: u32,
    pub book: u32,
    pub base: u32,
    pub unpriced: i64,
    pub market_value: i128,
    pub realized_pnl: i128,
    pub unrealized_pnl: i128,
    pub fees: i128,
    pub income: i128,
    pub fx_pnl: i128,
    pub day_pnl: i128,
    pub seq: u64,
}

impl PortfolioImage {
    /// From a book's totals.
    #[must_use]
    pub fn of(book: BookId, p: &PortfolioState) -> Self {
        Self {
            account: p.account.0,
            book: book.0,
            base: p.base_currency.0,
            unpriced: p.unpriced,
            market_value: p.market_value.0,
            realized_pnl: p.realized_pnl.0,
            unrealized_pnl: p.unrealized_pnl.0,
            fees: p.fees.0,
            income: p.income.0,
            fx_pnl: p.fx_pnl.0,
            day_pnl: p.day_pnl.0,
            seq: p.seq,
        }
    }

    /// Back to a portfolio state.
    #[must_use]
    pub fn state(&self) -> PortfolioState {
        let mut p = PortfolioState::new(AccountId(self.account), CurrencyId(self.base));
        p.unpriced = self.unpriced;
        p.market_value.0 = self.market_value;
        p.realized_pnl.0 = self.realized_pnl;
        p.unrealized_pnl.0 = self.unrealized_pnl;
        p.fees.0 = self.fees;
        p.income.0 = self.income;
        p.fx_pnl.0 = self.fx_pnl;
        p.net_pnl.0 = self.realized_pnl + self.unrealized_pnl + self.income - self.fees;
        p.day_pnl.0 = self.day_pnl;
        p.seq = self.seq;
        p
    }
}

impl BookImage {
    /// Merges shard images. Every shard knows every instrument (each sees
    /// every op that moves one) and the same FX rates; positions are
    /// partitioned by account. Instruments are kept once each, by id.
    pub fn merge(&mut self, mut other: Self) {
        if self.positions.is_empty() && self.instruments.is_empty() && self.fx.is_empty() {
            // The first part: taken as it is, not copied.
            *self = other;
            return;
        }
        self.instruments.append(&mut other.instruments);
        self.instruments.sort_by_key(|i| i.id);
        // Each shard counts its own holders: the merged count is the sum.
        self.instruments.dedup_by(|later, kept| {
            let same = later.id == kept.id;
            if same {
                kept.holders = kept.holders.saturating_add(later.holders);
            }
            same
        });
        self.positions.append(&mut other.positions);
        if self.fx.is_empty() {
            self.fx = other.fx;
        }
        self.fx_costs &= other.fx_costs;
    }
}

impl Book {
    /// The book's complete state. Flush first so base values are current.
    #[must_use]
    pub fn image(&self) -> BookImage {
        let instruments = self
            .instruments
            .iter()
            .enumerate()
            .filter(|(_, i)| {
                i.has_mark
                    || !i.holders.is_empty()
                    || i.currency != CurrencyId::USD
                    || i.multiplier != Multiplier::ONE
            })
            .map(|(id, i)| InstImage {
                id: InstrumentId::from_index(id).0,
                currency: i.currency.0,
                multiplier: i.multiplier.rate().raw(),
                mark: i.mark,
                has_mark: i.has_mark,
                has_tick: i.has_tick,
                holders: HolderIdx::from_len(i.holders.len()).0,
                seq: i.seq,
            })
            .collect();
        // By instrument, each one's holders in order: the hot records are
        // read front to back (an image is canonical: a book restored from
        // it recreates the holders in the same order).
        let mut positions = Vec::with_capacity(self.positions.len());
        for inst in &self.instruments {
            for (h, &slot) in inst.holders.iter().zip(&inst.slots) {
                positions.push(self.position_image(slot, h, inst.seq));
            }
        }
        let fx = self
            .fx
            .iter()
            .map(|((b, q), r)| FxImage {
                base: b.0,
                quote: q.0,
                rate: r.raw(),
            })
            .collect();
        BookImage {
            instruments,
            positions,
            fx,
            fx_costs: true,
        }
    }

    /// The book of shard `shape.owner` holding exactly its part of `image`
    /// (every instrument and rate, the positions of its accounts, read
    /// from `positions`).
    pub fn from_image<P: Positions + ?Sized>(
        image: &BookImage,
        positions: &P,
        shape: Shape,
    ) -> Result<Self, P::Error> {
        let owner = shape.owner;
        let mut book = Self::new(shape.emit_positions)
            .owning(owner)
            .reporting_in(shape.reporting);
        book.seq = shape.seq;
        let mut fx: Vec<_> = image.fx.clone();
        fx.sort_by_key(|f| (f.base, f.quote));
        for f in fx {
            book.fx
                .set(CurrencyId(f.base), CurrencyId(f.quote), Rate::from_raw(f.rate));
        }
        for i in &image.instruments {
            let inst = book.inst_mut(InstrumentId(i.id));
            *inst = Inst {
                currency: CurrencyId(i.currency),
                multiplier: Multiplier::new(Rate::from_raw(i.multiplier)),
                mark: i.mark,
                applied: i.mark,
                has_mark: i.has_mark,
                has_tick: i.has_tick,
                holders: Vec::with_capacity(share(i.holders, owner)),
                cross: Vec::new(),
                slots: Vec::with_capacity(share(i.holders, owner)),
                dirty: false,
                seq: i.seq,
            };
        }
        positions.each(&mut |p| {
            if owner.owns(AccountId(p.account)) {
                book.restore_position(p, image.fx_costs);
            }
        })?;
        Ok(book)
    }

    /// Restores the totals of the books this shard owns (from a snapshot),
    /// then the firm's part: `firm` (what the firm accumulated) for the one
    /// shard that keeps it.
    #[must_use]
    pub fn with_books(
        mut self,
        books: impl Iterator<Item = (BookId, PortfolioState)>,
        firm: Option<FirmSums>,
    ) -> Self {
        for (b, p) in books {
            if self.totals.reserve(b, p.base_currency) {
                self.links.link(b, p.account);
                self.firm_join(b, p.base_currency);
            }
            if self.account_dirty.len() <= p.account.index() {
                self.account_dirty.resize(p.account.index() + 1, false);
            }
            let t = &mut self.totals.by_book[b.index()];
            let listed = t.listed;
            *t = Totals::of(&p);
            t.listed = listed;
        }
        for b in std::mem::take(&mut self.totals.dirty) {
            self.totals.by_book[b.index()].dirty = false;
        }
        self.totals.clear_converted();
        self.firm_restore(firm);
        self
    }

    fn restore_position(&mut self, p: &PositionImage, fx_costs: bool) {
        let slot = self.new_position(NewPosition {
            account: AccountId(p.account),
            book: BookId(p.book),
            instrument: InstrumentId(p.instrument),
            base: CurrencyId(p.base),
        });
        if !p.listed {
            self.totals.by_book[p.book as usize].listed -= 1;
        }
        let c = &mut self.positions[slot.index()];
        c.lots = p.ledger().into_parts().lots;
        (c.realized, c.fees, c.baseline) = (p.realized, p.fees, p.baseline);
        (c.priced, c.listed, c.seq) = (p.priced, p.listed, p.seq);
        // The totals come from the snapshot's portfolios, which already
        // include this position at the restored (applied) mark and rate:
        // its holding is set without moving them. Its base values follow
        // from it (`holders`), so the image's are not read back.
        let h = self.hot_mut(slot);
        (h.qty, h.cost) = (p.qty, p.cost);
        self.keep_cross_value(slot);
        self.set_base_amounts(
            slot,
            Amounts {
                realized: p.realized_base,
                fees: p.fees_base,
                baseline: p.baseline_base,
            },
        );
        self.set_income(
            slot,
            crate::book::Income {
                local: p.income,
                base: p.income_base,
            },
        );
        if fx_costs {
            self.restore_fx(slot, p.cost_base, p.fx_realized);
        } else {
            self.rebase_restored(slot);
        }
    }

    /// A position's image from its cold record, its holder `h` and its
    /// instrument's last seq.
    fn position_image(&self, slot: SlotId, h: &Holder, inst_seq: u64) -> PositionImage {
        let p = &self.positions[slot.index()];
        let seq = self.seq_with(p, inst_seq, h.group);
        let base = self.base_value(slot);
        let amounts = self.base_amounts(slot);
        let income = self.income_of(slot);
        let (cost_base, fx_realized) = self.fx_parts(slot);
        PositionImage {
            account: self.links.account(h.book).0,
            book: h.book.0,
            instrument: p.instrument.0,
            base: self.groups[h.group.index()].to.0,
            qty: h.qty,
            cost: h.cost,
            lots: p
                .lots
                .iter()
                .map(|l| LotImage {
                    qty: l.qty,
                    cost: l.cost,
                    cost_base: l.cost_base,
                    opened: l.opened,
                })
                .collect(),
            realized: p.realized,
            fees: p.fees,
            realized_base: amounts.realized,
            fees_base: amounts.fees,
            baseline: p.baseline,
            baseline_base: amounts.baseline,
            income: income.local,
            income_base: income.base,
            cost_base,
            fx_realized,
            mv_base: base.market_value,
            unreal_base: base.unrealized,
            priced: p.priced,
            listed: p.listed,
            seq,
        }
    }
}

/// What a shard restored from an image is.
#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Which shard of how many.
    pub owner: Owner,
    /// The image's seq: a restored shard has applied every op up to it, so
    /// a barrier before any new op reports it, not 0.
    pub seq: u64,
    /// Whether flushes produce position deltas.
    pub emit_positions: bool,
    /// The firm's reporting currency.
    pub reporting: CurrencyId,
}

/// The room to reserve for one shard's holders of an instrument that
/// `holders` positions hold in all: all of them with one shard, an even
/// share (and a little) with several (the rest grow as they come).
fn share(holders: u32, owner: Owner) -> usize {
    let n = holders as usize;
    if owner.shards <= 1 {
        n
    } else {
        n / owner.shards + n / (8 * owner.shards) + 1
    }
}

/// Everything needed to resume the engine at `seq`: the sequencer, the
/// merged books and the account totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineImage {
    /// Every event up to this seq is included.
    pub seq: u64,
    /// The sequencer.
    pub sequencer: SequencerImage,
    /// All shards' books, merged.
    pub books: BookImage,
    /// Book totals (an account's are the sum of its books').
    pub portfolios: Vec<PortfolioImage>,
    /// What the firm accumulated (realized P&L, fees, income and day
    /// baseline in the reporting currency, at the rates of their moments);
    /// `None` in a snapshot from before books.
    pub firm: Option<FirmImage>,
    /// Where the P&L history's clock stood (`None` without history, or in
    /// a snapshot from before it).
    pub history: Option<crate::history::HistoryImage>,
}

/// The firm's accumulated amounts in a snapshot, with the reporting
/// currency they are in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields mirror book::FirmSums")]
pub struct FirmImage {
    pub reporting: u32,
    pub realized: i128,
    pub fees: i128,
    pub income: i128,
    pub baseline: i128,
}

/// The sequencer's state as plain data, for snapshots.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields mirror the sequencer's one to one")]
pub struct SequencerImage {
    pub next_seq: u64,
    pub accounts: Vec<String>,
    pub instruments: Vec<String>,
    pub currencies: Vec<String>,
    /// (currency id, multiplier raw, used) by instrument id.
    pub inst_info: Vec<(u32, i64, bool)>,
    /// Base currency id by account id (`u32::MAX`: not traded yet).
    pub account_base: Vec<u32>,
    /// The cost method of every account, by account id (the configuration
    /// the books were built with; a restore under another one is refused).
    pub account_method: Vec<crate::ledger::Method>,
    /// Accepted trade ids, in acceptance order.
    pub trade_ids: TradeIdArena,
    /// Strategy tags by strategy id.
    pub strategies: Vec<String>,
    /// Each book's account id and strategy id, by book id.
    pub books: Vec<(u32, Option<u32>)>,
    /// Whether `books` is the book table; false for a snapshot from before
    /// books, where every account has its default book, numbered as the
    /// account (a table may be empty: accounts interned by refused trades
    /// have no book yet).
    pub books_known: bool,
    /// The open lots whose opening trade had an id, by opening seq (what
    /// `close_lots` names them by).
    pub named_lots: Vec<crate::sequencer::NamedLot>,
}
