//! The standard benchmark workload (docs/benchmarks.md, "The workload"),
//! generated deterministically from a seed.
//!
//! - `instruments` instruments named `I00000…`; instrument `i` has Zipf rank
//!   `i`, so `I00000` is the hottest;
//! - `accounts` accounts named `A0000…`, each holding `per_account` distinct
//!   instruments drawn Zipf(`zipf_s`) without replacement (rejection of
//!   repeats), opened by one buy per position ([`Workload::opening_trades`]);
//! - a stream ([`Workload::ticks`]) of ticks whose instrument is drawn
//!   Zipf(`zipf_s`), each moving that instrument's price by a multiplicative
//!   random step of at most ±0.2 %, with one trade on a uniformly drawn held
//!   position after every `trade_every` ticks.
//!
//! Everything is integer arithmetic on a splitmix64 generator except the Zipf
//! CDF (`powf`), so the same seed gives the same stream. Prices have
//! [`PRICE_DECIMALS`] decimals and are emitted as fixed-point [`Price`]s.
//! Tick `k` is stamped `2026-11-30T14:30:00Z + k µs` (1 M ticks/s offered).

use std::io::{self, BufWriter, Write};
use std::path::Path;

use kupala_engine::Event;
use kupala_engine::event::{Side, Tick, Trade};
use kupala_engine::num::{Fee, Price, Quantity};
use kupala_engine::time::Timestamp;

/// Decimal places of generated prices.
pub const PRICE_DECIMALS: u32 = 4;
/// Raw `Price` units per generated price unit (10^(9 - 4)).
const PRICE_STEP: i64 = 100_000;
/// 2026-11-30T14:30:00Z in nanoseconds since the epoch.
const START_NANOS: i64 = 1_796_049_000_000_000_000;
/// Largest multiplicative step of the random walk, in millionths (±0.2 %).
const MAX_STEP_PPM: u64 = 2_000;

/// The parameters of a workload.
#[derive(Clone, Debug, PartialEq)]
pub struct WorkloadConfig {
    /// Number of instruments (≥ 1).
    pub instruments: usize,
    /// Number of accounts (≥ 1).
    pub accounts: usize,
    /// Distinct instruments each account holds (at most `instruments`).
    pub per_account: usize,
    /// Zipf exponent `s` for holdings and tick instruments.
    pub zipf_s: f64,
    /// One trade after every `trade_every` ticks (≥ 1).
    pub trade_every: u64,
    /// Seed of every random choice.
    pub seed: u64,
}

impl WorkloadConfig {
    /// The standard workload: 10,000 instruments, 1,000 accounts × 100
    /// positions (100,000), Zipf s = 1.1, one trade per 100 ticks.
    #[must_use]
    pub const fn standard() -> Self {
        Self {
            instruments: 10_000,
            accounts: 1_000,
            per_account: 100,
            zipf_s: 1.1,
            trade_every: 100,
            seed: 0x6b75_7061_6c61,
        }
    }

    /// A small workload of the same shape for tests: 200 instruments,
    /// 50 accounts × 10 positions.
    #[must_use]
    pub const fn small() -> Self {
        Self {
            instruments: 200,
            accounts: 50,
            per_account: 10,
            ..Self::standard()
        }
    }
}

/// splitmix64: tiny, fast, and good enough for a benchmark workload.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self(seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
        r.next_u64();
        r
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (multiply-shift; bias < n / 2^64).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// An exact Zipf distribution over ranks `0..n`: `P(k) ∝ (k + 1)^-s`,
/// sampled by binary search in the precomputed CDF.
#[derive(Clone, Debug)]
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    /// The distribution over `n` ranks (at least one) with exponent `s`.
    #[must_use]
    pub fn new(n: usize, s: f64) -> Self {
        let mut acc = 0.0;
        let mut cdf: Vec<f64> = (1..=n.max(1))
            .map(|k| {
                acc += (k as f64).powf(-s);
                acc
            })
            .collect();
        cdf.iter_mut().for_each(|c| *c /= acc);
        Self { cdf }
    }

    /// The rank whose CDF interval holds `u` (`u` in `[0, 1)`).
    #[must_use]
    pub fn sample(&self, u: f64) -> usize {
        self.cdf.partition_point(|&c| c <= u).min(self.cdf.len() - 1)
    }

    /// The probability of rank `k`.
    #[must_use]
    pub fn probability(&self, k: usize) -> f64 {
        match k {
            0 => self.cdf.first().copied().unwrap_or(0.0),
            _ => self.cdf.get(k).map_or(0.0, |c| c - self.cdf[k - 1]),
        }
    }
}

/// A generated workload: names, holdings and start prices. Streams drawn from
/// it ([`ticks`](Self::ticks)) start afresh from the seed each time.
#[derive(Clone, Debug)]
pub struct Workload {
    config: WorkloadConfig,
    instruments: Vec<String>,
    accounts: Vec<String>,
    /// (account, instrument) indices, account-major, in draw order.
    positions: Vec<(u32, u32)>,
    /// Opening quantity (whole units) of each position.
    opening_qty: Vec<i64>,
    /// Start price of each instrument, in units of 10^-4.
    start_prices: Vec<i64>,
    holders: Vec<u32>,
    zipf: Zipf,
}

impl Workload {
    /// Generates the holdings and start prices of `config`.
    #[must_use]
    pub fn new(mut config: WorkloadConfig) -> Self {
        config.instruments = config.instruments.max(1);
        config.accounts = config.accounts.max(1);
        config.per_account = config.per_account.min(config.instruments);
        config.trade_every = config.trade_every.max(1);
        let zipf = Zipf::new(config.instruments, config.zipf_s);
        let mut rng = Rng::new(config.seed, 1);
        let mut positions = Vec::with_capacity(config.accounts * config.per_account);
        let mut holders = vec![0u32; config.instruments];
        let mut held = vec![false; config.instruments];
        for a in 0..config.accounts {
            let first = positions.len();
            let mut misses = 0;
            while positions.len() - first < config.per_account {
                let mut i = zipf.sample(rng.unit());
                if held[i] && misses >= 1_000 {
                    // Bounded time when per_account nears instruments: the next free rank.
                    i = (i..config.instruments)
                        .chain(0..i)
                        .find(|&j| !held[j])
                        .unwrap_or(i);
                }
                misses = if held[i] { misses + 1 } else { 0 };
                if !held[i] {
                    held[i] = true;
                    holders[i] += 1;
                    positions.push((a as u32, i as u32));
                }
            }
            positions[first..]
                .iter()
                .for_each(|&(_, i)| held[i as usize] = false);
        }
        let opening_qty = positions.iter().map(|_| 10 + rng.below(991) as i64).collect();
        let start_prices = (0..config.instruments)
            .map(|_| 100_000 + rng.below(4_900_000) as i64)
            .collect();
        Self {
            instruments: (0..config.instruments).map(|i| format!("I{i:05}")).collect(),
            accounts: (0..config.accounts).map(|a| format!("A{a:04}")).collect(),
            config,
            positions,
            opening_qty,
            start_prices,
            holders,
            zipf,
        }
    }

    /// [`WorkloadConfig::standard`]: the workload every published figure quotes.
    #[must_use]
    pub fn standard() -> Self {
        Self::new(WorkloadConfig::standard())
    }

    /// [`WorkloadConfig::small`], for tests.
    #[must_use]
    pub fn small() -> Self {
        Self::new(WorkloadConfig::small())
    }

    /// The parameters (after clamping to sane values).
    #[must_use]
    pub const fn config(&self) -> &WorkloadConfig {
        &self.config
    }

    /// The name of instrument `i` (rank `i` of the Zipf law).
    #[must_use]
    pub fn instrument_name(&self, i: usize) -> &str {
        self.instruments.get(i).map_or("", String::as_str)
    }

    /// The name of account `a`.
    #[must_use]
    pub fn account_name(&self, a: usize) -> &str {
        self.accounts.get(a).map_or("", String::as_str)
    }

    /// The price instrument `i` opens at (the price of its opening trades).
    #[must_use]
    pub fn start_price(&self, i: usize) -> Price {
        price_of(self.start_prices.get(i).copied().unwrap_or(0))
    }

    /// Every position as (account index, instrument index), account-major.
    #[must_use]
    pub fn positions(&self) -> &[(u32, u32)] {
        &self.positions
    }

    /// How many accounts hold instrument `i`: the positions one tick on it reprices.
    #[must_use]
    pub fn holders(&self, i: usize) -> usize {
        self.holders.get(i).map_or(0, |&h| h as usize)
    }

    /// The expected number of positions one tick reprices (Σ P(i) × holders(i)).
    #[must_use]
    pub fn mean_positions_per_tick(&self) -> f64 {
        (0..self.config.instruments)
            .map(|i| self.zipf.probability(i) * f64::from(self.holders[i]))
            .sum()
    }

    /// One buy per position, at its instrument's start price, in account order.
    #[must_use]
    pub fn opening_trades(&self) -> Vec<Event> {
        self.positions
            .iter()
            .zip(&self.opening_qty)
            .enumerate()
            .map(|(n, (&pos, &qty))| {
                let price = self.start_prices[pos.1 as usize];
                self.trade(format!("o-{n}"), 0, pos, Side::Buy, qty, price)
            })
            .collect()
    }

    /// The first `n` ticks of the stream from the seed, with one trade after
    /// every `trade_every`-th tick (so `n / trade_every` trades in all).
    #[must_use]
    pub fn ticks(&self, n: u64) -> Ticks<'_> {
        Ticks {
            w: self,
            rng: Rng::new(self.config.seed, 2),
            prices: self.start_prices.clone(),
            remaining: n,
            ticks: 0,
            trades: 0,
            trade_due: false,
        }
    }

    /// Writes the opening positions (`account,instrument,qty,price`) and the
    /// first `n` ticks of the stream with their trades
    /// (`kind,ts,instrument,price,account,side,qty,fee,id`) as CSV, so other
    /// systems can run exactly the same data.
    pub fn write_csv(&self, positions_path: &Path, ticks_path: &Path, n: u64) -> io::Result<()> {
        let mut out = BufWriter::new(std::fs::File::create(positions_path)?);
        writeln!(out, "account,instrument,qty,price")?;
        for (&(a, i), &qty) in self.positions.iter().zip(&self.opening_qty) {
            let price = price_of(self.start_prices[i as usize]);
            writeln!(
                out,
                "{},{},{qty},{price}",
                self.accounts[a as usize], self.instruments[i as usize]
            )?;
        }
        out.flush()?;
        let mut out = BufWriter::new(std::fs::File::create(ticks_path)?);
        writeln!(out, "kind,ts,instrument,price,account,side,qty,fee,id")?;
        for event in self.ticks(n) {
            match event {
                Event::Tick(t) => writeln!(out, "tick,{},{},{},,,,,", t.ts, t.instrument, t.price)?,
                Event::Trade(t) => {
                    let (ts, inst, price, acc, qty, fee) =
                        (t.ts, t.instrument, t.price, t.account, t.qty, t.fee);
                    let side = if t.side == Side::Buy { "buy" } else { "sell" };
                    let id = t.id.unwrap_or_default();
                    writeln!(out, "trade,{ts},{inst},{price},{acc},{side},{qty},{fee},{id}")?;
                }
                _ => {}
            }
        }
        out.flush()
    }

    /// A trade of `qty` whole units on position `(account, instrument)`.
    fn trade(&self, id: String, k: u64, (a, i): (u32, u32), side: Side, qty: i64, price: i64) -> Event {
        Event::Trade(Trade {
            id: Some(id),
            ts: timestamp(k),
            account: self.accounts[a as usize].clone(),
            instrument: self.instruments[i as usize].clone(),
            side,
            qty: Quantity::from_int(qty),
            price: price_of(price),
            fee: Fee::from_int(1),
            strategy: None,
            close_lots: Vec::new(),
        })
    }
}

fn price_of(units: i64) -> Price {
    Price::from_raw(units * PRICE_STEP)
}

fn timestamp(k: u64) -> Timestamp {
    Timestamp(START_NANOS + i64::try_from(k).unwrap_or(i64::MAX / 1000) * 1000)
}

/// The tick/trade stream of a [`Workload`], as edge [`Event`]s.
#[derive(Clone, Debug)]
pub struct Ticks<'a> {
    w: &'a Workload,
    rng: Rng,
    prices: Vec<i64>,
    remaining: u64,
    ticks: u64,
    trades: u64,
    trade_due: bool,
}

impl Iterator for Ticks<'_> {
    type Item = Event;

    fn next(&mut self) -> Option<Event> {
        if self.trade_due {
            self.trade_due = false;
            self.trades += 1;
            let pick = self.rng.below(self.w.positions.len() as u64) as usize;
            let pos = self.w.positions[pick];
            let side = [Side::Buy, Side::Sell][self.rng.below(2) as usize];
            let qty = 1 + self.rng.below(100) as i64;
            let (id, price) = (format!("w-{}", self.trades), self.prices[pos.1 as usize]);
            return Some(self.w.trade(id, self.ticks, pos, side, qty, price));
        }
        if self.remaining == 0 {
            return None;
        }
        self.remaining -= 1;
        self.ticks += 1;
        let i = self.w.zipf.sample(self.rng.unit());
        let step = self.rng.below(2 * MAX_STEP_PPM + 1) as i64 - MAX_STEP_PPM as i64;
        let p = &mut self.prices[i];
        *p = (*p + *p * step / 1_000_000).max(100);
        self.trade_due = self.ticks.is_multiple_of(self.w.config.trade_every);
        Some(Event::Tick(Tick {
            ts: timestamp(self.ticks),
            instrument: self.w.instruments[i].clone(),
            price: price_of(*p),
        }))
    }
}

#[cfg(test)]
#[path = "workload_tests.rs"]
mod tests;
