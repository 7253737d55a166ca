//! Walk-forward (expanding window) time-series cross-validation and the
//! leaderboard metrics.
//!
//! Per instrument, the labelled rows `0..m` are split as: the first
//! `max(min_train, m / 2)` rows train the first fold; the rest is cut into
//! `folds` consecutive test blocks. Fold `i` trains on every row before its
//! block and tests on the block, so training rows always precede test rows
//! (a training row's target, `p[t+1]`, is known at the first test row's
//! time `t+1`: nothing leaks). Fewer folds are used when the blocks would
//! hold fewer than 2 rows.

use serde::Serialize;

/// One fold: train on `[0, train_end)`, test on `[train_end, test_end)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Fold {
    /// End (exclusive) of the training rows.
    pub train_end: usize,
    /// End (exclusive) of the test rows.
    pub test_end: usize,
}

/// The folds for `m` labelled rows; empty when there are too few.
#[must_use]
pub fn walk_forward(m: usize, folds: usize, min_train: usize) -> Vec<Fold> {
    let start = (m / 2).max(min_train).max(2);
    if folds == 0 || start >= m {
        return Vec::new();
    }
    let region = m - start;
    let k = folds.min(region / 2);
    if k == 0 {
        return Vec::new();
    }
    (0..k)
        .map(|i| Fold {
            train_end: start + region * i / k,
            test_end: start + region * (i + 1) / k,
        })
        .collect()
}

/// Running sums for MAE, RMSE, R² and direction accuracy; they add up
/// across folds and instruments (pooled out-of-sample metrics).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Scores {
    /// Predictions scored.
    pub n: usize,
    abs: f64,
    sq: f64,
    y: f64,
    y2: f64,
    hits: usize,
}

impl Scores {
    /// Adds predictions against actual returns.
    pub fn add(&mut self, pred: &[f64], actual: &[f64]) {
        for (p, a) in pred.iter().zip(actual) {
            self.n += 1;
            self.abs += (p - a).abs();
            self.sq += (p - a) * (p - a);
            self.y += a;
            self.y2 += a * a;
            self.hits += usize::from((*p > 0.0) == (*a > 0.0));
        }
    }

    /// Adds another set of sums.
    pub fn merge(&mut self, o: &Self) {
        self.n += o.n;
        self.abs += o.abs;
        self.sq += o.sq;
        self.y += o.y;
        self.y2 += o.y2;
        self.hits += o.hits;
    }

    /// The metrics (`None` when nothing was scored).
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "statistics")]
    pub fn metrics(&self) -> Option<Metrics> {
        if self.n == 0 {
            return None;
        }
        let n = self.n as f64;
        let ss_tot = self.y2 - self.y * self.y / n;
        let r2 = if ss_tot > 0.0 { 1.0 - self.sq / ss_tot } else { 0.0 };
        Some(Metrics {
            mae: self.abs / n,
            rmse: (self.sq / n).sqrt(),
            r2,
            accuracy: self.hits as f64 / n,
        })
    }
}

/// Out-of-sample metrics of next-period return forecasts.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct Metrics {
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// Coefficient of determination, `1 - SSE / SST` over the scored rows
    /// (pooled; may be negative: worse than the scored rows' own mean).
    pub r2: f64,
    /// Share of rows whose direction (`> 0` or not) was called right.
    pub accuracy: f64,
}

/// A leaderboard line.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// Model or baseline name.
    pub model: String,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// R² (out of sample, pooled).
    pub r2: f64,
    /// Direction accuracy.
    pub accuracy: f64,
    /// RMSE over the zero-return baseline's RMSE on the same rows, averaged
    /// over instruments (scale-free: each instrument counts once, daily and
    /// monthly alike; below 1 beats the random walk). The ranking key.
    pub relative_rmse: Option<f64>,
    /// Out-of-sample predictions scored.
    pub predictions: usize,
    /// Folds where the model could not be fitted and the training mean
    /// return stood in (so every model is scored on the same rows).
    pub failed_folds: usize,
    /// Seconds spent fitting and predicting.
    pub seconds: f64,
}

impl Row {
    /// A row from sums; `None` when nothing was scored.
    #[must_use]
    pub fn new(model: &str, scores: &Scores, failed_folds: usize, seconds: f64) -> Option<Self> {
        let m = scores.metrics()?;
        Some(Self {
            model: model.to_owned(),
            mae: m.mae,
            rmse: m.rmse,
            r2: m.r2,
            accuracy: m.accuracy,
            relative_rmse: None,
            predictions: scores.n,
            failed_folds,
            seconds,
        })
    }
}

/// Sorts a leaderboard best first: lowest relative RMSE (rows without one
/// last), then lowest RMSE, then highest accuracy, then input order (the
/// simpler model first).
pub fn rank(rows: &mut [Row]) {
    rows.sort_by(|a, b| {
        let rel = |r: &Row| r.relative_rmse.unwrap_or(f64::INFINITY);
        rel(a)
            .total_cmp(&rel(b))
            .then_with(|| a.rmse.total_cmp(&b.rmse))
            .then_with(|| b.accuracy.total_cmp(&a.accuracy))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_expand_and_train_strictly_before_test() {
        let f = walk_forward(100, 5, 30);
        assert_eq!(f.len(), 5);
        assert_eq!(
            f[0],
            Fold {
                train_end: 50,
                test_end: 60
            }
        );
        assert_eq!(f[4].test_end, 100);
        for w in f.windows(2) {
            assert_eq!(w[0].test_end, w[1].train_end, "contiguous, expanding");
        }
        for fold in &f {
            assert!(fold.train_end < fold.test_end);
        }
        assert!(walk_forward(10, 5, 30).is_empty());
        assert_eq!(walk_forward(34, 5, 30).len(), 2);
        assert!(walk_forward(0, 5, 0).is_empty());
    }

    #[test]
    fn metrics_by_hand() {
        let mut s = Scores::default();
        s.add(&[0.1, -0.1, 0.0], &[0.2, 0.1, -0.1]);
        let Some(m) = s.metrics() else {
            panic!("no metrics")
        };
        assert!((m.mae - 0.4 / 3.0).abs() < 1e-12);
        assert!((m.rmse - (0.06f64 / 3.0).sqrt()).abs() < 1e-12);
        // mean 0.2/3; SST = 0.06 - 0.04/3 = 0.14/3; R² = 1 - 0.06 / (0.14/3).
        assert!((m.r2 - (1.0 - 0.06 / (0.14 / 3.0))).abs() < 1e-9);
        assert!((m.accuracy - 2.0 / 3.0).abs() < 1e-12);
        assert!(Scores::default().metrics().is_none());
    }
}
