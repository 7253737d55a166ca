//! A latency histogram cheap enough for hot paths: fixed bucket bounds
//! (1-2.5-5 steps from 10 µs to 10 s) and one relaxed atomic add per
//! recording in the bucket, plus the sum. No lock, no allocation; read at
//! scrape time as cumulative-ready bucket counts ([`Buckets`]).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// The upper bounds of the buckets, in nanoseconds (an implicit `+Inf`
/// bucket follows the last).
pub const BOUNDS_NS: [u64; 19] = [
    10_000,
    25_000,
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
    10_000_000_000,
];

const SLOTS: usize = BOUNDS_NS.len() + 1;

/// Counts of latencies per bucket (see [`BOUNDS_NS`]) and their sum.
#[derive(Debug)]
pub struct LatencyHistogram {
    counts: [AtomicU64; SLOTS],
    sum_ns: AtomicU64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self {
            counts: std::array::from_fn(|_| AtomicU64::new(0)),
            sum_ns: AtomicU64::new(0),
        }
    }
}

/// The bucket a latency of `ns` falls in: the first bound at or above it.
fn slot(ns: u64) -> usize {
    BOUNDS_NS.partition_point(|&b| b < ns)
}

/// What a histogram held when read.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Buckets {
    /// Per bucket (not cumulative): its upper bound in seconds
    /// (`f64::INFINITY` for the last) and how many latencies fell in it.
    pub buckets: Vec<(f64, u64)>,
    /// The number of latencies recorded (the sum of the bucket counts).
    pub count: u64,
    /// Their sum, in seconds.
    pub sum_seconds: f64,
}

impl LatencyHistogram {
    /// Records one latency of `ns` nanoseconds.
    pub fn record_ns(&self, ns: u64) {
        self.counts[slot(ns)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Records one latency.
    pub fn record(&self, d: Duration) {
        self.record_ns(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Records many latencies (ns), counted locally first: one atomic add
    /// per bucket touched and one for the sum, whatever their number.
    pub fn record_all_ns(&self, values: &[u64]) {
        let mut local = [0u64; SLOTS];
        let mut sum = 0u64;
        for &ns in values {
            local[slot(ns)] += 1;
            sum = sum.saturating_add(ns);
        }
        for (c, n) in self.counts.iter().zip(local) {
            if n > 0 {
                c.fetch_add(n, Ordering::Relaxed);
            }
        }
        if sum > 0 {
            self.sum_ns.fetch_add(sum, Ordering::Relaxed);
        }
    }

    /// The counts now. The count is the sum of the buckets read, so the
    /// `+Inf` bucket and the count always agree.
    #[must_use]
    #[allow(
        clippy::cast_precision_loss,
        reason = "bounds and sums shown as float seconds"
    )]
    pub fn read(&self) -> Buckets {
        let bounds = BOUNDS_NS
            .iter()
            .map(|&b| b as f64 / 1e9)
            .chain(std::iter::once(f64::INFINITY));
        let buckets: Vec<(f64, u64)> = bounds
            .zip(&self.counts)
            .map(|(b, c)| (b, c.load(Ordering::Relaxed)))
            .collect();
        Buckets {
            count: buckets.iter().map(|(_, n)| n).sum(),
            sum_seconds: self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9,
            buckets,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_latency_lands_in_the_first_bucket_at_or_above_it() {
        let h = LatencyHistogram::default();
        h.record_ns(1);
        h.record_ns(10_000);
        h.record_ns(10_001);
        h.record(Duration::from_secs(11));
        let b = h.read();
        assert_eq!(b.buckets.len(), BOUNDS_NS.len() + 1);
        assert_eq!(b.buckets[0], (10e-6, 2));
        assert_eq!(b.buckets[1], (25e-6, 1));
        assert_eq!(b.buckets[BOUNDS_NS.len()], (f64::INFINITY, 1));
        assert_eq!(b.count, 4);
        assert!((b.sum_seconds - 11.000_020_002).abs() < 1e-9, "{}", b.sum_seconds);
    }

    #[test]
    fn a_batch_counts_like_single_recordings() {
        let (one, many) = (LatencyHistogram::default(), LatencyHistogram::default());
        let values = [5, 30_000, 30_000, 2_000_000, 20_000_000_000];
        values.iter().for_each(|&v| one.record_ns(v));
        many.record_all_ns(&values);
        many.record_all_ns(&[]);
        assert_eq!(one.read(), many.read());
        assert_eq!(many.read().count, 5);
    }

    #[test]
    fn bounds_grow() {
        assert!(BOUNDS_NS.windows(2).all(|w| w[0] < w[1]));
    }
}
