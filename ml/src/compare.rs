//! Model comparison (PyCaret's `compare_models` role): every model and
//! baseline through the walk-forward folds of every instrument, pooled into
//! one leaderboard; the best model; its next-period forecasts.
//!
//! Metrics are pooled over every instrument's out-of-sample rows (MAE, RMSE,
//! R², accuracy), which lets the longest or most volatile series dominate;
//! so the ranking key is scale-free: the relative RMSE, each instrument's
//! RMSE over its zero-return baseline's RMSE, averaged over instruments.
//! Best model: the lowest relative RMSE among the models (ties: pooled
//! RMSE, direction accuracy, the simpler model). Baselines are ranked beside
//! the models but are never "best"; `beats_baselines` says whether the best
//! model's relative RMSE is below every baseline's.

use std::time::Instant;

use ndarray::{Array2, ArrayView2, Axis, Slice};
use serde::Serialize;

use crate::cv::{Row, Scores, rank, walk_forward};
use crate::features::FeatureSet;
use crate::models::{Baseline, ModelKind, ModelParams, fit};
use crate::{Control, MlError};

/// One instrument's share of the comparison.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InstrumentBoard {
    /// The instrument.
    pub instrument: String,
    /// Labelled rows (feature rows with a next-period return).
    pub rows: usize,
    /// Walk-forward folds run.
    pub folds: usize,
    /// Feature columns.
    pub features: Vec<&'static str>,
    /// Models on this instrument alone, best first.
    pub leaderboard: Vec<Row>,
    /// Baselines on this instrument alone.
    pub baselines: Vec<Row>,
}

/// The pooled comparison.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Comparison {
    /// Models, best first, over every instrument's out-of-sample rows.
    pub leaderboard: Vec<Row>,
    /// Baselines over the same rows.
    pub baselines: Vec<Row>,
    /// Per instrument.
    pub instruments: Vec<InstrumentBoard>,
}

/// The model kept.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Best {
    /// Its name.
    pub model: String,
    /// How it was chosen.
    pub criterion: &'static str,
    /// Its relative RMSE (mean over instruments of RMSE / zero-return RMSE).
    pub relative_rmse: Option<f64>,
    /// Its pooled RMSE.
    pub rmse: f64,
    /// Whether its RMSE is below every baseline's.
    pub beats_baselines: bool,
}

/// A next-period forecast.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Forecast {
    /// The instrument.
    pub instrument: String,
    /// The model (fitted on all of the instrument's labelled rows).
    pub model: String,
    /// Time of the last observation (RFC 3339): the forecast is for the
    /// period after it.
    pub as_of: String,
    /// Forecast return over the next period.
    pub forecast_return: f64,
    /// `up` when the forecast is > 0, else `down`.
    pub direction: &'static str,
    /// Probability of an up move (classifiers only).
    pub prob_up: Option<f64>,
}

/// Rows `from..to` of a matrix (`ndarray::s!` expands to an `allow(unsafe_code)`,
/// which the workspace's `forbid` refuses).
fn band(x: &Array2<f64>, from: usize, to: usize) -> ArrayView2<'_, f64> {
    x.slice_axis(Axis(0), Slice::from(from..to))
}

/// How the best model is chosen.
pub const CRITERION: &str = "lowest relative RMSE: out-of-sample RMSE over the zero-return forecast's \
RMSE on the same walk-forward rows, averaged over instruments (ties: pooled RMSE, direction accuracy, \
the simpler model)";

/// Sums of one model over folds.
#[derive(Default, Clone)]
struct Tally {
    scores: Scores,
    failed: usize,
    seconds: f64,
}

fn rows<'a, T: Clone + 'a>(
    names: impl Iterator<Item = &'a str>,
    tallies: &[T],
    f: impl Fn(&str, &T) -> Option<Row>,
) -> Vec<Row> {
    names.zip(tallies).filter_map(|(n, t)| f(n, t)).collect()
}

/// Runs the comparison over prepared feature sets (`(instrument, features)`).
/// `progress(done, total)` is called after each model of each fold; the
/// control is checked there too (cancellation).
pub fn compare(
    sets: &[(String, FeatureSet)],
    models: &[ModelKind],
    params: &ModelParams,
    folds: usize,
    min_train: usize,
    ctl: &Control<'_>,
    progress: &mut dyn FnMut(usize, usize, &str),
) -> Result<Comparison, MlError> {
    let plans: Vec<_> = sets
        .iter()
        .map(|(_, f)| walk_forward(f.labelled(), folds, min_train))
        .collect();
    let total: usize = plans.iter().map(|p| p.len() * models.len()).sum::<usize>().max(1);
    let mut done = 0;
    let mut pooled_m = vec![Tally::default(); models.len()];
    let mut pooled_b = vec![Scores::default(); Baseline::ALL.len()];
    let mut boards = Vec::new();
    for ((name, set), plan) in sets.iter().zip(&plans) {
        if plan.is_empty() {
            continue;
        }
        let mut mine = vec![Tally::default(); models.len()];
        let mut base = vec![Scores::default(); Baseline::ALL.len()];
        for (k, fold) in plan.iter().enumerate() {
            let train_x = band(&set.x, 0, fold.train_end);
            let train_y = &set.y[..fold.train_end];
            let test_x = band(&set.x, fold.train_end, fold.test_end);
            let test_y = &set.y[fold.train_end..fold.test_end];
            for (b, scores) in Baseline::ALL.iter().zip(&mut base) {
                scores.add(&b.predict(test_x, train_y), test_y);
            }
            for (kind, tally) in models.iter().zip(&mut mine) {
                ctl.checkpoint()?;
                let t0 = Instant::now();
                let pred = fit(*kind, train_x, train_y, params).and_then(|m| m.predict(test_x));
                let pred = pred.map(|p| p.ret).unwrap_or_else(|_| {
                    tally.failed += 1;
                    Baseline::MeanReturn.predict(test_x, train_y)
                });
                tally.scores.add(&pred, test_y);
                tally.seconds += t0.elapsed().as_secs_f64();
                done += 1;
                let stage = format!("{name}: fold {}/{}, {}", k + 1, plan.len(), kind.name());
                progress(done, total, &stage);
            }
        }
        for (p, m) in pooled_m.iter_mut().zip(&mine) {
            p.scores.merge(&m.scores);
            p.failed += m.failed;
            p.seconds += m.seconds;
        }
        for (p, b) in pooled_b.iter_mut().zip(&base) {
            p.merge(b);
        }
        let model_names = models.iter().map(|m| m.name());
        let mut leaderboard = rows(model_names, &mine, |n, t| {
            Row::new(n, &t.scores, t.failed, t.seconds)
        });
        let base_names = Baseline::ALL.iter().map(|b| b.name());
        let mut baselines = rows(base_names, &base, |n, s| Row::new(n, s, 0, 0.0));
        let zero = baselines
            .iter()
            .find(|r| r.model == Baseline::ZeroReturn.name())
            .map(|r| r.rmse);
        for r in leaderboard.iter_mut().chain(baselines.iter_mut()) {
            r.relative_rmse = zero.filter(|z| *z > 0.0).map(|z| r.rmse / z);
        }
        rank(&mut leaderboard);
        rank(&mut baselines);
        boards.push(InstrumentBoard {
            instrument: name.clone(),
            rows: set.labelled(),
            folds: plan.len(),
            features: set.names.clone(),
            leaderboard,
            baselines,
        });
    }
    let model_names = models.iter().map(|m| m.name());
    let mut leaderboard = rows(model_names, &pooled_m, |n, t| {
        Row::new(n, &t.scores, t.failed, t.seconds)
    });
    let base_names = Baseline::ALL.iter().map(|b| b.name());
    let mut baselines = rows(base_names, &pooled_b, |n, s| Row::new(n, s, 0, 0.0));
    for r in leaderboard.iter_mut().chain(baselines.iter_mut()) {
        r.relative_rmse = mean_relative(&boards, &r.model);
    }
    rank(&mut leaderboard);
    rank(&mut baselines);
    Ok(Comparison {
        leaderboard,
        baselines,
        instruments: boards,
    })
}

/// The mean over instruments of a model's (or baseline's) relative RMSE.
fn mean_relative(boards: &[InstrumentBoard], model: &str) -> Option<f64> {
    let v: Vec<f64> = boards
        .iter()
        .filter_map(|b| {
            b.leaderboard
                .iter()
                .chain(&b.baselines)
                .find(|r| r.model == model)
        })
        .filter_map(|r| r.relative_rmse)
        .collect();
    #[allow(clippy::cast_precision_loss, reason = "a count")]
    (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
}

/// The best model of a comparison (see the module docs), if any was scored.
#[must_use]
pub fn best(c: &Comparison) -> Option<(ModelKind, Best)> {
    let top = c.leaderboard.first()?;
    let kind = ModelKind::ALL.into_iter().find(|k| k.name() == top.model)?;
    Some((
        kind,
        Best {
            model: top.model.clone(),
            criterion: CRITERION,
            relative_rmse: top.relative_rmse,
            rmse: top.rmse,
            beats_baselines: c.baselines.iter().all(|b| {
                let key = |r: &Row| r.relative_rmse.unwrap_or(r.rmse);
                key(top) < key(b)
            }),
        },
    ))
}

/// Fits `kind` on all labelled rows of each set and forecasts the period
/// after the last row. Sets where the model cannot be fitted are skipped
/// with a note in `errors`.
pub fn forecasts(
    sets: &[(String, FeatureSet)],
    kind: ModelKind,
    params: &ModelParams,
    ctl: &Control<'_>,
    errors: &mut Vec<String>,
) -> Result<Vec<Forecast>, MlError> {
    let mut out = Vec::new();
    for (name, set) in sets {
        ctl.checkpoint()?;
        let m = set.labelled();
        let last = band(&set.x, m, set.x.nrows());
        let result = fit(kind, band(&set.x, 0, m), &set.y, params).and_then(|f| f.predict(last));
        match result {
            Ok(p) => {
                let Some(&ret) = p.ret.first() else { continue };
                let as_of = set.ts.last().copied().unwrap_or(0);
                out.push(Forecast {
                    instrument: name.clone(),
                    model: kind.name().to_owned(),
                    as_of: kupala_engine::time::Timestamp(as_of).to_string(),
                    forecast_return: ret,
                    direction: if ret > 0.0 { "up" } else { "down" },
                    prob_up: p.prob_up.and_then(|v| v.first().copied()),
                });
            }
            Err(e) => errors.push(format!("{name}: forecast: {e}")),
        }
    }
    Ok(out)
}
