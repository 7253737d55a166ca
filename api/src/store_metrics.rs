//! The store's figures in `/metrics`: journal bytes and writes, journal
//! fsync latency (a histogram), the last snapshot (seq, size, time, age),
//! the last EOD's date and failed side writes (snapshots, EOD tables).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;

use kupala_engine::store::{SideWrite, Store, StoreStats};

use crate::prom::{self, Encoded};

/// Encodes a store's [`StoreStats`] as read at `now_ms`.
#[derive(Debug)]
pub struct StoreCollector {
    /// The store.
    pub store: Arc<Store>,
    /// The scrape's time, ms since the Unix epoch.
    pub now_ms: i64,
}

impl Collector for StoreCollector {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        encode(&mut e, self.store.stats(), self.now_ms)
    }
}

#[allow(clippy::cast_precision_loss, reason = "times shown as float seconds")]
fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

/// The store's metrics from `s`.
pub(crate) fn encode(e: &mut DescriptorEncoder, s: &StoreStats, now_ms: i64) -> Encoded {
    prom::counter(
        e,
        "kupala_journal_bytes_total",
        "Encoded journal bytes written since start.",
        s.journal_bytes(),
    )?;
    prom::counter(
        e,
        "kupala_journal_writes_total",
        "Journal writes (group commits) since start.",
        s.journal_writes(),
    )?;
    prom::histogram(
        e,
        "kupala_journal_fsync_seconds",
        "Time a journal fsync took.",
        &s.fsync().read(),
    )?;
    prom::gauge(
        e,
        "kupala_snapshot_last_seq",
        "The seq of the newest snapshot (written, or recovered from; 0: none).",
        s.snapshot_seq(),
    )?;
    if let Some(at) = s.snapshot_unix_ms() {
        prom::gauge(
            e,
            "kupala_snapshot_bytes",
            "Size of the last snapshot written.",
            s.snapshot_bytes(),
        )?;
        prom::gauge(
            e,
            "kupala_snapshot_last_timestamp_seconds",
            "When the last snapshot was written by this process (Unix seconds).",
            seconds(at),
        )?;
        prom::gauge(
            e,
            "kupala_snapshot_age_seconds",
            "Seconds since the last snapshot was written by this process.",
            seconds(now_ms.saturating_sub(at).max(0)),
        )?;
    }
    if let Some(date) = s.last_eod() {
        prom::gauge(
            e,
            "kupala_eod_last_date_seconds",
            "The date of the latest EOD in the store, as Unix seconds at 00:00 UTC.",
            i64::from(date.0) * 86_400,
        )?;
    }
    prom::counters(
        e,
        "kupala_store_write_failures_total",
        "Failed snapshot and EOD-table writes, by what was written (the journal's own failure stops writes: kupala_store_writable).",
        SideWrite::ALL.map(|w| ([("what", w.label())], s.failures(w))),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use prometheus_client::registry::Registry;
    use std::time::Duration;

    #[derive(Debug, Default)]
    struct Fixture(StoreStats);

    impl Collector for Fixture {
        fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
            encode(&mut e, &self.0, 0)
        }
    }

    #[test]
    fn a_fresh_store_shows_counters_and_no_snapshot_or_eod_times() {
        let f = Fixture::default();
        f.0.failed(SideWrite::Snapshot);
        f.0.fsync().record(Duration::from_millis(2));
        let mut r = Registry::default();
        r.register_collector(Box::new(f));
        let text = prom::render(&r);
        for line in [
            "kupala_journal_bytes_total 0",
            "kupala_journal_fsync_seconds_bucket{le=\"0.001\"} 0",
            "kupala_journal_fsync_seconds_bucket{le=\"0.0025\"} 1",
            "kupala_journal_fsync_seconds_count 1",
            "kupala_snapshot_last_seq 0",
            "kupala_store_write_failures_total{what=\"snapshot\"} 1",
            "kupala_store_write_failures_total{what=\"eod\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
        assert!(!text.contains("kupala_snapshot_age_seconds"), "{text}");
        assert!(!text.contains("kupala_eod_last_date_seconds"), "{text}");
    }
}
