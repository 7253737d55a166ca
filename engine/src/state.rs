//! What the engine reports: exact position and portfolio states, the changes
//! the shards send the aggregator, and the closed-position history.
//!
//! Amounts here are exact ([`Notional`], 10^-18); `view` rounds them to money
//! only when rendering.

use crate::ids::{AccountId, CurrencyId, InstrumentId};
use crate::num::{Notional, Price, Quantity, add, sub};
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
    /// `realized + unrealized - fees` in base currency.
    pub net_pnl: Notional,
}

/// One position (account × instrument) as of a `seq`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionState {
    /// The account.
    pub account: AccountId,
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
    /// `realized + unrealized - fees`.
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
    /// `realized + unrealized - fees`.
    pub net_pnl: Notional,
    /// Net P&L change since the last EOD.
    pub day_pnl: Notional,
    /// The last `seq` that changed these totals.
    pub seq: u64,
}

/// A change to an account's totals, summed by the aggregator (never re-summed
/// from positions).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct BaseChange {
    /// Change of market value.
    pub market_value: i128,
    /// Change of realized P&L.
    pub realized_pnl: i128,
    /// Change of unrealized P&L.
    pub unrealized_pnl: i128,
    /// Change of fees.
    pub fees: i128,
    /// Change of day P&L.
    pub day_pnl: i128,
    /// Change of the count of unpriced positions.
    pub unpriced: i64,
}

impl BaseChange {
    /// Adds another change into this one.
    pub fn add(&mut self, o: &Self) {
        self.market_value = add(self.market_value, o.market_value);
        self.realized_pnl = add(self.realized_pnl, o.realized_pnl);
        self.unrealized_pnl = add(self.unrealized_pnl, o.unrealized_pnl);
        self.fees = add(self.fees, o.fees);
        self.day_pnl = add(self.day_pnl, o.day_pnl);
        self.unpriced += o.unpriced;
    }

    /// True when nothing changed.
    #[must_use]
    pub fn is_zero(&self) -> bool {
        *self == Self::default()
    }
}

impl PortfolioState {
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
            net_pnl: Notional::ZERO,
            day_pnl: Notional::ZERO,
            seq: 0,
        }
    }

    /// Applies a change caused by `seq`.
    pub fn apply(&mut self, c: &BaseChange, seq: u64) {
        // Checked: the sequencer's bounds (limits) prove every sum fits.
        self.market_value.0 = add(self.market_value.0, c.market_value);
        self.realized_pnl.0 = add(self.realized_pnl.0, c.realized_pnl);
        self.unrealized_pnl.0 = add(self.unrealized_pnl.0, c.unrealized_pnl);
        self.fees.0 = add(self.fees.0, c.fees);
        // Net is realized + unrealized - fees, summed from the totals (each
        // within the bound) rather than from changes (up to 4 × the bound).
        self.net_pnl.0 = sub(add(self.realized_pnl.0, self.unrealized_pnl.0), self.fees.0);
        self.day_pnl.0 = add(self.day_pnl.0, c.day_pnl);
        self.unpriced += c.unpriced;
        self.seq = self.seq.max(seq);
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
    /// Open and not-yet-rolled positions, sorted by (account, instrument id).
    pub positions: Vec<PositionState>,
    /// Account totals, sorted by account id.
    pub portfolios: Vec<PortfolioState>,
    /// The closed-position history, in order of closing.
    pub closed: Vec<ClosedPosition>,
}
