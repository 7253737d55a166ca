//! The JSON shape of positions, books, portfolios and the firm (docs/pnl.md,
//! `kupala calc`): names instead of ids, money rounded to 9 decimals and
//! written as strings, `null` base fields for an unpriced position.

use serde::Serialize;

use crate::ids::BookId;
use crate::ids::{Interner, Names};
use crate::num::{Money, Notional, Price, Quantity};
use crate::state::{BookState, EngineState, FirmState, PortfolioState, PositionState};

/// A position as clients see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PositionView {
    /// Account name.
    pub account: String,
    /// The strategy of its book (`null`: the account's default book).
    pub strategy: Option<String>,
    /// Instrument name.
    pub instrument: String,
    /// Instrument currency.
    pub currency: String,
    /// Signed quantity.
    pub qty: Quantity,
    /// Average cost per unit.
    pub avg_cost: Price,
    /// Mark price.
    pub mark: Price,
    /// Market value (instrument currency).
    pub market_value: Money,
    /// Realized P&L, gross of fees.
    pub realized_pnl: Money,
    /// Unrealized P&L.
    pub unrealized_pnl: Money,
    /// Fees.
    pub fees: Money,
    /// Dividend income (paid, when short).
    pub income: Money,
    /// Net P&L: realized + unrealized + income − fees.
    pub net_pnl: Money,
    /// Net P&L since the last EOD (instrument currency).
    pub day_pnl: Money,
    /// Market value in base currency (`null` when unpriced).
    pub market_value_base: Option<Money>,
    /// Realized P&L in base currency.
    pub realized_pnl_base: Option<Money>,
    /// Unrealized P&L in base currency.
    pub unrealized_pnl_base: Option<Money>,
    /// Fees in base currency.
    pub fees_base: Option<Money>,
    /// Dividend income in base currency (each at the rate when paid).
    pub income_base: Option<Money>,
    /// Net P&L in base currency.
    pub net_pnl_base: Option<Money>,
    /// The open cost in base currency at the rates its lots were opened at.
    pub cost_base: Option<Money>,
    /// The currency effect on the capital invested (0 in the base currency).
    pub fx_pnl_base: Option<Money>,
    /// `net_pnl_base + fx_pnl_base`.
    pub total_pnl_base: Option<Money>,
    /// True while no FX rate to the account's base currency exists.
    pub unpriced: bool,
}

/// An account's totals as clients see them (base currency).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortfolioView {
    /// Account name.
    pub account: String,
    /// Base currency.
    pub base_currency: String,
    /// Positions left out for lack of an FX rate.
    pub unpriced: i64,
    /// Market value.
    pub market_value: Money,
    /// Realized P&L (cumulative, closed positions included).
    pub realized_pnl: Money,
    /// Unrealized P&L.
    pub unrealized_pnl: Money,
    /// Fees.
    pub fees: Money,
    /// Dividend income.
    pub income: Money,
    /// Net P&L: realized + unrealized + income − fees.
    pub net_pnl: Money,
    /// Net P&L since the last EOD.
    pub day_pnl: Money,
    /// The currency effect on the capital invested in other currencies.
    pub fx_pnl: Money,
    /// `net_pnl + fx_pnl`.
    pub total_pnl: Money,
}

/// A book's totals: the portfolio fields (its account's name first), then
/// its strategy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookView {
    /// The totals, as an account's.
    #[serde(flatten)]
    pub totals: PortfolioView,
    /// The strategy (`null`: the account's default book).
    pub strategy: Option<String>,
}

/// The firm's totals in the reporting currency.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FirmView {
    /// The reporting currency.
    pub reporting_currency: String,
    /// Positions left out (no rate to their base, or their base none to
    /// the reporting currency).
    pub unpriced: i64,
    /// Market value.
    pub market_value: Money,
    /// Realized P&L (cumulative).
    pub realized_pnl: Money,
    /// Unrealized P&L.
    pub unrealized_pnl: Money,
    /// Fees.
    pub fees: Money,
    /// Dividend income.
    pub income: Money,
    /// Net P&L: realized + unrealized + income − fees.
    pub net_pnl: Money,
    /// Net P&L since the last EOD.
    pub day_pnl: Money,
    /// The currency effect on the capital invested.
    pub fx_pnl: Money,
    /// `net_pnl + fx_pnl`.
    pub total_pnl: Money,
}

/// Each interned id's place in the order of the names.
struct NameOrder(Vec<u32>);

impl NameOrder {
    fn of(interner: &Interner) -> Self {
        // Ids are u32 by construction: one per name, in order.
        let mut ids: Vec<u32> = (0u32..).take(interner.len()).collect();
        ids.sort_unstable_by(|&a, &b| interner.name(a).cmp(interner.name(b)));
        let mut rank = vec![0; ids.len()];
        for (place, &id) in (0u32..).zip(&ids) {
            rank[id as usize] = place;
        }
        Self(rank)
    }

    /// The id's place; `None` (first, as its empty name would be) for an id
    /// never handed out.
    fn rank(&self, id: u32) -> Option<u32> {
        self.0.get(id as usize).copied()
    }
}

/// The output of `kupala calc` and `kupala replay`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StateView {
    /// Positions sorted by (account, strategy, instrument), the default
    /// book first.
    pub positions: Vec<PositionView>,
    /// Books sorted by (account, strategy), the default book first.
    pub books: Vec<BookView>,
    /// Portfolios (each the sum of its account's books) sorted by account.
    pub portfolios: Vec<PortfolioView>,
    /// The firm's totals.
    pub firm: FirmView,
}

/// The strategy tag of a book (`None` for a default book or an unknown id).
#[must_use]
pub fn strategy_of(book: BookId, names: &Names) -> Option<&str> {
    names
        .books
        .key(book)
        .and_then(|k| k.strategy)
        .map(|s| names.strategy(s))
}

fn m(n: Notional) -> Money {
    n.to_money()
}

impl PositionView {
    /// Renders a position with names.
    #[must_use]
    pub fn new(p: &PositionState, names: &Names) -> Self {
        let b = p.base;
        Self {
            account: names.account(p.account).to_owned(),
            strategy: strategy_of(p.book, names).map(str::to_owned),
            instrument: names.instrument(p.instrument).to_owned(),
            currency: names.currency(p.currency).to_owned(),
            qty: p.qty,
            avg_cost: p.avg_cost,
            mark: p.mark,
            market_value: m(p.market_value),
            realized_pnl: m(p.realized_pnl),
            unrealized_pnl: m(p.unrealized_pnl),
            fees: m(p.fees),
            income: m(p.income),
            net_pnl: m(p.net_pnl),
            day_pnl: m(p.day_pnl),
            market_value_base: b.map(|b| m(b.market_value)),
            realized_pnl_base: b.map(|b| m(b.realized_pnl)),
            unrealized_pnl_base: b.map(|b| m(b.unrealized_pnl)),
            fees_base: b.map(|b| m(b.fees)),
            income_base: b.map(|b| m(b.income)),
            net_pnl_base: b.map(|b| m(b.net_pnl)),
            cost_base: b.map(|b| m(b.cost)),
            fx_pnl_base: b.map(|b| m(b.fx_pnl)),
            total_pnl_base: b.map(|b| m(b.total_pnl())),
            unpriced: b.is_none(),
        }
    }
}

impl PortfolioView {
    /// Renders a portfolio with names.
    #[must_use]
    pub fn new(p: &PortfolioState, names: &Names) -> Self {
        Self {
            account: names.account(p.account).to_owned(),
            base_currency: names.currency(p.base_currency).to_owned(),
            unpriced: p.unpriced,
            market_value: m(p.market_value),
            realized_pnl: m(p.realized_pnl),
            unrealized_pnl: m(p.unrealized_pnl),
            fees: m(p.fees),
            income: m(p.income),
            net_pnl: m(p.net_pnl),
            day_pnl: m(p.day_pnl),
            fx_pnl: m(p.fx_pnl),
            total_pnl: m(p.total_pnl()),
        }
    }
}

impl BookView {
    /// Renders a book with names.
    #[must_use]
    pub fn new(b: &BookState, names: &Names) -> Self {
        Self {
            totals: PortfolioView::new(&b.totals, names),
            strategy: strategy_of(b.book, names).map(str::to_owned),
        }
    }
}

impl FirmView {
    /// Renders the firm with names.
    #[must_use]
    pub fn new(f: &FirmState, names: &Names) -> Self {
        Self {
            reporting_currency: names.currency(f.reporting_currency).to_owned(),
            unpriced: f.unpriced,
            market_value: m(f.market_value),
            realized_pnl: m(f.realized_pnl),
            unrealized_pnl: m(f.unrealized_pnl),
            fees: m(f.fees),
            income: m(f.income),
            net_pnl: m(f.net_pnl),
            day_pnl: m(f.day_pnl),
            fx_pnl: m(f.fx_pnl),
            total_pnl: m(f.total_pnl()),
        }
    }
}

/// Each book's place in (account, strategy) name order, the default book
/// of an account first.
struct BookOrder(Vec<(u32, Option<u32>)>);

impl BookOrder {
    fn of(names: &Names, accounts: &NameOrder) -> Self {
        let strategies = NameOrder::of(&names.strategies);
        Self(
            names
                .books
                .iter()
                .map(|k| {
                    let account = accounts.rank(k.account.0).unwrap_or(0);
                    (account, k.strategy.and_then(|s| strategies.rank(s.0)))
                })
                .collect(),
        )
    }

    fn rank(&self, book: BookId) -> Option<(u32, Option<u32>)> {
        self.0.get(book.index()).copied()
    }
}

impl StateView {
    /// Renders a snapshot, sorted by names (not by id). The sort compares
    /// each id's place in name order, not the names: a million positions
    /// sort without a string comparison per pair.
    #[must_use]
    pub fn new(state: &EngineState, names: &Names) -> Self {
        let (accounts, instruments) = (NameOrder::of(&names.accounts), NameOrder::of(&names.instruments));
        let books = BookOrder::of(names, &accounts);
        let mut order: Vec<&PositionState> = state.positions.iter().collect();
        order.sort_by_key(|p| {
            (
                accounts.rank(p.account.0),
                books.rank(p.book),
                instruments.rank(p.instrument.0),
            )
        });
        let positions = order.into_iter().map(|p| PositionView::new(p, names)).collect();
        let mut order: Vec<&BookState> = state.books.iter().collect();
        order.sort_by_key(|b| (accounts.rank(b.totals.account.0), books.rank(b.book)));
        let book_views = order.into_iter().map(|b| BookView::new(b, names)).collect();
        let mut order: Vec<&PortfolioState> = state.portfolios.iter().collect();
        order.sort_by_key(|p| accounts.rank(p.account.0));
        let portfolios = order.into_iter().map(|p| PortfolioView::new(p, names)).collect();
        Self {
            positions,
            books: book_views,
            portfolios,
            firm: FirmView::new(&state.firm, names),
        }
    }

    /// Pretty JSON, one field per line, as `kupala calc` prints it.
    #[must_use]
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }
}
