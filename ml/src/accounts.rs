//! Per-account daily returns from the store's EOD history.
//!
//! For each EOD date and account: the day's P&L in base currency is, summed
//! over the account's EOD positions, `net_pnl_base - baseline`, where the
//! baseline is the position's `net_pnl_base` at the previous EOD (0 for a
//! position opened since, or whose slot an EOD closed and reset). The day's
//! return is that P&L over the account's gross exposure (the sum of
//! `|market_value_base|`) at the previous EOD; a day after an EOD with no
//! exposure has no return. Unpriced positions (no base values) are left out.
//! Benchmark returns come from an instrument's EOD marks on the same dates.

use std::collections::{BTreeMap, HashMap, HashSet};

use kupala_engine::num::EXACT_UNIT;
use kupala_engine::store::{Store, StoreError};
use kupala_engine::time::Date;
use serde::Serialize;

/// One account's EOD history.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AccountHistory {
    /// The account's name.
    pub account: String,
    /// EOD dates with a return (the day's P&L over the previous exposure).
    pub dates: Vec<Date>,
    /// Day P&L in base currency on those dates.
    pub pnl: Vec<f64>,
    /// Day returns on those dates.
    pub returns: Vec<f64>,
}

/// A base-currency amount at the exact scale as `f64`.
#[allow(clippy::cast_precision_loss, reason = "analytics, not P&L state")]
fn money_f64(exact: i128) -> f64 {
    exact as f64 / EXACT_UNIT as f64
}

/// Daily closes by instrument name.
pub type Closes = HashMap<String, BTreeMap<Date, f64>>;

/// Reads every account's returns, and the daily closes (EOD marks) of every
/// instrument held at an EOD, by instrument name.
pub fn load(store: &Store) -> Result<(Vec<AccountHistory>, Closes), StoreError> {
    let names = store.names()?;
    let mut baseline: HashMap<(u32, u32), i128> = HashMap::new();
    let mut prev_gross: HashMap<u32, f64> = HashMap::new();
    let mut out: BTreeMap<u32, AccountHistory> = BTreeMap::new();
    let mut marks: Closes = HashMap::new();
    for date in store.eod_dates()? {
        let records = store.eod(date)?;
        let mut pnl: BTreeMap<u32, i128> = BTreeMap::new();
        let mut gross: HashMap<u32, f64> = HashMap::new();
        let mut next: HashMap<(u32, u32), i128> = HashMap::new();
        for r in &records {
            let instrument = names.instruments.name(r.instrument).to_owned();
            #[allow(clippy::cast_precision_loss, reason = "analytics")]
            let mark = r.mark as f64 / kupala_engine::num::UNIT as f64;
            if mark > 0.0 {
                marks.entry(instrument).or_default().insert(date, mark);
            }
            let Some(base) = r.base else { continue };
            let key = (r.account, r.instrument);
            let net = base.net_pnl;
            *pnl.entry(r.account).or_default() += net - baseline.get(&key).copied().unwrap_or(0);
            *gross.entry(r.account).or_default() += money_f64(base.market_value).abs();
            next.insert(key, net);
        }
        let closed: HashSet<(u32, u32)> = store
            .closed(Some(date))?
            .iter()
            .map(|r| (r.account, r.instrument))
            .collect();
        for key in closed {
            next.remove(&key);
        }
        for (account, day) in pnl {
            let exposure = prev_gross.get(&account).copied().unwrap_or(0.0);
            if exposure > 0.0 {
                let h = out.entry(account).or_insert_with(|| AccountHistory {
                    account: names.accounts.name(account).to_owned(),
                    ..AccountHistory::default()
                });
                let day = money_f64(day);
                h.dates.push(date);
                h.pnl.push(day);
                h.returns.push(day / exposure);
            }
        }
        baseline = next;
        prev_gross = gross;
    }
    Ok((out.into_values().collect(), marks))
}

/// Returns of a daily close series on `dates` (each against the previous
/// close in the series); `NaN` where a close is missing.
#[must_use]
pub fn returns_on(closes: &BTreeMap<Date, f64>, dates: &[Date]) -> Vec<f64> {
    dates
        .iter()
        .map(|d| {
            let now = closes.get(d);
            let before = closes.range(..*d).next_back().map(|(_, v)| v);
            match (now, before) {
                (Some(n), Some(b)) if *b > 0.0 => n / b - 1.0,
                _ => f64::NAN,
            }
        })
        .collect()
}
