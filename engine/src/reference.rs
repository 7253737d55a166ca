//! A from-scratch recomputation of the books: one thread, no indexes, no
//! dirty tracking, no deltas. Market values and unrealized P&L are computed
//! when the state is read; book and account totals are re-summed from
//! positions, the firm's from the books (only what the firm converts at
//! the rate of a moment is accumulated as it happens: `firm_flows`).
//!
//! It shares with the engine only what defines the rules (the ledger's trade
//! maths, FX conversion, the sequencer's interning), so the property tests
//! that compare the two check everything the engine does to be incremental:
//! routing, the instrument and currency indexes, coalesced repricing and
//! totals moved by deltas.

use std::collections::{BTreeMap, BTreeSet};

use rustc_hash::FxHashMap;

use crate::event::Event;
use crate::fx::FxRates;
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId, Names};
use crate::ledger::{CostMethods, Ledger, Order};
use crate::num::{Multiplier, Notional, Price, UNIT, split_price};
use crate::op::Op;
use crate::sequencer::{BaseCurrencies, SequenceError, Sequencer};
use crate::state::{
    BaseValues, BookState, ClosedPosition, EngineState, FirmState, PortfolioState, PositionState,
};
use crate::time::Date;

#[derive(Clone, Debug)]
struct Inst {
    currency: CurrencyId,
    multiplier: Multiplier,
    mark: i64,
    has_tick: bool,
}

#[derive(Clone, Debug, Default)]
struct Pos {
    account: AccountId,
    base: CurrencyId,
    ledger: Ledger,
    realized: i128,
    fees: i128,
    /// `None` until the first usable rate; then the sum of conversions.
    realized_base: Option<i128>,
    fees_base: i128,
    income: i128,
    income_base: i128,
    /// The currency effect realized by closes (cross-currency positions).
    fx_realized: i128,
    baseline: i128,
    baseline_base: i128,
}

/// What the positions an EOD rolled into history leave in their account's
/// totals, in base.
#[derive(Clone, Copy, Debug)]
struct Rolled {
    account: AccountId,
    base: CurrencyId,
    realized: i128,
    fees: i128,
    income: i128,
    fx: i128,
}

impl Pos {
    /// Prices an unpriced position at its first rate: what it realized,
    /// paid, received and its day baseline so far convert at that rate.
    fn price_at(&mut self, c: crate::fx::Conversion, mult: Multiplier, cross: bool) {
        if cross {
            self.ledger.rebase(&|x| c.apply(mult.apply(x)));
        }
        self.realized_base = Some(c.apply(self.realized));
        self.fees_base = c.apply(self.fees);
        self.income_base = c.apply(self.income);
        self.baseline_base = c.apply(self.baseline);
    }
}

/// The firm's amounts converted at the rate of their moment (reporting
/// currency): realized P&L, fees, income, and the day baseline.
#[derive(Clone, Copy, Debug, Default)]
struct FirmFlows {
    realized: i128,
    fees: i128,
    income: i128,
    baseline: i128,
}

/// The from-scratch model. Feed it events, then read [`Reference::state`].
#[derive(Debug)]
pub struct Reference {
    seq: Sequencer,
    instruments: FxHashMap<InstrumentId, Inst>,
    positions: BTreeMap<(BookId, InstrumentId), Pos>,
    /// Realized P&L, fees and income (base) of positions rolled into history.
    rolled: BTreeMap<BookId, Rolled>,
    closed: Vec<ClosedPosition>,
    fx: FxRates,
    reporting: CurrencyId,
    /// The books in the firm's sums (their base has a rate to the
    /// reporting currency), with each book's base.
    in_firm: BTreeSet<BookId>,
    bases: BTreeMap<BookId, CurrencyId>,
    firm_flows: FirmFlows,
}

impl Reference {
    /// An empty model with every account's cost method from `methods` (a
    /// [`Method`](crate::ledger::Method) for all, or per account).
    #[must_use]
    pub fn new(methods: impl Into<CostMethods>, bases: BaseCurrencies) -> Self {
        Self::reporting_in(methods, bases, None)
    }

    /// [`Reference::new`] with the firm reported in `reporting` (default
    /// USD).
    #[must_use]
    pub fn reporting_in(
        methods: impl Into<CostMethods>,
        bases: BaseCurrencies,
        reporting: Option<&str>,
    ) -> Self {
        let mut seq = Sequencer::new(bases).with_methods(methods.into());
        let reporting = seq.reporting_currency(reporting);
        Self {
            seq,
            instruments: FxHashMap::default(),
            positions: BTreeMap::new(),
            rolled: BTreeMap::new(),
            closed: Vec::new(),
            fx: FxRates::default(),
            reporting,
            in_firm: BTreeSet::new(),
            bases: BTreeMap::new(),
            firm_flows: FirmFlows::default(),
        }
    }

    /// The conversion of `base` to the reporting currency now.
    fn to_reporting(&self, base: CurrencyId) -> Option<crate::fx::Conversion> {
        self.fx.conversion(base, self.reporting)
    }

    /// Adds a book's base amounts, at this moment's rate, to the firm's.
    fn firm_flow(&mut self, book: BookId, base: CurrencyId, realized: i128, fees: i128, income: i128) {
        if !self.in_firm.contains(&book) {
            return;
        }
        if let Some(c) = self.to_reporting(base) {
            self.firm_flows.realized += c.apply(realized);
            self.firm_flows.fees += c.apply(fees);
            self.firm_flows.income += c.apply(income);
        }
    }

    /// Recomputes the state of `events` from nothing.
    pub fn replay<'a>(
        methods: impl Into<CostMethods>,
        bases: BaseCurrencies,
        events: impl IntoIterator<Item = &'a Event>,
    ) -> Self {
        let mut r = Self::new(methods, bases);
        for e in events {
            let _ = r.apply(e);
        }
        r
    }

    /// This model after `events`.
    #[must_use]
    pub fn replayed<'a>(mut self, events: impl IntoIterator<Item = &'a Event>) -> Self {
        for e in events {
            let _ = self.apply(e);
        }
        self
    }

    /// The names of the ids handed out.
    #[must_use]
    pub const fn names(&self) -> &Names {
        self.seq.names()
    }

    fn inst(&mut self, id: InstrumentId) -> &mut Inst {
        self.instruments.entry(id).or_insert(Inst {
            currency: CurrencyId::USD,
            multiplier: Multiplier::ONE,
            mark: 0,
            has_tick: false,
        })
    }

    /// Applies one event; refused events change nothing.
    pub fn apply(&mut self, event: &Event) -> Result<(), SequenceError> {
        let Some(sop) = self.seq.sequence(event)? else {
            return Ok(());
        };
        let picks = self.seq.picks().to_vec();
        let order = Order {
            seq: sop.seq,
            picks: &picks,
        };
        match sop.op {
            Op::Instrument {
                instrument,
                currency,
                multiplier,
            } => {
                let held = self.positions.keys().any(|k| k.1 == instrument);
                let i = self.inst(instrument);
                if !held {
                    (i.currency, i.multiplier) = (currency, multiplier);
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
            } => {
                let i = self.inst(instrument);
                if !i.has_tick {
                    i.mark = price.raw();
                }
                let (ccy, mult) = (i.currency, i.multiplier);
                let conv = self.fx.conversion(ccy, base);
                if let std::collections::btree_map::Entry::Vacant(e) = self.bases.entry(book) {
                    e.insert(base);
                    if self.fx.conversion(base, self.reporting).is_some() {
                        self.in_firm.insert(book);
                    }
                }
                let p = self.positions.entry((book, instrument)).or_insert_with(|| Pos {
                    account,
                    base,
                    ..Pos::default()
                });
                let mut flow = (0, 0, 0);
                if let (None, Some(c)) = (p.realized_base, conv) {
                    p.price_at(c, mult, ccy != base);
                    flow = (p.realized_base.unwrap_or(0), p.fees_base, p.income_base);
                }
                let cross = ccy != base && p.realized_base.is_some();
                let fill = match conv.filter(|_| cross) {
                    Some(c) => p
                        .ledger
                        .fill(method, order, qty, price, &|x| c.apply(mult.apply(x))),
                    None => p.ledger.fill(method, order, qty, price, &|_| 0),
                };
                let realized = mult.apply(fill.realized.0);
                let fee = i128::from(fee.raw()) * i128::from(UNIT);
                p.realized += realized;
                p.fees += fee;
                let mut trade_flow = None;
                if let (Some(rb), Some(c)) = (p.realized_base.as_mut(), conv) {
                    let dr = c.apply(realized);
                    let df = c.apply(fee);
                    *rb += dr;
                    p.fees_base += df;
                    trade_flow = Some((dr, df));
                    if cross && fill.closed_value != 0 {
                        p.fx_realized += c.apply(mult.apply(fill.closed_value)) - dr - fill.closed_base;
                    }
                }
                self.firm_flow(book, base, flow.0, flow.1, flow.2);
                if let Some((dr, df)) = trade_flow {
                    self.firm_flow(book, base, dr, df, 0);
                }
            }
            Op::Tick { instrument, price } => {
                let i = self.inst(instrument);
                i.mark = price.raw();
                i.has_tick = true;
            }
            Op::Fx { base, quote, rate } => {
                self.fx.set(base, quote, rate);
                self.price_new();
                self.firm_price_new();
            }
            Op::Eod { date } => self.eod(date),
            // A pick travels to the shards only: the sequencer's picks
            // (above) are the reference's.
            Op::Mark { .. } | Op::Pick { .. } => {}
            Op::Split { instrument, ratio } => {
                let i = self.inst(instrument);
                i.mark = i64::try_from(split_price(i.mark, ratio)).unwrap_or(i.mark);
                for (_, p) in self.positions.iter_mut().filter(|(k, _)| k.1 == instrument) {
                    p.ledger.split(ratio);
                }
            }
            Op::Dividend { instrument, amount } => {
                let i = self.inst(instrument);
                let (ccy, mult) = (i.currency, i.multiplier);
                let mut flows = Vec::new();
                for (k, p) in self.positions.iter_mut().filter(|(k, _)| k.1 == instrument) {
                    let cash = mult.apply(i128::from(p.ledger.qty().raw()) * i128::from(amount.raw()));
                    p.income += cash;
                    if let (Some(_), Some(c)) = (p.realized_base, self.fx.conversion(ccy, p.base)) {
                        p.income_base += c.apply(cash);
                        flows.push((k.0, p.base, c.apply(cash)));
                    }
                }
                for (book, base, income) in flows {
                    self.firm_flow(book, base, 0, 0, income);
                }
            }
        }
        Ok(())
    }

    /// Prices every unpriced position that now has a rate, at this rate.
    fn price_new(&mut self) {
        let mut flows = Vec::new();
        for (&(book, inst), p) in &mut self.positions {
            let ccy = self
                .instruments
                .get(&inst)
                .map_or(CurrencyId::USD, |i| i.currency);
            let mult = self
                .instruments
                .get(&inst)
                .map_or(Multiplier::ONE, |i| i.multiplier);
            if let (None, Some(c)) = (p.realized_base, self.fx.conversion(ccy, p.base)) {
                p.price_at(c, mult, ccy != p.base);
                flows.push((
                    book,
                    p.base,
                    p.realized_base.unwrap_or(0),
                    p.fees_base,
                    p.income_base,
                ));
            }
        }
        for (book, base, r, f, i) in flows {
            self.firm_flow(book, base, r, f, i);
        }
    }

    /// Enters the books whose base now has a first rate to the reporting
    /// currency into the firm: what they realized, paid and received so
    /// far, and their day baseline, convert at this rate.
    fn firm_price_new(&mut self) {
        let books = self.book_totals();
        for (book, t) in &books {
            if self.in_firm.contains(book) {
                continue;
            }
            let Some(c) = self.to_reporting(t.totals.base_currency) else {
                continue;
            };
            self.in_firm.insert(*book);
            let f = &mut self.firm_flows;
            f.realized += c.apply(t.totals.realized_pnl.0);
            f.fees += c.apply(t.totals.fees.0);
            f.income += c.apply(t.totals.income.0);
            f.baseline += c.apply(t.totals.net_pnl.0 - t.totals.day_pnl.0);
        }
    }

    fn eod(&mut self, date: Date) {
        let keys: Vec<_> = self.positions.keys().copied().collect();
        for key in keys {
            let state = self.position(key);
            let Some(p) = self.positions.get_mut(&key) else {
                continue;
            };
            p.baseline = state.net_pnl.0;
            if let Some(b) = state.base {
                p.baseline_base = b.net_pnl.0;
                if p.ledger.qty().raw() == 0 {
                    let r = self.rolled.entry(key.0).or_insert(Rolled {
                        account: p.account,
                        base: p.base,
                        realized: 0,
                        fees: 0,
                        income: 0,
                        fx: 0,
                    });
                    r.realized += b.realized_pnl.0;
                    r.fees += b.fees.0;
                    r.income += b.income.0;
                    r.fx += b.fx_pnl.0;
                    self.positions.remove(&key);
                    let mut position = state;
                    position.day_pnl = Notional::ZERO;
                    self.closed.push(ClosedPosition { date, position });
                }
            }
        }
        self.firm_flows.baseline = self.firm().net_pnl.0;
    }

    /// One position's state computed from its ledger, mark and current rate.
    fn position(&self, key: (BookId, InstrumentId)) -> PositionState {
        let p = &self.positions[&key];
        let i = &self.instruments[&key.1];
        let q = p.ledger.qty();
        let value = i128::from(i.mark) * i128::from(q.raw());
        let mv = i.multiplier.apply(value);
        let unreal = i.multiplier.apply(value - p.ledger.cost().0);
        let net = p.realized + unreal + p.income - p.fees;
        let cross = i.currency != p.base;
        let base = match (p.realized_base, self.fx.conversion(i.currency, p.base)) {
            (Some(rb), Some(c)) => {
                let ub = c.apply(unreal);
                Some(BaseValues {
                    market_value: Notional(c.apply(mv)),
                    realized_pnl: Notional(rb),
                    unrealized_pnl: Notional(ub),
                    fees: Notional(p.fees_base),
                    income: Notional(p.income_base),
                    net_pnl: Notional(rb + ub + p.income_base - p.fees_base),
                    cost: Notional(if cross {
                        p.ledger.cost_base()
                    } else {
                        i.multiplier.apply(p.ledger.cost().0)
                    }),
                    fx_pnl: Notional(if cross {
                        c.apply(i.multiplier.apply(p.ledger.cost().0)) - p.ledger.cost_base() + p.fx_realized
                    } else {
                        0
                    }),
                })
            }
            _ => None,
        };
        PositionState {
            account: p.account,
            book: key.0,
            instrument: key.1,
            currency: i.currency,
            base_currency: p.base,
            qty: q,
            avg_cost: p.ledger.avg_cost(),
            mark: Price::from_raw(i.mark),
            market_value: Notional(mv),
            realized_pnl: Notional(p.realized),
            unrealized_pnl: Notional(unreal),
            fees: Notional(p.fees),
            income: Notional(p.income),
            net_pnl: Notional(net),
            day_pnl: Notional(net - p.baseline),
            base,
            seq: 0,
        }
    }

    /// Totals re-summed from every position (and the history of rolled
    /// ones), grouped by `key`.
    fn totals_by<K: Ord + Copy>(
        &self,
        positions: &[PositionState],
        key: impl Fn(BookId, AccountId) -> K,
    ) -> BTreeMap<K, PortfolioState> {
        let mut totals: BTreeMap<K, PortfolioState> = BTreeMap::new();
        for (&b, r) in &self.rolled {
            let t = totals
                .entry(key(b, r.account))
                .or_insert_with(|| PortfolioState::new(r.account, r.base));
            t.realized_pnl.0 += r.realized;
            t.fees.0 += r.fees;
            t.income.0 += r.income;
            t.fx_pnl.0 += r.fx;
            t.net_pnl.0 += r.realized + r.income - r.fees;
        }
        for (p, raw) in positions.iter().zip(self.positions.values()) {
            let t = totals
                .entry(key(p.book, p.account))
                .or_insert_with(|| PortfolioState::new(p.account, p.base_currency));
            match p.base {
                None => t.unpriced += 1,
                Some(b) => {
                    t.market_value += b.market_value;
                    t.realized_pnl += b.realized_pnl;
                    t.unrealized_pnl += b.unrealized_pnl;
                    t.fees += b.fees;
                    t.income += b.income;
                    t.fx_pnl += b.fx_pnl;
                    t.net_pnl += b.net_pnl;
                    t.day_pnl += Notional(b.net_pnl.0 - raw.baseline_base);
                }
            }
        }
        totals
    }

    fn positions(&self) -> Vec<PositionState> {
        self.positions.keys().map(|&k| self.position(k)).collect()
    }

    /// Every book's totals, by book id.
    fn book_totals(&self) -> BTreeMap<BookId, BookState> {
        self.totals_by(&self.positions(), |b, _| b)
            .into_iter()
            .map(|(book, totals)| (book, BookState { book, totals }))
            .collect()
    }

    /// The firm's totals from the books': what converts at the current
    /// rate converted now, the rest as accumulated.
    fn firm(&self) -> FirmState {
        let f = self.firm_flows;
        let mut firm = FirmState {
            reporting_currency: self.reporting,
            realized_pnl: Notional(f.realized),
            fees: Notional(f.fees),
            income: Notional(f.income),
            ..FirmState::default()
        };
        let listed = |book: BookId| self.positions.keys().filter(|k| k.0 == book).count() as i64;
        for (book, b) in self.book_totals() {
            let t = &b.totals;
            match self.to_reporting(t.base_currency) {
                Some(c) if self.in_firm.contains(&book) => {
                    firm.market_value.0 += c.apply(t.market_value.0);
                    firm.unrealized_pnl.0 += c.apply(t.unrealized_pnl.0);
                    firm.fx_pnl.0 += c.apply(t.fx_pnl.0);
                    firm.unpriced += t.unpriced;
                }
                _ => firm.unpriced += listed(book),
            }
        }
        firm.net_pnl.0 = f.realized + firm.unrealized_pnl.0 + f.income - f.fees;
        firm.day_pnl.0 = firm.net_pnl.0 - f.baseline;
        firm
    }

    /// The whole state, totals re-summed from every position (and the
    /// history of rolled ones). `seq` fields are left 0.
    #[must_use]
    pub fn state(&self) -> EngineState {
        let positions = self.positions();
        let portfolios = self.totals_by(&positions, |_, a| a).into_values().collect();
        let mut positions = positions;
        positions.sort_by_key(|p| (p.account, p.book, p.instrument));
        let mut books: Vec<BookState> = self.book_totals().into_values().collect();
        books.sort_by_key(|b| (b.totals.account, b.book));
        EngineState {
            seq: 0,
            positions,
            books,
            portfolios,
            firm: self.firm(),
            closed: self.closed.clone(),
        }
    }
}
