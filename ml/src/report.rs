//! The whole analysis: features → model comparison → best model's forecasts
//! → clustering → analytics, as one JSON-able [`Report`] (the shape of
//! `kupala analyze` and of the worker's results).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use kupala_engine::time::Date;
use serde::{Deserialize, Serialize};

use crate::accounts::{AccountHistory, returns_on};
use crate::analytics::{Performance, performance};
use crate::cluster::{Assignment, ClusterParams, cluster};
use crate::compare::{Best, Forecast, InstrumentBoard, best, compare, forecasts};
use crate::cv::Row;
use crate::features::build;
use crate::models::{ModelKind, ModelParams};
use crate::series::PriceSeries;
use crate::{Control, MlError};

const DAY_NANOS: i64 = 86_400_000_000_000;

/// Settings of an analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzeConfig {
    /// Walk-forward folds per instrument.
    pub folds: usize,
    /// Minimum training rows of the first fold.
    pub min_train: usize,
    /// Models compared (default: all six).
    pub models: Vec<ModelKind>,
    /// Model hyper-parameters.
    pub params: ModelParams,
    /// Clustering settings.
    pub cluster: ClusterParams,
    /// Benchmark instrument for beta (default: the series with the most
    /// observations).
    pub benchmark: Option<String>,
    /// Newest observations kept per instrument.
    pub max_rows: usize,
    /// Instruments analysed (those with the most observations first).
    pub max_instruments: usize,
    /// Periods per year for account (EOD) analytics.
    pub eod_periods_per_year: f64,
}

impl Default for AnalyzeConfig {
    fn default() -> Self {
        Self {
            folds: 5,
            min_train: 30,
            models: ModelKind::ALL.to_vec(),
            params: ModelParams::default(),
            cluster: ClusterParams::default(),
            benchmark: None,
            max_rows: 20_000,
            max_instruments: 200,
            eod_periods_per_year: 252.0,
        }
    }
}

/// What an analysis reads.
#[derive(Clone, Debug, Default)]
pub struct Inputs {
    /// Price series, one per instrument (cleaned).
    pub series: Vec<PriceSeries>,
    /// Account EOD histories.
    pub accounts: Vec<AccountHistory>,
    /// EOD closes by instrument (for account betas).
    pub closes: HashMap<String, BTreeMap<Date, f64>>,
}

/// Named analytics.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NamedPerformance {
    /// Instrument or account.
    pub name: String,
    /// Its analytics.
    #[serde(flatten)]
    pub performance: Performance,
}

/// Analytics of instruments (buy and hold) and accounts (EOD history).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Analytics {
    /// The benchmark instrument betas are measured against.
    pub benchmark: Option<String>,
    /// Per instrument, from its own prices (beta over the benchmark's
    /// returns on the same intervals, as-of prices).
    pub instruments: Vec<NamedPerformance>,
    /// Per account, from its EOD history.
    pub accounts: Vec<NamedPerformance>,
}

/// What the data held.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct DataSummary {
    /// Instruments analysed.
    pub instruments: usize,
    /// Observations over them.
    pub observations: usize,
    /// Accounts with EOD returns.
    pub accounts: usize,
    /// Instruments left out of the comparison, and why.
    pub skipped: Vec<String>,
}

/// The result of an analysis.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Report {
    /// Models, best first (pooled out-of-sample metrics).
    pub leaderboard: Vec<Row>,
    /// Naive baselines on the same rows.
    pub baselines: Vec<Row>,
    /// The model kept and why.
    pub best: Option<Best>,
    /// The best model's next-period forecast per instrument.
    pub forecasts: Vec<Forecast>,
    /// Instruments by return profile.
    pub clusters: Vec<Assignment>,
    /// Performance analytics.
    pub analytics: Analytics,
    /// Per-instrument leaderboards.
    pub instruments: Vec<InstrumentBoard>,
    /// What was read.
    pub data: DataSummary,
    /// Problems that did not stop the analysis.
    pub warnings: Vec<String>,
    /// Wall time of the analysis.
    pub seconds: f64,
}

/// Runs the analysis. Fails only when cancelled or with no usable series
/// and no account; anything smaller (one instrument too short, a model that
/// cannot be fitted) becomes a warning.
pub fn analyze(mut inputs: Inputs, cfg: &AnalyzeConfig, ctl: &Control<'_>) -> Result<Report, MlError> {
    let t0 = Instant::now();
    ctl.report(0.0, "features");
    let mut report = Report::default();
    inputs.series.retain(|s| !s.is_empty());
    inputs.series.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in inputs.series.iter().skip(cfg.max_instruments) {
        report
            .data
            .skipped
            .push(format!("{}: beyond max_instruments", s.instrument));
    }
    inputs.series.truncate(cfg.max_instruments);
    inputs.series.sort_by(|a, b| a.instrument.cmp(&b.instrument));
    for s in &mut inputs.series {
        s.keep_last(cfg.max_rows.max(1));
    }
    if inputs.series.is_empty() && inputs.accounts.is_empty() {
        return Err(MlError::NoData(
            "no price series and no account history".to_owned(),
        ));
    }
    report.data.instruments = inputs.series.len();
    report.data.observations = inputs.series.iter().map(PriceSeries::len).sum();
    report.data.accounts = inputs.accounts.len();

    let mut sets = Vec::new();
    for s in &inputs.series {
        match build(s) {
            Some(f) => sets.push((s.instrument.clone(), f)),
            None => report.data.skipped.push(format!(
                "{}: {} observations, fewer than the {} needed for features",
                s.instrument,
                s.len(),
                crate::features::WARMUP + 2
            )),
        }
    }
    ctl.checkpoint()?;
    let models: Vec<ModelKind> = if cfg.models.is_empty() {
        ModelKind::ALL.to_vec()
    } else {
        cfg.models.clone()
    };
    let mut progress = |done: usize, total: usize, stage: &str| {
        #[allow(clippy::cast_precision_loss, reason = "a fraction")]
        ctl.report(0.05 + 0.8 * done as f64 / total as f64, stage);
    };
    let comparison = compare(
        &sets,
        &models,
        &cfg.params,
        cfg.folds,
        cfg.min_train,
        ctl,
        &mut progress,
    )?;
    for (name, f) in &sets {
        if !comparison.instruments.iter().any(|b| &b.instrument == name) {
            report.data.skipped.push(format!(
                "{name}: {} labelled rows, too few for walk-forward folds (min_train {})",
                f.labelled(),
                cfg.min_train
            ));
        }
    }
    ctl.report(0.85, "forecasts");
    if let Some((kind, b)) = best(&comparison) {
        let scored: Vec<_> = sets
            .iter()
            .filter(|(n, _)| comparison.instruments.iter().any(|b| &b.instrument == n))
            .cloned()
            .collect();
        report.forecasts = forecasts(&scored, kind, &cfg.params, ctl, &mut report.warnings)?;
        report.best = Some(b);
    }
    report.leaderboard = comparison.leaderboard;
    report.baselines = comparison.baselines;
    report.instruments = comparison.instruments;
    drop(sets);

    ctl.checkpoint()?;
    ctl.report(0.9, "clustering");
    match cluster(&inputs.series, &cfg.cluster) {
        Ok(c) => report.clusters = c,
        Err(e) => report.warnings.push(format!("clustering: {e}")),
    }
    ctl.checkpoint()?;
    ctl.report(0.95, "analytics");
    report.analytics = analytics(&inputs, cfg);
    short_spans(&report.analytics, &mut report.warnings);
    if report.leaderboard.is_empty() && !inputs.series.is_empty() {
        report.warnings.push(format!(
            "no model was compared: no instrument has enough observations for {} walk-forward folds (see data.skipped)",
            cfg.folds
        ));
    }
    report.seconds = t0.elapsed().as_secs_f64();
    ctl.report(1.0, "done");
    Ok(report)
}

/// Daily closes of a series: the last price of each UTC date.
fn daily_closes(s: &PriceSeries) -> BTreeMap<Date, f64> {
    s.ts.iter()
        .zip(&s.price)
        .filter_map(|(t, p)| i32::try_from(t.div_euclid(DAY_NANOS)).ok().map(|d| (Date(d), *p)))
        .collect()
}

/// Annualised figures drawn from less than a quarter of a year of periods
/// (a few hours of ticks, a few days of bars) extrapolate wildly: each such
/// series gets a warning, and its figures stay as computed.
fn short_spans(a: &Analytics, warnings: &mut Vec<String>) {
    for p in a.instruments.iter().chain(&a.accounts) {
        let perf = &p.performance;
        #[allow(clippy::cast_precision_loss, reason = "a count of periods")]
        let years = perf.periods as f64 / perf.periods_per_year;
        if years < 0.25 {
            warnings.push(format!(
                "{}: {} periods span {:.2} % of a year; its annualised figures (return, volatility, Sharpe) are extrapolated and not meaningful",
                p.name,
                perf.periods,
                years * 100.0
            ));
        }
    }
}

fn analytics(inputs: &Inputs, cfg: &AnalyzeConfig) -> Analytics {
    let name = cfg.benchmark.clone().or_else(|| {
        inputs
            .series
            .iter()
            .max_by_key(|s| s.len())
            .map(|s| s.instrument.clone())
    });
    let bench = name
        .as_ref()
        .and_then(|n| inputs.series.iter().find(|s| &s.instrument == n));
    let instruments = inputs
        .series
        .iter()
        .filter_map(|s| {
            let r = s.returns();
            let b: Option<Vec<f64>> = bench.map(|b| {
                s.ts.windows(2)
                    .map(|w| match (b.price_asof(w[0]), b.price_asof(w[1])) {
                        (Some(p0), Some(p1)) if p0 > 0.0 => p1 / p0 - 1.0,
                        _ => f64::NAN,
                    })
                    .collect()
            });
            let ppy = s.periods_per_year().unwrap_or(252.0);
            performance(&r, ppy, b.as_deref()).map(|performance| NamedPerformance {
                name: s.instrument.clone(),
                performance,
            })
        })
        .collect();
    let closes = name
        .as_ref()
        .and_then(|n| inputs.closes.get(n).cloned().or_else(|| bench.map(daily_closes)));
    let accounts = inputs
        .accounts
        .iter()
        .filter_map(|a| {
            let b = closes.as_ref().map(|c| returns_on(c, &a.dates));
            performance(&a.returns, cfg.eod_periods_per_year, b.as_deref()).map(|performance| {
                NamedPerformance {
                    name: a.account.clone(),
                    performance,
                }
            })
        })
        .collect();
    Analytics {
        benchmark: name.filter(|_| bench.is_some() || closes.is_some()),
        instruments,
        accounts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_inputs_are_reported_not_panicked_on() {
        let ts = |n: i64| (0..n).map(|i| i * DAY_NANOS).collect::<Vec<_>>();
        let mut nan = PriceSeries::new("NAN", ts(120), vec![f64::NAN; 120]);
        nan.clean();
        let inputs = Inputs {
            series: vec![
                PriceSeries::new("FLAT", ts(120), vec![7.0; 120]),
                PriceSeries::new("SHORT", ts(10), (1..=10).map(f64::from).collect()),
                PriceSeries::new("EMPTY", vec![], vec![]),
                nan,
            ],
            ..Inputs::default()
        };
        let r = analyze(inputs, &AnalyzeConfig::default(), &Control::none());
        let Ok(r) = r else { panic!("{:?}", r.err()) };
        assert_eq!(r.data.instruments, 2, "empty series are dropped");
        assert!(
            r.data
                .skipped
                .iter()
                .any(|s| s.starts_with("SHORT: 10 observations"))
        );
        // A flat series: every model predicts 0 and the metrics stay finite.
        assert!(r.leaderboard.iter().all(|x| x.rmse == 0.0 && x.r2.is_finite()));
        assert!(r.forecasts.iter().all(|f| f.forecast_return == 0.0));
        assert!(serde_json::to_string(&r).is_ok());
        let none = analyze(Inputs::default(), &AnalyzeConfig::default(), &Control::none());
        assert!(matches!(none, Err(MlError::NoData(_))));
        let cancel = std::sync::atomic::AtomicBool::new(true);
        let inputs = Inputs {
            series: vec![PriceSeries::new("FLAT", ts(120), vec![7.0; 120])],
            ..Inputs::default()
        };
        let stopped = analyze(
            inputs,
            &AnalyzeConfig::default(),
            &Control::new(Some(&cancel), None),
        );
        assert!(matches!(stopped, Err(MlError::Cancelled)));
    }
}
