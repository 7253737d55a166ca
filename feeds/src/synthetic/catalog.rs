//! Reference data of the synthetic market: the demo's instruments and
//! opening book, FX quoting conventions, and the instruments generated for a
//! general configuration.

use super::rng::Rng;
use super::{FxPairSpec, InstrumentSpec, Opening, SyntheticConfig};

/// Demo instruments, hottest first: (id, currency, multiplier, start price,
/// tick size, lot, annual volatility). Prices are plausible late-2026 levels.
const DEMO: &[(&str, &str, i64, f64, f64, i64, f64)] = &[
    ("AAPL", "USD", 1, 189.50, 0.01, 10, 0.26),
    ("NVDA", "USD", 1, 131.40, 0.01, 10, 0.50),
    ("MSFT", "USD", 1, 415.20, 0.01, 10, 0.24),
    ("ESZ6", "USD", 50, 5_950.00, 0.25, 1, 0.17),
    ("TSLA", "USD", 1, 242.80, 0.01, 10, 0.58),
    ("AMZN", "USD", 1, 186.30, 0.01, 10, 0.32),
    ("SAP", "EUR", 1, 198.40, 0.02, 10, 0.27),
    ("7203.T", "JPY", 1, 2_850.0, 0.5, 100, 0.28),
    ("GOOGL", "USD", 1, 168.90, 0.01, 10, 0.29),
    ("META", "USD", 1, 512.70, 0.01, 10, 0.38),
    ("ASML", "EUR", 1, 685.20, 0.1, 10, 0.40),
    ("NQZ6", "USD", 20, 20_850.00, 0.25, 1, 0.22),
    ("JPM", "USD", 1, 198.60, 0.01, 10, 0.24),
    ("AVGO", "USD", 1, 162.40, 0.01, 10, 0.45),
    ("FESXZ6", "EUR", 10, 4_850.0, 1.0, 1, 0.18),
    ("6758.T", "JPY", 1, 3_120.0, 0.5, 100, 0.30),
    ("MC", "EUR", 1, 712.50, 0.1, 10, 0.30),
    ("NKZ6", "JPY", 100, 38_500.0, 5.0, 1, 0.20),
    ("V", "USD", 1, 279.10, 0.01, 10, 0.20),
    ("XOM", "USD", 1, 118.90, 0.01, 10, 0.26),
    ("SIE", "EUR", 1, 176.30, 0.02, 10, 0.26),
    ("9984.T", "JPY", 1, 8_900.0, 1.0, 100, 0.45),
    ("UNH", "USD", 1, 528.40, 0.01, 10, 0.25),
    ("NFLX", "USD", 1, 689.50, 0.01, 10, 0.40),
    ("BAC", "USD", 1, 39.80, 0.01, 100, 0.28),
    ("TTE", "EUR", 1, 61.20, 0.01, 10, 0.24),
    ("AMD", "USD", 1, 155.80, 0.01, 10, 0.50),
    ("8306.T", "JPY", 1, 1_650.0, 0.5, 100, 0.30),
    ("MA", "USD", 1, 468.20, 0.01, 10, 0.22),
    ("ALV", "EUR", 1, 271.80, 0.1, 10, 0.20),
    ("COST", "USD", 1, 872.10, 0.01, 10, 0.22),
    ("HD", "USD", 1, 389.60, 0.01, 10, 0.23),
    ("7974.T", "JPY", 1, 8_600.0, 1.0, 100, 0.35),
    ("KO", "USD", 1, 62.70, 0.01, 100, 0.15),
    ("AIR", "EUR", 1, 148.60, 0.02, 10, 0.28),
    ("PEP", "USD", 1, 171.30, 0.01, 10, 0.16),
    ("ORCL", "USD", 1, 141.20, 0.01, 10, 0.33),
    ("OR", "EUR", 1, 392.10, 0.1, 10, 0.22),
    ("6861.T", "JPY", 1, 65_000.0, 10.0, 100, 0.30),
    ("CRM", "USD", 1, 276.40, 0.01, 10, 0.35),
    ("BNP", "EUR", 1, 64.30, 0.01, 10, 0.30),
    ("ADBE", "USD", 1, 521.30, 0.01, 10, 0.34),
    ("JNJ", "USD", 1, 152.30, 0.01, 10, 0.16),
    ("ENEL", "EUR", 1, 6.85, 0.001, 100, 0.20),
    ("WMT", "USD", 1, 68.40, 0.01, 100, 0.18),
    ("9432.T", "JPY", 1, 152.0, 0.1, 1_000, 0.20),
    ("PG", "USD", 1, 167.20, 0.01, 10, 0.15),
    ("DTE", "EUR", 1, 23.40, 0.01, 100, 0.18),
    ("CSCO", "USD", 1, 51.60, 0.01, 100, 0.22),
    ("DIS", "USD", 1, 98.70, 0.01, 10, 0.28),
    ("INTC", "USD", 1, 22.10, 0.01, 100, 0.45),
    ("NKE", "USD", 1, 79.20, 0.01, 10, 0.30),
];

/// The demo accounts' opening book: (account, instrument, signed quantity).
const DEMO_BOOK: &[(&str, &str, i64)] = &[
    ("A1", "AAPL", 500),
    ("A1", "MSFT", 200),
    ("A1", "NVDA", 1_000),
    ("A1", "AMZN", 300),
    ("A1", "GOOGL", 400),
    ("A1", "META", 150),
    ("A1", "TSLA", -200),
    ("A1", "ESZ6", 2),
    ("A1", "ASML", 40),
    ("A1", "7203.T", 1_000),
    ("A2", "SAP", 300),
    ("A2", "MC", 50),
    ("A2", "SIE", 200),
    ("A2", "ALV", 100),
    ("A2", "ENEL", 5_000),
    ("A2", "FESXZ6", -3),
    ("A2", "6758.T", 400),
    ("A2", "9984.T", 200),
    ("A2", "NKZ6", 1),
    ("A2", "JPM", 200),
    ("B7", "ESZ6", -4),
    ("B7", "NQZ6", 2),
    ("B7", "JPM", 500),
    ("B7", "BAC", -3_000),
    ("B7", "XOM", 600),
    ("B7", "KO", 800),
    ("B7", "NFLX", -100),
    ("B7", "AIR", 150),
    ("B7", "7974.T", 300),
    ("B7", "AAPL", 250),
];

/// Quoting conventions against USD: (currency, quoted as `CCY/USD`, start
/// rate of the pair, decimals of the pair). Other currencies are `USD/CCY`
/// at 1 with 4 decimals.
const FX: &[(&str, bool, f64, u32)] = &[
    ("EUR", true, 1.0850, 5),
    ("GBP", true, 1.2700, 5),
    ("AUD", true, 0.6600, 5),
    ("NZD", true, 0.6000, 5),
    ("JPY", false, 151.50, 3),
    ("CHF", false, 0.8800, 5),
    ("CAD", false, 1.3600, 5),
    ("HKD", false, 7.8000, 5),
    ("CNY", false, 7.2000, 4),
    ("SEK", false, 10.500, 4),
];

/// The demo instruments, hottest first.
pub(super) fn demo_instruments(drift: f64, correlation: f64) -> Vec<InstrumentSpec> {
    DEMO.iter()
        .map(|&(id, ccy, multiplier, price, tick, lot, vol)| InstrumentSpec {
            id: id.to_owned(),
            currency: ccy.to_owned(),
            multiplier,
            start_price: price,
            tick_size: tick,
            lot,
            drift,
            vol,
            factor_loading: correlation.clamp(0.0, 1.0).sqrt(),
        })
        .collect()
}

/// The demo's opening book, as indices into `accounts` and `specs`.
pub(super) fn demo_book(accounts: &[String], specs: &[InstrumentSpec]) -> Vec<Opening> {
    DEMO_BOOK
        .iter()
        .filter_map(|&(account, instrument, qty)| {
            Some(Opening {
                account: accounts.iter().position(|a| a == account)?,
                instrument: specs.iter().position(|s| s.id == instrument)?,
                qty,
            })
        })
        .collect()
}

/// One pair against USD for every currency other than USD, in market convention.
pub(super) fn fx_pairs(currencies: &[String], vol: f64) -> Vec<FxPairSpec> {
    let mut pairs: Vec<FxPairSpec> = Vec::new();
    for ccy in currencies.iter().filter(|c| c.as_str() != "USD") {
        let (ccy_is_base, rate, decimals) = FX
            .iter()
            .find(|f| f.0 == ccy)
            .map_or((false, 1.0, 4), |f| (f.1, f.2, f.3));
        let pair = if ccy_is_base {
            format!("{ccy}/USD")
        } else {
            format!("USD/{ccy}")
        };
        if pairs.iter().all(|p| p.pair != pair) {
            pairs.push(FxPairSpec {
                pair,
                start_rate: rate,
                decimals,
                vol,
            });
        }
    }
    pairs
}

/// Units of `ccy` per US dollar at the start (1 for unknown currencies).
fn per_usd(ccy: &str) -> f64 {
    FX.iter()
        .find(|f| f.0 == ccy)
        .map_or(1.0, |f| if f.1 { 1.0 / f.2 } else { f.2 })
}

/// `config.instruments` instruments `S0000…`, currencies round robin, start
/// prices log-uniform between 10 and 1,000 dollars' worth, volatility spread
/// log-normally around `config.vol`.
pub(super) fn generated_instruments(config: &SyntheticConfig, rng: &mut Rng) -> Vec<InstrumentSpec> {
    let currencies: Vec<&str> = if config.currencies.is_empty() {
        vec!["USD"]
    } else {
        config.currencies.iter().map(String::as_str).collect()
    };
    (0..config.instruments.max(1))
        .map(|i| {
            let ccy = currencies[i % currencies.len()];
            let fx = per_usd(ccy);
            let price = 10f64.powf(1.0 + 2.0 * rng.unit()) * fx;
            let (tick, lot) = if fx > 20.0 { (1.0, 100) } else { (0.01, 10) };
            let vol = config.vol * (config.vol_dispersion * rng.normal()).exp();
            InstrumentSpec {
                id: format!("S{i:04}"),
                currency: ccy.to_owned(),
                multiplier: 1,
                start_price: price.max(tick),
                tick_size: tick,
                lot,
                drift: config.drift,
                vol,
                factor_loading: config.correlation.clamp(0.0, 1.0).sqrt(),
            }
        })
        .collect()
}

/// `per_account` distinct instruments per account drawn by activity (Zipf),
/// 1 to 20 lots each, four in five long.
pub(super) fn generated_book(
    accounts: usize,
    per_account: usize,
    specs: &[InstrumentSpec],
    zipf: &crate::workload::Zipf,
    rng: &mut Rng,
) -> Vec<Opening> {
    let per_account = per_account.min(specs.len());
    let mut book = Vec::with_capacity(accounts * per_account);
    for account in 0..accounts {
        let mut held: Vec<usize> = Vec::with_capacity(per_account);
        let mut attempts = 0;
        while held.len() < per_account {
            attempts += 1;
            let mut i = zipf.sample(rng.unit());
            if attempts > 100 * per_account {
                // Bounded time when per_account nears the instrument count.
                i = (0..specs.len()).find(|j| !held.contains(j)).unwrap_or(i);
            }
            if !held.contains(&i) {
                held.push(i);
                let lots = 1 + rng.below(20) as i64;
                let sign = if rng.chance(0.8) { 1 } else { -1 };
                book.push(Opening {
                    account,
                    instrument: i,
                    qty: sign * lots * specs[i].lot,
                });
            }
        }
    }
    book
}
