//! Price series: the ML boundary. Fixed-point prices become `f64` here and
//! only here; everything downstream is analytics, never P&L state.
//!
//! A series is one instrument's observations in time order. Builders accept
//! events from any `kupala-feeds` source (one observation per source row:
//! a bar's four ticks collapse to its close) or raw journal ticks, and apply
//! splits so the series stays continuous.

use std::collections::HashMap;

use kupala_engine::Event;
use kupala_engine::num::{Price, Rate, UNIT};
use serde::Serialize;

/// Seconds in an average year (365.25 days), for annualising.
const YEAR_SECS: f64 = 365.25 * 86_400.0;

/// A price as `f64` (the one conversion out of fixed point).
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "analytics, not P&L state")]
pub fn price_f64(p: Price) -> f64 {
    p.raw() as f64 / UNIT as f64
}

/// A ratio (split ratio) as `f64`.
#[must_use]
#[allow(clippy::cast_precision_loss, reason = "analytics, not P&L state")]
pub fn rate_f64(r: Rate) -> f64 {
    r.raw() as f64 / UNIT as f64
}

/// One instrument's observations, oldest first.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PriceSeries {
    /// The instrument's name.
    pub instrument: String,
    /// Observation times, nanoseconds since the Unix epoch.
    pub ts: Vec<i64>,
    /// Prices (> 0, finite after [`PriceSeries::clean`]).
    pub price: Vec<f64>,
    /// Volumes, when every observation has one.
    pub volume: Option<Vec<f64>>,
}

impl PriceSeries {
    /// A series from parallel vectors (no volume); call [`Self::clean`] before use.
    #[must_use]
    pub fn new(instrument: impl Into<String>, ts: Vec<i64>, price: Vec<f64>) -> Self {
        Self {
            instrument: instrument.into(),
            ts,
            price,
            volume: None,
        }
    }

    /// Number of observations.
    #[must_use]
    pub fn len(&self) -> usize {
        self.price.len()
    }

    /// True when there is no observation.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.price.is_empty()
    }

    /// Sorts by time (stable: equal times keep arrival order), drops
    /// observations whose price is not finite and > 0 (returns need
    /// positive prices), and drops the volume column unless every kept row
    /// has a finite, non-negative volume. Returns how many rows were dropped.
    pub fn clean(&mut self) -> usize {
        let n = self.ts.len().min(self.price.len());
        let vol = self.volume.take().filter(|v| v.len() >= n);
        let mut rows: Vec<(i64, f64, f64)> = (0..n)
            .map(|i| (self.ts[i], self.price[i], vol.as_ref().map_or(f64::NAN, |v| v[i])))
            .filter(|r| r.1.is_finite() && r.1 > 0.0)
            .collect();
        let dropped = self.price.len().max(self.ts.len()) - rows.len();
        rows.sort_by_key(|r| r.0);
        self.ts = rows.iter().map(|r| r.0).collect();
        self.price = rows.iter().map(|r| r.1).collect();
        let has_volume = vol.is_some() && rows.iter().all(|r| r.2.is_finite() && r.2 >= 0.0);
        self.volume = has_volume.then(|| rows.iter().map(|r| r.2).collect());
        dropped
    }

    /// Simple returns `p[i] / p[i-1] - 1`, one fewer than the prices.
    #[must_use]
    pub fn returns(&self) -> Vec<f64> {
        self.price.windows(2).map(|w| w[1] / w[0] - 1.0).collect()
    }

    /// Observations per year, from the count and the time span (252-ish for
    /// daily trading data, 12 for monthly); `None` with fewer than two
    /// observations or no time span.
    #[must_use]
    #[allow(clippy::cast_precision_loss, reason = "a rate, not money")]
    pub fn periods_per_year(&self) -> Option<f64> {
        let (first, last) = (self.ts.first()?, self.ts.last()?);
        let span = (*last - *first) as f64 / 1e9;
        (span > 0.0 && self.len() > 1).then(|| (self.len() - 1) as f64 / (span / YEAR_SECS))
    }

    /// The last price at or before `ts` (as-of lookup; the series is sorted).
    #[must_use]
    pub fn price_asof(&self, ts: i64) -> Option<f64> {
        let i = self.ts.partition_point(|&t| t <= ts);
        i.checked_sub(1).map(|i| self.price[i])
    }

    /// Keeps only the newest `max` observations.
    pub fn keep_last(&mut self, max: usize) {
        let cut = self.len().saturating_sub(max);
        if cut > 0 {
            self.ts.drain(..cut);
            self.price.drain(..cut);
            if let Some(v) = &mut self.volume {
                v.drain(..cut.min(v.len()));
            }
        }
    }

    /// Divides every earlier price by a split's ratio (and multiplies
    /// volumes), so the series stays continuous across the split.
    fn split(&mut self, ratio: f64) {
        if ratio.is_finite() && ratio > 0.0 {
            self.price.iter_mut().for_each(|p| *p /= ratio);
            if let Some(v) = &mut self.volume {
                v.iter_mut().for_each(|x| *x *= ratio);
            }
        }
    }
}

/// Collects observations of many instruments, in arrival order.
#[derive(Debug, Default)]
pub struct SeriesBuilder {
    index: HashMap<String, usize>,
    series: Vec<PriceSeries>,
    /// Per series: the row (source line or time bucket) of its last observation.
    last_row: Vec<Option<i64>>,
    /// Per series: whether every observation so far came with a volume.
    with_volume: Vec<bool>,
}

impl SeriesBuilder {
    /// An empty builder.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&mut self, instrument: &str) -> usize {
        if let Some(&i) = self.index.get(instrument) {
            return i;
        }
        let i = self.series.len();
        self.index.insert(instrument.to_owned(), i);
        self.series.push(PriceSeries {
            instrument: instrument.to_owned(),
            volume: Some(Vec::new()),
            ..PriceSeries::default()
        });
        self.last_row.push(None);
        self.with_volume.push(true);
        i
    }

    /// Adds an observation. `row` groups observations: a second observation
    /// of the same instrument in the same row (a bar's four ticks from one
    /// source line, ticks in one time bucket) replaces the first, so the row
    /// keeps its last price (the close).
    pub fn observe(&mut self, instrument: &str, ts: i64, price: f64, volume: Option<f64>, row: Option<i64>) {
        let i = self.slot(instrument);
        let s = &mut self.series[i];
        let same_row = row.is_some() && self.last_row[i] == row;
        self.last_row[i] = row;
        let vol = volume.unwrap_or(f64::NAN);
        self.with_volume[i] &= volume.is_some();
        if same_row && let (Some(t), Some(p)) = (s.ts.last_mut(), s.price.last_mut()) {
            *t = ts;
            *p = price;
            if let Some(v) = s.volume.as_mut().and_then(|v| v.last_mut()) {
                *v = vol;
            }
            return;
        }
        s.ts.push(ts);
        s.price.push(price);
        if let Some(v) = &mut s.volume {
            v.push(vol);
        }
    }

    /// Adds an event: a tick is an observation (`row` as in [`Self::observe`]),
    /// a split rescales the instrument's earlier prices, others are ignored.
    pub fn event(&mut self, event: &Event, volume: Option<f64>, row: Option<i64>) {
        match event {
            Event::Tick(t) => self.observe(&t.instrument, t.ts.nanos(), price_f64(t.price), volume, row),
            Event::Split(s) => self.split(&s.instrument, rate_f64(s.ratio)),
            _ => {}
        }
    }

    /// Applies a split to the instrument's observations so far.
    pub fn split(&mut self, instrument: &str, ratio: f64) {
        if let Some(&i) = self.index.get(instrument) {
            self.series[i].split(ratio);
        }
    }

    /// Keeps at most `max` observations per instrument (the newest); call it
    /// now and then while reading a long history to bound memory.
    pub fn trim(&mut self, max: usize) {
        for s in &mut self.series {
            if s.len() > max.saturating_mul(2) {
                s.keep_last(max);
            }
        }
    }

    /// Number of instruments seen.
    #[must_use]
    pub fn instruments(&self) -> usize {
        self.series.len()
    }

    /// The series, cleaned ([`PriceSeries::clean`]), in first-seen order.
    #[must_use]
    pub fn finish(self) -> Vec<PriceSeries> {
        let mut out = self.series;
        for (s, with_volume) in out.iter_mut().zip(self.with_volume) {
            if !with_volume {
                s.volume = None;
            }
            s.clean();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_collapse_to_their_last_price_and_clean_sorts_and_filters() {
        let mut b = SeriesBuilder::new();
        b.observe("X", 10, 1.0, None, Some(2));
        b.observe("X", 11, 2.0, None, Some(2));
        b.observe("X", 5, 3.0, None, Some(3));
        b.observe("X", 6, f64::NAN, None, Some(4));
        b.observe("X", 7, -1.0, None, Some(5));
        let s = b.finish();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].ts, vec![5, 11]);
        assert_eq!(s[0].price, vec![3.0, 2.0]);
        assert_eq!(s[0].volume, None);
    }

    #[test]
    fn splits_rescale_history_and_asof_finds_the_last_price() {
        let mut b = SeriesBuilder::new();
        b.observe("X", 1, 100.0, Some(10.0), None);
        b.observe("X", 2, 102.0, Some(10.0), None);
        b.split("X", 2.0);
        b.observe("X", 3, 52.0, Some(20.0), None);
        let s = b.finish();
        assert_eq!(s[0].price, vec![50.0, 51.0, 52.0]);
        assert_eq!(s[0].volume, Some(vec![20.0, 20.0, 20.0]));
        assert_eq!(s[0].price_asof(2), Some(51.0));
        assert_eq!(s[0].price_asof(0), None);
        assert_eq!(s[0].price_asof(99), Some(52.0));
    }
}
