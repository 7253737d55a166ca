//! What the worker reads from the store: price bars sampled from the
//! journal's ticks, and the accounts' EOD history.
//!
//! Bars: the journal's ticks of each instrument are bucketed by
//! `bar_seconds` of event time; a bar is its last tick (the close). Splits
//! in the journal rescale the earlier bars. Only the newest `max_bars` bars
//! per instrument are kept. A pruned journal (`prune_journal`) holds only
//! the history since the oldest kept snapshot.

use kupala_engine::store::Store;
use kupala_engine::store::journal::JOp;
use kupala_engine::time::Date;
use serde::{Deserialize, Serialize};

use crate::report::Inputs;
use crate::series::{PriceSeries, SeriesBuilder};
use crate::{Control, MlError, accounts};

/// How price history is read from the journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HistoryConfig {
    /// Bar length in seconds (the forecast horizon is one bar).
    pub bar_seconds: u64,
    /// Newest bars kept per instrument.
    pub max_bars: usize,
    /// Only these instruments (default: all).
    pub instruments: Option<Vec<String>>,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        Self {
            bar_seconds: 60,
            max_bars: 5_000,
            instruments: None,
        }
    }
}

#[allow(clippy::cast_precision_loss, reason = "analytics, not P&L state")]
fn raw_f64(raw: i64) -> f64 {
    raw as f64 / kupala_engine::num::UNIT as f64
}

/// Price bars of every instrument ticked in the journal.
pub fn prices(store: &Store, cfg: &HistoryConfig, ctl: &Control<'_>) -> Result<Vec<PriceSeries>, MlError> {
    let names = store.names()?;
    let bar = i64::try_from(cfg.bar_seconds.max(1))
        .unwrap_or(i64::MAX / 1_000_000_000)
        .saturating_mul(1_000_000_000);
    let wanted = |name: &str| {
        cfg.instruments
            .as_ref()
            .is_none_or(|w| w.iter().any(|x| x == name))
    };
    let mut b = SeriesBuilder::new();
    for (i, key) in store.journal_keys()?.into_iter().enumerate() {
        if i % 64 == 0 {
            ctl.checkpoint()?;
            b.trim(cfg.max_bars);
        }
        let batch = store.journal_batch(key)?;
        for e in &batch.events {
            match e.op {
                JOp::Tick { instrument, price } => {
                    let name = names.instruments.name(instrument);
                    if wanted(name) {
                        b.observe(name, e.ts, raw_f64(price), None, Some(e.ts.div_euclid(bar)));
                    }
                }
                JOp::Split { instrument, ratio } => {
                    b.split(names.instruments.name(instrument), raw_f64(ratio))
                }
                _ => {}
            }
        }
    }
    let mut out = b.finish();
    for s in &mut out {
        s.keep_last(cfg.max_bars);
    }
    Ok(out)
}

/// Everything an analysis of the store reads: journal bars, account
/// returns and EOD closes.
pub fn inputs(store: &Store, cfg: &HistoryConfig, ctl: &Control<'_>) -> Result<Inputs, MlError> {
    let series = prices(store, cfg, ctl)?;
    ctl.checkpoint()?;
    let (accounts, closes) = accounts::load(store)?;
    Ok(Inputs {
        series,
        accounts,
        closes,
    })
}

/// The newest EOD date recorded, if any.
pub fn last_eod(store: &Store) -> Result<Option<Date>, MlError> {
    Ok(store.eod_dates()?.last().copied())
}
