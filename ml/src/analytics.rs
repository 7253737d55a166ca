//! Performance analytics of a return series: total and annualised return,
//! annualised volatility, Sharpe, Sortino, maximum drawdown, Calmar and beta
//! to a benchmark.
//!
//! Definitions (risk-free rate 0; `n` returns `r`, `P` periods per year):
//! - total return `Π(1 + r) - 1`; annual return `(1 + total)^(P / n) - 1`;
//! - volatility: sample standard deviation (n - 1) × `sqrt(P)`;
//! - Sharpe: `mean(r) / std(r) × sqrt(P)`;
//! - Sortino: `mean(r) / sqrt(mean(min(r, 0)²)) × sqrt(P)` (downside
//!   deviation against 0 over all `n` periods);
//! - max drawdown: the largest fall of the equity curve `Π(1 + r)` (from 1)
//!   from its running peak, as a positive fraction;
//! - Calmar: annual return / max drawdown;
//! - beta: `cov(r, b) / var(b)` over the periods where both are known.
//!
//! A figure that is undefined (no variance, no drawdown) is `null`.

use serde::Serialize;

use crate::features::mean_std;

/// The analytics of one return series.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Performance {
    /// Returns used.
    pub periods: usize,
    /// Periods per year used to annualise.
    pub periods_per_year: f64,
    /// Compounded return over the whole series.
    pub total_return: f64,
    /// Compounded annual growth rate.
    pub annual_return: Option<f64>,
    /// Annualised volatility.
    pub volatility: f64,
    /// Annualised Sharpe ratio (risk-free 0).
    pub sharpe: Option<f64>,
    /// Annualised Sortino ratio (target 0).
    pub sortino: Option<f64>,
    /// Maximum drawdown (0.25 = a 25 % fall from a peak).
    pub max_drawdown: f64,
    /// Annual return / max drawdown.
    pub calmar: Option<f64>,
    /// Beta to the benchmark.
    pub beta: Option<f64>,
}

fn finite(x: f64) -> Option<f64> {
    x.is_finite().then_some(x)
}

/// Computes the analytics; `None` when there is no finite return. Non-finite
/// returns are dropped (with their benchmark pair). `benchmark`, when given,
/// is aligned with `returns` (same length, `NaN` where unknown).
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "statistics")]
pub fn performance(returns: &[f64], periods_per_year: f64, benchmark: Option<&[f64]>) -> Option<Performance> {
    let pairs: Vec<(f64, f64)> = returns
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_finite())
        .map(|(i, r)| (*r, benchmark.and_then(|b| b.get(i).copied()).unwrap_or(f64::NAN)))
        .collect();
    let r: Vec<f64> = pairs.iter().map(|p| p.0).collect();
    if r.is_empty() {
        return None;
    }
    let ppy = if periods_per_year.is_finite() && periods_per_year > 0.0 {
        periods_per_year
    } else {
        252.0
    };
    let n = r.len() as f64;
    let (mean, std) = mean_std(&r);
    let mut equity = 1.0f64;
    let mut peak = 1.0f64;
    let mut max_dd = 0.0f64;
    for x in &r {
        equity *= 1.0 + x;
        peak = peak.max(equity);
        if peak > 0.0 {
            max_dd = max_dd.max((peak - equity) / peak);
        }
    }
    let total = equity - 1.0;
    let annual = if equity > 0.0 {
        finite(equity.powf(ppy / n) - 1.0)
    } else {
        None
    };
    let downside = (r.iter().map(|x| x.min(0.0).powi(2)).sum::<f64>() / n).sqrt();
    let root = ppy.sqrt();
    let ratio = |num: f64, den: f64| if den > 0.0 { finite(num / den) } else { None };
    Some(Performance {
        periods: r.len(),
        periods_per_year: ppy,
        total_return: total,
        annual_return: annual,
        volatility: std * root,
        sharpe: ratio(mean, std).map(|s| s * root),
        sortino: ratio(mean, downside).map(|s| s * root),
        max_drawdown: max_dd,
        calmar: annual.and_then(|a| ratio(a, max_dd)),
        beta: beta(&pairs),
    })
}

/// `cov(r, b) / var(b)` (sample moments) over pairs with a known benchmark.
fn beta(pairs: &[(f64, f64)]) -> Option<f64> {
    let both: Vec<(f64, f64)> = pairs.iter().copied().filter(|p| p.1.is_finite()).collect();
    if both.len() < 2 {
        return None;
    }
    let a: Vec<f64> = both.iter().map(|p| p.0).collect();
    let b: Vec<f64> = both.iter().map(|p| p.1).collect();
    let (ma, _) = mean_std(&a);
    let (mb, sb) = mean_std(&b);
    #[allow(clippy::cast_precision_loss, reason = "statistics")]
    let cov = a.iter().zip(&b).map(|(x, y)| (x - ma) * (y - mb)).sum::<f64>() / (both.len() - 1) as f64;
    if sb > 0.0 { finite(cov / (sb * sb)) } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn matches_values_computed_by_hand() {
        // Four periods, 4 per year (quarterly), so annualising is by hand too.
        let r = [0.10, -0.05, 0.02, -0.10];
        let b = [0.05, -0.02, 0.01, -0.04];
        let Some(p) = performance(&r, 4.0, Some(&b)) else {
            panic!("no analytics")
        };
        // Equity: 1.1, 1.045, 1.0659, 0.95931.
        assert!(close(p.total_return, 0.95931 - 1.0));
        // (1 + total)^(4/4) - 1: one year exactly.
        assert!(close(p.annual_return.unwrap_or(f64::NAN), 0.95931 - 1.0));
        // mean -0.0075; deviations .1075 -.0425 .0275 -.0925; squares sum
        // .01155625 + .00180625 + .00075625 + .00855625 = .022675; var /3.
        let std = (0.022675f64 / 3.0).sqrt();
        assert!(close(p.volatility, std * 2.0));
        assert!(close(p.sharpe.unwrap_or(f64::NAN), -0.0075 / std * 2.0));
        // Downside: sqrt((.0025 + .01) / 4).
        let down = (0.0125f64 / 4.0).sqrt();
        assert!(close(p.sortino.unwrap_or(f64::NAN), -0.0075 / down * 2.0));
        // Peak 1.1, trough 0.95931: dd = (1.1 - 0.95931) / 1.1.
        let dd = (1.1 - 0.95931) / 1.1;
        assert!(close(p.max_drawdown, dd));
        assert!(close(p.calmar.unwrap_or(f64::NAN), (0.95931 - 1.0) / dd));
        // mean b = 0; cov = (.1075*.05 + -.0425*-.02 + .0275*.01 + -.0925*-.04)/3
        //            = (.005375 + .00085 + .000275 + .0037)/3 = .0102/3;
        // var b = (.0025 + .0004 + .0001 + .0016)/3 = .0046/3; beta = .0102/.0046.
        assert!((p.beta.unwrap_or(f64::NAN) - 0.0102 / 0.0046).abs() < 1e-9);
    }

    #[test]
    fn degenerate_series_give_nulls_not_panics() {
        assert!(performance(&[], 252.0, None).is_none());
        assert!(performance(&[f64::NAN], 252.0, None).is_none());
        let Some(flat) = performance(&[0.0, 0.0, 0.0], 252.0, Some(&[0.0, 0.0, 0.0])) else {
            panic!("flat")
        };
        assert_eq!(flat.sharpe, None);
        assert_eq!(flat.sortino, None);
        assert_eq!(flat.calmar, None);
        assert_eq!(flat.beta, None);
        assert!(close(flat.max_drawdown, 0.0));
        let Some(wiped) = performance(&[-1.0, 0.5], 12.0, None) else {
            panic!("wiped")
        };
        assert_eq!(wiped.annual_return, None);
        assert!(close(wiped.max_drawdown, 1.0));
    }
}
