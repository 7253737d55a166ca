//! What the engine reports: exact position and portfolio states, the
//! position deltas it publishes, and the closed-position history.
//!
//! Amounts here are exact ([`Notional`], 10^-18); `view` rounds them to money
//! only when rendering.

use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId};
use crate::num::{Notional, Price, Quantity};
use crate::time::Date;

/// A position's money fields converted to its account's base currency.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BaseValues {
    /// Market value in base currency (current rate).
    pub market_value: Notional,
    /// Realized P&L in base currency (each at the rate when realized).
    pub realized_pnl: Notional,
    /// Unrealized P&L in base currency (current rate).
    pub unrealized_pnl: Notional,
    /// Fees in base currency (each at the rate when charged).
    pub fees: Notional,
    /// Dividend income in base currency (each at the rate when paid).
    pub income: Notional,
    /// `realized + unrealized + income - fees` in base currency.
    pub net_pnl: Notional,
    /// The open cost in base currency, at the rates the lots were opened
    /// at (for a position in its base currency, its cost).
    pub cost: Notional,
    /// The currency effect on the capital invested: the open cost at the
    /// rate now less `cost`, plus what closes realized of it (0 for a
    /// position in its base currency).
    pub fx_pnl: Notional,
}

impl BaseValues {
    /// `realized + unrealized + fx + income - fees` in base currency:
    /// the market value in base plus the base proceeds of every close,
    /// less every base cost paid, plus income, less fees.
    #[must_use]
    pub fn total_pnl(&self) -> Notional {
        self.net_pnl + self.fx_pnl
    }
}

/// One position (book × instrument) as of a `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionState {
    /// The account.
    pub account: AccountId,
    /// Its book: the account's default one, or a strategy's.
    pub book: BookId,
    /// The instrument.
    pub instrument: InstrumentId,
    /// The instrument's currency.
    pub currency: CurrencyId,
    /// The account's base currency.
    pub base_currency: CurrencyId,
    /// Signed quantity (short < 0).
    pub qty: Quantity,
    /// Average cost per unit of the open quantity (method's view).
    pub avg_cost: Price,
    /// Last tick price, or last trade price until a tick arrives.
    pub mark: Price,
    /// `mark × qty × multiplier`.
    pub market_value: Notional,
    /// Realized P&L, gross of fees.
    pub realized_pnl: Notional,
    /// `(mark - avg_cost) × qty × multiplier`.
    pub unrealized_pnl: Notional,
    /// Fees paid.
    pub fees: Notional,
    /// Dividends received (paid, when short).
    pub income: Notional,
    /// `realized + unrealized + income - fees`.
    pub net_pnl: Notional,
    /// Net P&L change since the last EOD (instrument currency).
    pub day_pnl: Notional,
    /// The base-currency figures; `None` while no FX rate to base exists.
    pub base: Option<BaseValues>,
    /// The last `seq` that changed this position.
    pub seq: u64,
}

/// One account's totals in its base currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortfolioState {
    /// The account.
    pub account: AccountId,
    /// The account's base currency.
    pub base_currency: CurrencyId,
    /// How many of its positions have no rate to base (and are left out).
    pub unpriced: i64,
    /// Sum of positions' base market values.
    pub market_value: Notional,
    /// Cumulative realized P&L (closed history included).
    pub realized_pnl: Notional,
    /// Sum of unrealized P&L.
    pub unrealized_pnl: Notional,
    /// Cumulative fees.
    pub fees: Notional,
    /// Cumulative dividend income.
    pub income: Notional,
    /// The currency effect on the capital invested in other currencies
    /// (see [`BaseValues::fx_pnl`]), summed.
    pub fx_pnl: Notional,
    /// `realized + unrealized + income - fees`.
    pub net_pnl: Notional,
    /// Net P&L change since the last EOD.
    pub day_pnl: Notional,
    /// The last `seq` that changed these totals.
    pub seq: u64,
}

impl PortfolioState {
    /// `realized + unrealized + fx + income - fees`: net P&L with the
    /// currency effect on the capital invested.
    #[must_use]
    pub fn total_pnl(&self) -> Notional {
        self.net_pnl + self.fx_pnl
    }

    /// An empty portfolio.
    #[must_use]
    pub fn new(account: AccountId, base_currency: CurrencyId) -> Self {
        Self {
            account,
            base_currency,
            unpriced: 0,
            market_value: Notional::ZERO,
            realized_pnl: Notional::ZERO,
            unrealized_pnl: Notional::ZERO,
            fees: Notional::ZERO,
            income: Notional::ZERO,
            fx_pnl: Notional::ZERO,
            net_pnl: Notional::ZERO,
            day_pnl: Notional::ZERO,
            seq: 0,
        }
    }
}

/// One book's totals (account × strategy) in its account's base currency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookState {
    /// The book.
    pub book: BookId,
    /// Its totals, as an account's (the account is the book's).
    pub totals: PortfolioState,
}

/// An account whose only book is `book`: the book's totals are the
/// account's portfolio, `portfolios[portfolio]` of the same output, sent
/// once (see [`BookChanges`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SoleBook {
    /// The book.
    pub book: BookId,
    /// Its totals' index in the output's portfolios.
    pub portfolio: u32,
}

/// The books one flush changed: those of accounts with several books in
/// full, and each account's only book as its portfolio (an account that
/// never tags a strategy has one book, whose totals are its own).
#[derive(Clone, Copy, Debug)]
pub struct BookChanges<'a> {
    /// Books sent in full.
    pub listed: &'a [BookState],
    /// Accounts' only books.
    pub sole: &'a [SoleBook],
    /// What `sole` indexes.
    pub portfolios: &'a [PortfolioState],
}

impl BookChanges<'_> {
    /// True when no book changed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.listed.is_empty() && self.sole.is_empty()
    }

    /// Every changed book with its totals (the listed ones first).
    pub fn iter(&self) -> impl Iterator<Item = (BookId, &PortfolioState)> + '_ {
        let listed = self.listed.iter().map(|b| (b.book, &b.totals));
        let sole = self
            .sole
            .iter()
            .filter_map(|s| self.portfolios.get(s.portfolio as usize).map(|p| (s.book, p)));
        listed.chain(sole)
    }
}

/// The whole firm's totals in the reporting currency (see `book/firm.rs`
/// for how books convert into it).
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct FirmState {
    /// The reporting currency.
    pub reporting_currency: CurrencyId,
    /// Positions left out of the sums (no rate to their base, or their
    /// base none to the reporting currency).
    pub unpriced: i64,
    /// Sum of market values.
    pub market_value: Notional,
    /// Cumulative realized P&L.
    pub realized_pnl: Notional,
    /// Sum of unrealized P&L.
    pub unrealized_pnl: Notional,
    /// Cumulative fees.
    pub fees: Notional,
    /// Cumulative dividend income.
    pub income: Notional,
    /// The currency effect on the capital invested.
    pub fx_pnl: Notional,
    /// `realized + unrealized + income - fees`.
    pub net_pnl: Notional,
    /// Net P&L change since the last EOD.
    pub day_pnl: Notional,
    /// The last `seq` reflected.
    pub seq: u64,
}

impl FirmState {
    /// `realized + unrealized + fx + income - fees`.
    #[must_use]
    pub fn total_pnl(&self) -> Notional {
        self.net_pnl + self.fx_pnl
    }
}

/// A flat position moved out of the live book by an EOD.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClosedPosition {
    /// The EOD date that closed it.
    pub date: Date,
    /// Its state at that EOD.
    pub position: PositionState,
}

/// A position's new state, sent on every change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionDelta {
    /// The position as of the change.
    pub state: PositionState,
    /// True when an EOD moved it to the closed history (it leaves the book).
    pub closed: bool,
}

/// Everything one consistent snapshot of the engine holds, at one `seq`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EngineState {
    /// Every event up to this `seq` is reflected.
    pub seq: u64,
    /// Open and not-yet-rolled positions, sorted by (account, book,
    /// instrument id).
    pub positions: Vec<PositionState>,
    /// Book totals, sorted by (account, book id).
    pub books: Vec<BookState>,
    /// Account totals (each the sum of its books), sorted by account id.
    pub portfolios: Vec<PortfolioState>,
    /// The firm's totals.
    pub firm: FirmState,
    /// The closed-position history, in order of closing.
    pub closed: Vec<ClosedPosition>,
}
