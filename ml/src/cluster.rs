//! Clustering of instruments by return profile: KMeans and DBSCAN (linfa).
//!
//! Each instrument's profile is its annualised return and volatility,
//! Sharpe ratio, maximum drawdown, skewness and lag-1 autocorrelation of
//! returns. The columns are z-scored across instruments (a column with no
//! spread becomes 0) so no unit dominates, then clustered by KMeans
//! (`k = min(k, instruments)`, seed 42, 10 runs) and by DBSCAN (Euclidean,
//! `eps` in z units, at least 2 points per cluster; outliers are `null`).

use linfa::prelude::*;
use linfa_clustering::{Dbscan, KMeans};
use ndarray::{Array2, Axis};
use serde::Serialize;

use crate::analytics::performance;
use crate::features::mean_std;
use crate::series::PriceSeries;

/// An instrument's return profile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Profile {
    /// Annualised (compounded) return.
    pub annual_return: f64,
    /// Annualised volatility.
    pub volatility: f64,
    /// Annualised Sharpe ratio (0 when undefined).
    pub sharpe: f64,
    /// Maximum drawdown.
    pub max_drawdown: f64,
    /// Skewness of returns.
    pub skew: f64,
    /// Lag-1 autocorrelation of returns.
    pub autocorr: f64,
}

impl Profile {
    /// The profile's values, in a fixed order.
    #[must_use]
    pub fn values(&self) -> [f64; 6] {
        [
            self.annual_return,
            self.volatility,
            self.sharpe,
            self.max_drawdown,
            self.skew,
            self.autocorr,
        ]
    }
}

/// One instrument's clusters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Assignment {
    /// The instrument.
    pub instrument: String,
    /// KMeans cluster.
    pub kmeans: usize,
    /// DBSCAN cluster, `None` for an outlier.
    pub dbscan: Option<usize>,
    /// The profile clustered.
    pub profile: Profile,
}

/// Clustering settings.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, serde::Deserialize)]
pub struct ClusterParams {
    /// KMeans clusters (at most the number of instruments).
    pub k: usize,
    /// DBSCAN neighbourhood radius, in z-score units.
    pub eps: f64,
}

impl Default for ClusterParams {
    fn default() -> Self {
        Self { k: 3, eps: 1.5 }
    }
}

#[allow(clippy::cast_precision_loss, reason = "statistics")]
fn moments(r: &[f64]) -> (f64, f64) {
    let (m, s) = mean_std(r);
    if r.len() < 3 || s <= 0.0 {
        return (0.0, 0.0);
    }
    let n = r.len() as f64;
    let skew = r.iter().map(|x| ((x - m) / s).powi(3)).sum::<f64>() / n;
    let num: f64 = r.windows(2).map(|w| (w[0] - m) * (w[1] - m)).sum();
    let den: f64 = r.iter().map(|x| (x - m) * (x - m)).sum();
    (skew, if den > 0.0 { num / den } else { 0.0 })
}

/// The profile of a cleaned series; `None` with fewer than 3 prices.
#[must_use]
pub fn profile(series: &PriceSeries) -> Option<Profile> {
    if series.len() < 3 {
        return None;
    }
    let r = series.returns();
    let p = performance(&r, series.periods_per_year().unwrap_or(252.0), None)?;
    let (skew, autocorr) = moments(&r);
    let clean = |x: f64| if x.is_finite() { x } else { 0.0 };
    Some(Profile {
        annual_return: clean(p.annual_return.unwrap_or(-1.0)),
        volatility: clean(p.volatility),
        sharpe: clean(p.sharpe.unwrap_or(0.0)),
        max_drawdown: clean(p.max_drawdown),
        skew: clean(skew),
        autocorr: clean(autocorr),
    })
}

/// Clusters the series that have a profile (the others are left out).
pub fn cluster(series: &[PriceSeries], params: &ClusterParams) -> Result<Vec<Assignment>, String> {
    let profiled: Vec<(&str, Profile)> = series
        .iter()
        .filter_map(|s| profile(s).map(|p| (s.instrument.as_str(), p)))
        .collect();
    let n = profiled.len();
    if n == 0 {
        return Ok(Vec::new());
    }
    let raw = Array2::from_shape_fn((n, 6), |(i, j)| profiled[i].1.values()[j]);
    let mut z = raw.clone();
    for mut col in z.axis_iter_mut(Axis(1)) {
        let (m, s) = mean_std(&col.to_vec());
        col.mapv_inplace(|v| if s > 0.0 { (v - m) / s } else { 0.0 });
    }
    let k = params.k.clamp(1, n);
    let kmeans: Vec<usize> = if k == 1 {
        vec![0; n]
    } else {
        let data = DatasetBase::from(z.clone());
        let model = std::panic::catch_unwind(|| {
            KMeans::params(k)
                .n_runs(10)
                .max_n_iterations(300)
                .tolerance(1e-6)
                .fit(&data)
                .map_err(|e| e.to_string())
        })
        .unwrap_or_else(|_| Err("KMeans panicked".to_owned()))?;
        model.predict(&z).to_vec()
    };
    let eps = if params.eps.is_finite() && params.eps > 0.0 {
        params.eps
    } else {
        1.5
    };
    let dbscan: Vec<Option<usize>> = Dbscan::params(2)
        .tolerance(eps)
        .transform(&z)
        .map_err(|e| e.to_string())?
        .to_vec();
    Ok(profiled
        .into_iter()
        .enumerate()
        .map(|(i, (name, profile))| Assignment {
            instrument: name.to_owned(),
            kmeans: kmeans.get(i).copied().unwrap_or(0),
            dbscan: dbscan.get(i).copied().flatten(),
            profile,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::cast_precision_loss, reason = "test data")]
    fn trend(name: &str, drift: f64, wiggle: f64) -> PriceSeries {
        let day = 86_400_000_000_000i64;
        let price = (0..260)
            .map(|i| 100.0 * (1.0 + drift).powi(i) * (1.0 + wiggle * f64::from(i % 5 - 2)))
            .collect();
        PriceSeries::new(name, (0..260).map(|i| i * day).collect(), price)
    }

    #[test]
    fn similar_profiles_share_a_cluster() {
        let s = vec![
            trend("UP1", 0.002, 0.001),
            trend("UP2", 0.0021, 0.0011),
            trend("DOWN1", -0.002, 0.02),
            trend("DOWN2", -0.0021, 0.021),
        ];
        let Ok(a) = cluster(&s, &ClusterParams { k: 2, eps: 1.5 }) else {
            panic!("cluster")
        };
        assert_eq!(a.len(), 4);
        assert_eq!(a[0].kmeans, a[1].kmeans);
        assert_eq!(a[2].kmeans, a[3].kmeans);
        assert_ne!(a[0].kmeans, a[2].kmeans);
        assert!(a[0].dbscan.is_some() && a[0].dbscan == a[1].dbscan);
        let one = cluster(&s[..1], &ClusterParams::default());
        assert!(matches!(one.as_deref(), Ok([x]) if x.kmeans == 0));
        assert!(matches!(
            cluster(&[], &ClusterParams::default()).as_deref(),
            Ok([])
        ));
    }
}
