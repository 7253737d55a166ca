//! The synthetic market's parameters: the config, and the specs of its
//! instruments, FX pairs and opening positions.

use kupala_engine::time::Timestamp;

#[cfg(doc)]
use super::SyntheticMarket;

/// Seconds in a trading year (252 days of 6.5 hours): the time unit of
/// drift and volatility.
pub const TRADING_YEAR_SECONDS: f64 = 252.0 * 6.5 * 3600.0;

/// The default start of event time: 2026-11-30T14:30:00Z.
pub const DEFAULT_START: Timestamp = Timestamp(1_796_049_000_000_000_000);

/// One instrument of the market and the law its price follows.
#[derive(Clone, Debug, PartialEq)]
pub struct InstrumentSpec {
    /// Instrument name, e.g. `AAPL`.
    pub id: String,
    /// Currency its prices are quoted in.
    pub currency: String,
    /// Contract multiplier (1 for a share, 50 for an E-mini future...).
    pub multiplier: i64,
    /// Price at the start, in its currency.
    pub start_price: f64,
    /// Price increment: emitted prices are whole multiples of it.
    pub tick_size: f64,
    /// Trading lot: trade quantities are whole multiples of it.
    pub lot: i64,
    /// Annual drift `μ` of the GBM.
    pub drift: f64,
    /// Annual volatility `σ` of the GBM.
    pub vol: f64,
    /// Loading `ρ` on the common market factor, in `[-1, 1]`.
    pub factor_loading: f64,
}

/// One FX pair against USD and its driftless GBM.
#[derive(Clone, Debug, PartialEq)]
pub struct FxPairSpec {
    /// The pair as `BASE/QUOTE`, e.g. `EUR/USD`.
    pub pair: String,
    /// Rate at the start.
    pub start_rate: f64,
    /// Decimals the rate is quoted with.
    pub decimals: u32,
    /// Annual volatility.
    pub vol: f64,
}

/// A position an account opens with: indices into the accounts and the
/// instruments, and a signed quantity (negative = short).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Opening {
    /// Index into [`SyntheticConfig::accounts`].
    pub account: usize,
    /// Index into [`SyntheticMarket::instruments`].
    pub instrument: usize,
    /// Signed whole quantity.
    pub qty: i64,
}

/// The parameters of a [`SyntheticMarket`].
#[derive(Clone, Debug, PartialEq)]
pub struct SyntheticConfig {
    /// Instruments to generate (named `S0000`, `S0001`…; at least 1).
    pub instruments: usize,
    /// Currencies the instruments are spread over, round robin (USD if empty).
    pub currencies: Vec<String>,
    /// Annual drift of every generated instrument.
    pub drift: f64,
    /// Median annual volatility of the generated instruments.
    pub vol: f64,
    /// Spread of volatilities: each is `vol × exp(vol_dispersion × N(0,1))`.
    pub vol_dispersion: f64,
    /// Pairwise correlation of two instruments' returns through the common
    /// market factor, in `[0, 1]` (each instrument loads `√correlation` on it).
    pub correlation: f64,
    /// Zipf exponent of activity across instruments (0 = uniform).
    pub zipf_s: f64,
    /// Mean events per second of the Poisson arrivals (> 0).
    pub events_per_second: f64,
    /// Market seconds that pass per second of event time (speeds the demo up).
    pub time_scale: f64,
    /// Probability that an event is a trade.
    pub trade_probability: f64,
    /// Probability that a non-trade event is an FX rate rather than a tick.
    pub fx_probability: f64,
    /// Annual volatility of every FX pair.
    pub fx_vol: f64,
    /// Accounts that hold positions and trade.
    pub accounts: Vec<String>,
    /// Distinct positions each account opens with (drawn by activity).
    pub positions_per_account: usize,
    /// Event time of the first event.
    pub start: Timestamp,
    /// Prefix of streamed trade ids (`{prefix}-{n}`); opening trades are
    /// `open-{seed}-{account}-{instrument}`, so replaying them is idempotent.
    pub trade_id_prefix: String,
    /// Seed of every random choice.
    pub seed: u64,
}

impl SyntheticConfig {
    /// The demo's parameters: USD, EUR and JPY, 20 events a second, four
    /// minutes of market time per second, one trade in 150 events, accounts A1, A2, B7.
    #[must_use]
    pub fn demo(seed: u64) -> Self {
        Self {
            instruments: 52,
            currencies: ["USD", "EUR", "JPY"].map(String::from).to_vec(),
            drift: 0.06,
            vol: 0.28,
            vol_dispersion: 0.3,
            correlation: 0.35,
            zipf_s: 0.8,
            events_per_second: 20.0,
            time_scale: 240.0,
            trade_probability: 1.0 / 150.0,
            fx_probability: 0.08,
            fx_vol: 0.08,
            accounts: ["A1", "A2", "B7"].map(String::from).to_vec(),
            positions_per_account: 10,
            start: DEFAULT_START,
            trade_id_prefix: format!("syn-{seed:x}"),
            seed,
        }
    }
}
