//! A deterministic synthetic market for the demo and the benchmarks.
//!
//! - Prices follow geometric Brownian motion per instrument (annual drift
//!   and volatility, time in trading years of [`TRADING_YEAR_SECONDS`]),
//!   sampled exactly at each instrument's irregular tick times.
//! - Moves are correlated through one common market factor: instrument `i`'s
//!   Brownian motion is `ρᵢ·W_market + √(1-ρᵢ²)·Wᵢ`, so two instruments'
//!   returns correlate by `ρᵢ·ρⱼ` ([`SyntheticConfig::correlation`] is that
//!   pairwise correlation).
//! - Activity is Zipf-distributed: instrument rank `k` (its index) is picked
//!   with probability ∝ `(k + 1)^-s`, for ticks and for new trades.
//! - FX pairs against USD (market convention: `EUR/USD`, `USD/JPY`) follow
//!   driftless GBM.
//! - Events arrive as a Poisson process at [`SyntheticConfig::events_per_second`];
//!   each is a trade with probability `trade_probability`, else an FX rate
//!   with probability `fx_probability`, else a tick.
//!
//! Everything comes from one splitmix64 generator seeded by the config, so
//! the same seed gives the same stream. Prices are `f64` inside the
//! generator only: every emitted price, rate, quantity and fee is rounded to
//! the instrument's tick size (or the pair's decimals) into fixed point.

mod catalog;
mod config;
mod rng;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Duration;

use kupala_engine::Event;
use kupala_engine::event::{Fx, InstrumentDef, Side, Tick, Trade};
use kupala_engine::num::{Fee, Price, Quantity, Rate, UNIT};
use kupala_engine::time::Timestamp;

use crate::workload::Zipf;
use rng::Rng;

pub use config::{DEFAULT_START, FxPairSpec, InstrumentSpec, Opening, SyntheticConfig, TRADING_YEAR_SECONDS};

/// Largest price the generator lets an instrument reach (keeps fixed point in range).
const MAX_PRICE: f64 = 1e8;

/// A deterministic stream of market events: see the module docs.
#[derive(Clone, Debug)]
pub struct SyntheticMarket {
    config: SyntheticConfig,
    specs: Vec<InstrumentSpec>,
    pairs: Vec<FxPairSpec>,
    opening: Vec<Opening>,
    zipf: Zipf,
    rng: Rng,
    /// Market time (years) since the start, and the market factor's value now.
    now: f64,
    factor: f64,
    prices: Vec<Walk>,
    rates: Vec<Walk>,
    /// Event time since the start, in nanoseconds.
    elapsed: u64,
    /// Whole quantities held, by (account, instrument), and each account's instruments.
    holdings: HashMap<(usize, usize), i64>,
    held: Vec<Vec<usize>>,
    trades: u64,
}

/// A GBM path sampled at irregular times: the value and when it was last moved.
#[derive(Clone, Debug)]
struct Walk {
    value: f64,
    at: f64,
    factor_at: f64,
}

impl SyntheticMarket {
    /// The embedded demo: 52 instruments in USD, EUR and JPY (stocks and
    /// four futures with multipliers), EUR/USD and USD/JPY moving, and
    /// accounts A1, A2 and B7 holding a fixed opening book and trading now
    /// and then.
    #[must_use]
    pub fn demo(seed: u64) -> Self {
        let config = SyntheticConfig::demo(seed);
        let specs = catalog::demo_instruments(config.drift, config.correlation);
        let opening = catalog::demo_book(&config.accounts, &specs);
        Self::build(config, specs, Some(opening))
    }

    /// A market of `config.instruments` generated instruments, each account
    /// opening `config.positions_per_account` positions.
    #[must_use]
    pub fn new(config: SyntheticConfig) -> Self {
        let mut rng = Rng::new(config.seed, 1);
        let specs = catalog::generated_instruments(&config, &mut rng);
        Self::build(config, specs, None)
    }

    /// A market of the given instruments (each with its own drift and
    /// volatility); `config.instruments` is ignored.
    #[must_use]
    pub fn with_instruments(config: SyntheticConfig, specs: Vec<InstrumentSpec>) -> Self {
        Self::build(config, specs, None)
    }

    fn build(
        mut config: SyntheticConfig,
        mut specs: Vec<InstrumentSpec>,
        opening: Option<Vec<Opening>>,
    ) -> Self {
        if specs.is_empty() {
            specs = catalog::generated_instruments(&config, &mut Rng::new(config.seed, 1));
        }
        for s in &mut specs {
            s.tick_size = if s.tick_size > 0.0 { s.tick_size } else { 0.01 };
            s.start_price = s.start_price.clamp(s.tick_size, MAX_PRICE);
            s.lot = s.lot.max(1);
            s.multiplier = s.multiplier.max(1);
            s.factor_loading = s.factor_loading.clamp(-1.0, 1.0);
        }
        if !(config.events_per_second.is_finite() && config.events_per_second > 0.0) {
            config.events_per_second = 1.0;
        }
        let mut currencies: Vec<String> = config.currencies.clone();
        currencies.extend(specs.iter().map(|s| s.currency.clone()));
        let pairs = catalog::fx_pairs(&currencies, config.fx_vol);
        let zipf = Zipf::new(specs.len(), config.zipf_s);
        let opening = opening.unwrap_or_else(|| {
            let mut rng = Rng::new(config.seed, 2);
            catalog::generated_book(
                config.accounts.len(),
                config.positions_per_account,
                &specs,
                &zipf,
                &mut rng,
            )
        });
        let walk = |value: f64| Walk {
            value,
            at: 0.0,
            factor_at: 0.0,
        };
        let mut market = Self {
            prices: specs.iter().map(|s| walk(s.start_price)).collect(),
            rates: pairs.iter().map(|p| walk(p.start_rate)).collect(),
            rng: Rng::new(config.seed, 3),
            held: vec![Vec::new(); config.accounts.len()],
            holdings: HashMap::new(),
            now: 0.0,
            factor: 0.0,
            elapsed: 0,
            trades: 0,
            config,
            specs,
            pairs,
            opening,
            zipf,
        };
        for o in market.opening.clone() {
            market.hold(o.account, o.instrument, o.qty);
        }
        market
    }

    /// The parameters (after clamping to usable values).
    #[must_use]
    pub const fn config(&self) -> &SyntheticConfig {
        &self.config
    }

    /// The instruments, hottest (Zipf rank 0) first.
    #[must_use]
    pub fn instruments(&self) -> &[InstrumentSpec] {
        &self.specs
    }

    /// The FX pairs that move.
    #[must_use]
    pub fn fx_pairs(&self) -> &[FxPairSpec] {
        &self.pairs
    }

    /// The opening book.
    #[must_use]
    pub fn opening(&self) -> &[Opening] {
        &self.opening
    }

    /// What a market needs before its stream: every instrument declared,
    /// every FX pair's first rate, then one trade per opening position at
    /// the start price, so the accounts hold positions at once.
    #[must_use]
    pub fn opening_events(&self) -> Vec<Event> {
        let ts = self.config.start;
        let declare = self.specs.iter().map(|s| {
            Event::Instrument(InstrumentDef {
                id: s.id.clone(),
                currency: s.currency.clone(),
                multiplier: Rate::from_int(s.multiplier),
            })
        });
        let rates = self.pairs.iter().map(|p| fx_event(ts, p, p.start_rate));
        let trades = self.opening.iter().filter_map(|o| {
            let spec = self.specs.get(o.instrument)?;
            let account = self.config.accounts.get(o.account)?;
            let id = format!("open-{}-{account}-{}", self.config.seed, spec.id);
            Some(trade_event(id, ts, account, spec, o.qty, spec.start_price))
        });
        declare.chain(rates).chain(trades).collect()
    }

    /// The next event of the stream and the wait before it (exponential, at
    /// the configured rate). The event's timestamp is the start plus the sum
    /// of the waits so far; a caller that runs "as fast as possible" may
    /// ignore the wait without changing the stream.
    pub fn next_event(&mut self) -> (Duration, Event) {
        let wait = self.rng.exponential(1.0 / self.config.events_per_second);
        let wait = Duration::from_secs_f64(wait.min(3_600.0));
        self.elapsed = self
            .elapsed
            .saturating_add(u64::try_from(wait.as_nanos()).unwrap_or(u64::MAX));
        let dt = wait.as_secs_f64() * self.config.time_scale.max(0.0) / TRADING_YEAR_SECONDS;
        self.now += dt;
        self.factor += dt.sqrt() * self.rng.normal();
        let ts = Timestamp(
            self.config
                .start
                .0
                .saturating_add(i64::try_from(self.elapsed).unwrap_or(i64::MAX)),
        );
        let event = if self.rng.chance(self.config.trade_probability) {
            self.trade(ts)
        } else if !self.pairs.is_empty() && self.rng.chance(self.config.fx_probability) {
            self.fx(ts)
        } else {
            self.tick(ts)
        };
        (wait, event)
    }

    /// A tick on an instrument drawn by activity.
    fn tick(&mut self, ts: Timestamp) -> Event {
        let i = self.zipf.sample(self.rng.unit());
        let price = self.move_instrument(i);
        let spec = &self.specs[i];
        Event::Tick(Tick {
            ts,
            instrument: spec.id.clone(),
            price: to_price(price, spec.tick_size),
        })
    }

    /// Moves instrument `i` to the current market time; returns its price.
    fn move_instrument(&mut self, i: usize) -> f64 {
        let s = &self.specs[i];
        let (mu, sigma, rho) = (s.drift, s.vol, s.factor_loading);
        let w = &mut self.prices[i];
        let dt = self.now - w.at;
        let common = self.factor - w.factor_at;
        let own = dt.sqrt() * self.rng.normal();
        let ret = (mu - sigma * sigma / 2.0) * dt + sigma * (rho * common + (1.0 - rho * rho).sqrt() * own);
        w.value = (w.value * ret.exp()).clamp(s.tick_size, MAX_PRICE);
        w.at = self.now;
        w.factor_at = self.factor;
        w.value
    }

    /// A new rate for an FX pair drawn uniformly.
    fn fx(&mut self, ts: Timestamp) -> Event {
        let k = self.rng.below(self.pairs.len() as u64) as usize;
        let p = &self.pairs[k];
        let w = &mut self.rates[k];
        let dt = self.now - w.at;
        let ret = -p.vol * p.vol / 2.0 * dt + p.vol * dt.sqrt() * self.rng.normal();
        w.value = (w.value * ret.exp()).clamp(1e-4, 1e6);
        w.at = self.now;
        fx_event(ts, p, w.value)
    }

    /// A trade by an account drawn uniformly: seven in ten on an instrument
    /// it holds, else on one drawn by activity; 1 to 10 lots, on the side
    /// that keeps the position within 30 lots; at the current price give or
    /// take half a basis point of slippage.
    fn trade(&mut self, ts: Timestamp) -> Event {
        let accounts = self.config.accounts.len().max(1);
        let a = self.rng.below(accounts as u64) as usize;
        let held = self.held.get(a).map_or(&[][..], Vec::as_slice);
        let i = if !held.is_empty() && self.rng.chance(0.7) {
            held[self.rng.below(held.len() as u64) as usize]
        } else {
            self.zipf.sample(self.rng.unit())
        };
        let price = self.move_instrument(i);
        let lot = self.specs[i].lot;
        let qty = (1 + self.rng.below(10) as i64) * lot;
        let now = self.holdings.get(&(a, i)).copied().unwrap_or(0);
        let mut signed = if self.rng.chance(0.5) { qty } else { -qty };
        if (now + signed).abs() > 30 * lot {
            signed = -now.signum() * qty;
        }
        let slip = 1.0 + 0.0001 * (self.rng.unit() - 0.5);
        self.hold(a, i, signed);
        self.trades += 1;
        let id = format!("{}-{}", self.config.trade_id_prefix, self.trades);
        let account = self.config.accounts.get(a).map_or("ACCOUNT", String::as_str);
        trade_event(id, ts, account, &self.specs[i], signed, price * slip)
    }

    /// Continues from a running book: each listed instrument's price
    /// becomes its `mark`, and the accounts' holdings become `holdings`
    /// (account, instrument, quantity, in whole units toward zero), so a demo
    /// restarted on its store carries on from the book it left instead of
    /// jumping back to the start prices. Unknown names are ignored.
    pub fn resume_from(&mut self, marks: &[(&str, Price)], holdings: &[(&str, &str, Quantity)]) {
        let index = |id: &str| self.specs.iter().position(|s| s.id == id);
        for &(id, mark) in marks {
            if let (Some(i), true) = (index(id), mark.raw() > 0) {
                let price = mark.raw() as f64 / UNIT as f64;
                self.prices[i].value = price.clamp(self.specs[i].tick_size, MAX_PRICE);
            }
        }
        let found: Vec<(usize, usize, i64)> = holdings
            .iter()
            .filter_map(|&(account, id, qty)| {
                let a = self.config.accounts.iter().position(|x| x == account)?;
                Some((a, index(id)?, qty.raw() / UNIT))
            })
            .collect();
        self.holdings.clear();
        self.held.iter_mut().for_each(Vec::clear);
        for (a, i, qty) in found {
            self.hold(a, i, qty);
        }
    }

    fn hold(&mut self, account: usize, instrument: usize, qty: i64) {
        let held = self.holdings.entry((account, instrument)).or_insert_with(|| {
            if let Some(list) = self.held.get_mut(account) {
                list.push(instrument);
            }
            0
        });
        *held += qty;
    }
}

/// A trade of `signed` units (negative = sell) at `price`, with a fee of
/// 2 basis points of the notional (at least 1), in cents.
fn trade_event(
    id: String,
    ts: Timestamp,
    account: &str,
    spec: &InstrumentSpec,
    signed: i64,
    price: f64,
) -> Event {
    let price = to_price(price, spec.tick_size);
    let notional = price.raw() as f64 / UNIT as f64 * signed.unsigned_abs() as f64 * spec.multiplier as f64;
    let fee_cents = (notional * 0.0002 * 100.0).round().max(100.0);
    Event::Trade(Trade {
        id: Some(id),
        ts,
        account: account.to_owned(),
        instrument: spec.id.clone(),
        side: if signed < 0 { Side::Sell } else { Side::Buy },
        qty: Quantity::from_int(signed.unsigned_abs().try_into().unwrap_or(i64::MAX)),
        price,
        fee: Fee::from_raw(fee_cents as i64 * (UNIT / 100)),
        strategy: None,
        close_lots: Vec::new(),
    })
}

fn fx_event(ts: Timestamp, pair: &FxPairSpec, rate: f64) -> Event {
    let step = 10f64.powi(pair.decimals.min(9) as i32);
    let units = ((rate * step).round() as i64).max(1);
    let raw = units.saturating_mul(UNIT / 10i64.pow(pair.decimals.min(9)));
    Event::Fx(Fx {
        ts,
        pair: pair.pair.clone(),
        rate: Rate::from_raw(raw),
    })
}

/// Rounds `price` to a whole number of ticks (at least one) in fixed point.
fn to_price(price: f64, tick_size: f64) -> Price {
    let tick_raw = ((tick_size * UNIT as f64).round() as i64).max(1);
    let ticks = ((price / tick_size).round() as i64).max(1);
    Price::from_raw(ticks.saturating_mul(tick_raw))
}
