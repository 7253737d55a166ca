//! Features from a price series, strictly without look-ahead.
//!
//! Row `t` (one per observation from index [`WARMUP`] on) uses prices (and
//! volumes) at indices `<= t` only; its target is the next-period simple
//! return `p[t+1] / p[t] - 1`, so the last row has no target and is the one
//! a forecast is made from. Returns `r[t] = p[t] / p[t-1] - 1`.
//!
//! | feature | definition |
//! | --- | --- |
//! | `ret_1`, `ret_5`, `ret_20` | `p[t] / p[t-k] - 1` (lagged returns) |
//! | `vol_20` | sample standard deviation of `r[t-19..=t]` (rolling volatility) |
//! | `momentum_20` | `ret_20 / (vol_20 * sqrt(20))`, 0 when `vol_20` is 0 (trend strength) |
//! | `zscore_20` | `(p[t] - mean(p[t-19..=t])) / std(p[t-19..=t])`, 0 when flat (mean-reversion oscillator) |
//! | `volume_z_20` | the same z-score of volume, only when the series has volumes |

use ndarray::Array2;

use crate::series::PriceSeries;

/// Rolling window length.
pub const WINDOW: usize = 20;
/// Observations consumed before the first row (needs `p[t-20]`).
pub const WARMUP: usize = WINDOW;

/// A design matrix for one instrument.
#[derive(Clone, Debug)]
pub struct FeatureSet {
    /// Column names.
    pub names: Vec<&'static str>,
    /// One row per observation from [`WARMUP`] on (the last has no target).
    pub x: Array2<f64>,
    /// Targets: `y[i]` is the return after row `i`; one fewer than the rows.
    pub y: Vec<f64>,
    /// The time of each row, nanoseconds since the epoch.
    pub ts: Vec<i64>,
}

impl FeatureSet {
    /// Rows that have a target (all but the last).
    #[must_use]
    pub fn labelled(&self) -> usize {
        self.y.len()
    }
}

/// Mean and sample standard deviation (n - 1) of a slice; std 0 for n < 2.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "statistics")]
pub fn mean_std(v: &[f64]) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    let n = v.len() as f64;
    let mean = v.iter().sum::<f64>() / n;
    if v.len() < 2 {
        return (mean, 0.0);
    }
    let var = v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1.0);
    (mean, var.max(0.0).sqrt())
}

/// `(x - mean) / std`, or 0 when the window is flat.
fn zscore(x: f64, window: &[f64]) -> f64 {
    let (m, s) = mean_std(window);
    if s > 1e-12 * m.abs().max(1.0) {
        (x - m) / s
    } else {
        0.0
    }
}

/// Column names for a series with or without volume.
#[must_use]
pub fn names(with_volume: bool) -> Vec<&'static str> {
    let mut n = vec!["ret_1", "ret_5", "ret_20", "vol_20", "momentum_20", "zscore_20"];
    if with_volume {
        n.push("volume_z_20");
    }
    n
}

/// The feature row at index `t` (`t >= WARMUP`), reading only `p[..=t]`.
#[must_use]
pub fn row(price: &[f64], volume: Option<&[f64]>, t: usize) -> Vec<f64> {
    let p = &price[..=t];
    let back = |k: usize| p[t] / p[t - k] - 1.0;
    let returns: Vec<f64> = (t + 1 - WINDOW..=t).map(|i| p[i] / p[i - 1] - 1.0).collect();
    let (_, vol) = mean_std(&returns);
    let ret_20 = back(20);
    #[allow(clippy::cast_precision_loss, reason = "a constant")]
    let scale = (WINDOW as f64).sqrt();
    let momentum = if vol > 0.0 { ret_20 / (vol * scale) } else { 0.0 };
    let window = &p[t + 1 - WINDOW..=t];
    let mut out = vec![back(1), back(5), ret_20, vol, momentum, zscore(p[t], window)];
    if let Some(v) = volume {
        let v = &v[..=t];
        out.push(zscore(v[t], &v[t + 1 - WINDOW..=t]));
    }
    for x in &mut out {
        if !x.is_finite() {
            *x = 0.0;
        }
    }
    out
}

/// Builds the features of a cleaned series; `None` when it has fewer than
/// `WARMUP + 2` observations (no labelled row).
#[must_use]
pub fn build(series: &PriceSeries) -> Option<FeatureSet> {
    let n = series.len();
    if n < WARMUP + 2 || series.ts.len() != n {
        return None;
    }
    let volume = series.volume.as_deref().filter(|v| v.len() == n);
    let names = names(volume.is_some());
    let rows = n - WARMUP;
    let mut data = Vec::with_capacity(rows * names.len());
    for t in WARMUP..n {
        data.extend(row(&series.price, volume, t));
    }
    let x = Array2::from_shape_vec((rows, names.len()), data).ok()?;
    let y = (WARMUP..n - 1)
        .map(|t| series.price[t + 1] / series.price[t] - 1.0)
        .map(|r| if r.is_finite() { r } else { 0.0 })
        .collect();
    Some(FeatureSet {
        names,
        x,
        y,
        ts: series.ts[WARMUP..].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::cast_precision_loss, reason = "test data")]
    fn walk(n: usize) -> PriceSeries {
        let price = (0..n)
            .map(|i| 100.0 * (1.0 + 0.01 * ((i * 7 % 11) as f64 - 5.0) / 5.0).powi(i as i32 % 3 + 1))
            .collect();
        let mut s = PriceSeries::new("X", (0..n as i64).collect(), price);
        s.volume = Some((0..n).map(|i| 1000.0 + (i * 37 % 101) as f64).collect());
        s
    }

    #[test]
    fn no_look_ahead_perturbing_the_future_leaves_earlier_rows_unchanged() {
        let base = walk(80);
        let f0 = build(&base);
        assert!(f0.is_some());
        let Some(f0) = f0 else { return };
        assert_eq!(f0.names.len(), 7);
        for cut in [WARMUP, WARMUP + 5, 50, 78] {
            let mut changed = base.clone();
            for i in cut + 1..changed.len() {
                changed.price[i] *= 1.5 + 0.1 * f64::from(u32::try_from(i).unwrap_or(0) % 3);
                if let Some(v) = changed.volume.as_mut() {
                    v[i] *= 7.0;
                }
            }
            let Some(f1) = build(&changed) else {
                panic!("no features")
            };
            let last_row = cut - WARMUP;
            for r in 0..=last_row {
                assert_eq!(
                    f0.x.row(r),
                    f1.x.row(r),
                    "row {r} changed when prices after {cut} moved"
                );
            }
            // Targets before the cut are unchanged; the target of row `cut`
            // is the return into the perturbed future, so it does change.
            assert_eq!(f0.y[..last_row], f1.y[..last_row]);
            if cut + 1 < base.len() {
                assert_ne!(f0.y[last_row], f1.y[last_row]);
            }
        }
    }

    #[test]
    fn hand_checked_values_and_degenerate_series() {
        let price: Vec<f64> = (0..23).map(|i| 100.0 + f64::from(i)).collect();
        let s = PriceSeries::new("X", (0..23).collect(), price);
        let Some(f) = build(&s) else { panic!("no features") };
        assert_eq!(f.x.nrows(), 3);
        assert_eq!(f.y.len(), 2);
        assert!((f.x[[0, 0]] - (120.0 / 119.0 - 1.0)).abs() < 1e-12);
        assert!((f.x[[0, 1]] - (120.0 / 115.0 - 1.0)).abs() < 1e-12);
        assert!((f.x[[0, 2]] - 0.2).abs() < 1e-12);
        // p[1..=20] = 101..120: mean 110.5, std sqrt(35): z = 9.5 / sqrt(35).
        assert!((f.x[[0, 5]] - 9.5 / 35f64.sqrt()).abs() < 1e-12);
        assert!((f.y[0] - (121.0 / 120.0 - 1.0)).abs() < 1e-12);

        let flat = PriceSeries::new("F", (0..30).collect(), vec![5.0; 30]);
        let Some(f) = build(&flat) else {
            panic!("no features")
        };
        assert!(f.x.iter().all(|v| *v == 0.0));
        assert!(build(&PriceSeries::new("E", vec![], vec![])).is_none());
        assert!(build(&PriceSeries::new("S", (0..21).collect(), vec![1.0; 21])).is_none());
    }
}
