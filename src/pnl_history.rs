//! `kupala history`: one series of a store's P&L history (docs/pnl.md,
//! "P&L history") as JSON.

use std::path::Path;

use anyhow::{Context, bail};
use kupala_engine::store::Store;
use kupala_engine::store::history::Series;
use kupala_engine::time::Timestamp;
use serde_json::{Value, json};

/// Which series to print.
#[derive(Debug, Clone, Default)]
pub struct Which {
    /// The account (`None`: the firm).
    pub account: Option<String>,
    /// The book of this strategy in the account.
    pub strategy: Option<String>,
    /// The account's default book (instead of its totals).
    pub default_book: bool,
    /// The first point's earliest time.
    pub from: Option<Timestamp>,
    /// The last point's latest time.
    pub to: Option<Timestamp>,
}

impl Which {
    fn series(&self) -> anyhow::Result<Series> {
        match (&self.account, &self.strategy, self.default_book) {
            (None, None, false) => Ok(Series::Firm),
            (None, ..) => bail!("--strategy and --default-book need --account"),
            (Some(_), Some(_), true) => bail!("give --strategy or --default-book, not both"),
            (Some(a), None, false) => Ok(Series::Account(a.clone())),
            (Some(a), strategy, _) => Ok(Series::Book {
                account: a.clone(),
                strategy: strategy.clone(),
            }),
        }
    }
}

/// The series' points in `dir`'s store, oldest first.
pub fn run(dir: &Path, which: &Which) -> anyhow::Result<Value> {
    if !dir.join(kupala_engine::store::MARKER).exists() {
        bail!("{} holds no kupala store", dir.display());
    }
    let series = which.series()?;
    let store = Store::open(dir).with_context(|| format!("opening {}", dir.display()))?;
    let from = which.from.unwrap_or(Timestamp(i64::MIN));
    let to = which.to.unwrap_or(Timestamp(i64::MAX));
    if from > to {
        bail!("--from is after --to");
    }
    let points: Vec<Value> = store
        .history(&series, from, to)?
        .iter()
        .map(|p| {
            json!({
                "ts": p.at,
                "seq": p.seq,
                "net_pnl": p.pnl.net_pnl.to_money(),
                "day_pnl": p.pnl.day_pnl.to_money(),
            })
        })
        .collect();
    let mut out = match series {
        Series::Firm => json!({"series": "firm"}),
        Series::Account(a) => json!({"series": "account", "account": a}),
        Series::Book { account, strategy } => {
            json!({"series": "book", "account": account, "strategy": strategy})
        }
    };
    out["points"] = Value::Array(points);
    Ok(out)
}
