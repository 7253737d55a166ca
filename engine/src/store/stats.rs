//! What the store has done, for `/metrics`: journal bytes and fsync
//! latency, the last snapshot, the last EOD, failed writes. Relaxed
//! atomics updated once per journal group commit, snapshot or EOD, never
//! per event; read from any thread.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::clock::unix_ms;

use crate::histogram::LatencyHistogram;
use crate::time::Date;

/// A write besides the journal that can fail without stopping the engine
/// (each is logged and counted; the journal still holds the events).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SideWrite {
    /// A periodic snapshot.
    Snapshot,
    /// An EOD's positions.
    Eod,
    /// Positions an EOD closed.
    Closed,
    /// An EOD's rebalancing proposals.
    Proposals,
    /// A P&L history mark's points.
    History,
}

impl SideWrite {
    /// Every kind, in the order of [`SideWrite::label`]'s values.
    pub const ALL: [Self; 5] = [
        Self::Snapshot,
        Self::Eod,
        Self::Closed,
        Self::Proposals,
        Self::History,
    ];

    /// Its name in metrics.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Snapshot => "snapshot",
            Self::Eod => "eod",
            Self::Closed => "closed",
            Self::Proposals => "proposals",
            Self::History => "history",
        }
    }
}

/// "None yet" for the signed atomics.
const NONE: i64 = i64::MIN;

/// The store's counters (see the module docs).
#[derive(Debug)]
pub struct StoreStats {
    journal_bytes: AtomicU64,
    journal_writes: AtomicU64,
    fsync: LatencyHistogram,
    snapshot_seq: AtomicU64,
    snapshot_bytes: AtomicU64,
    snapshot_unix_ms: AtomicI64,
    eod_day: AtomicI64,
    failures: [AtomicU64; SideWrite::ALL.len()],
}

impl Default for StoreStats {
    fn default() -> Self {
        Self {
            journal_bytes: AtomicU64::new(0),
            journal_writes: AtomicU64::new(0),
            fsync: LatencyHistogram::default(),
            snapshot_seq: AtomicU64::new(0),
            snapshot_bytes: AtomicU64::new(0),
            snapshot_unix_ms: AtomicI64::new(NONE),
            eod_day: AtomicI64::new(NONE),
            failures: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

fn some(v: i64) -> Option<i64> {
    (v != NONE).then_some(v)
}

impl StoreStats {
    /// Counts one journal write of `bytes` encoded batch bytes.
    pub(crate) fn journal_written(&self, bytes: u64) {
        self.journal_bytes.fetch_add(bytes, Ordering::Relaxed);
        self.journal_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Records how long a journal fsync took.
    pub(crate) fn fsynced(&self, took: Duration) {
        self.fsync.record(took);
    }

    /// Records a snapshot written now.
    pub(crate) fn snapshot_written(&self, seq: u64, bytes: u64) {
        self.snapshot_seq.store(seq, Ordering::Relaxed);
        self.snapshot_bytes.store(bytes, Ordering::Relaxed);
        self.snapshot_unix_ms.store(unix_ms(), Ordering::Relaxed);
    }

    /// Records the snapshot recovery started from (its time is unknown).
    pub(crate) fn snapshot_recovered(&self, seq: u64) {
        self.snapshot_seq.fetch_max(seq, Ordering::Relaxed);
    }

    /// Records an EOD written (the latest date wins).
    pub(crate) fn eod_written(&self, date: Date) {
        self.eod_day.fetch_max(i64::from(date.0), Ordering::Relaxed);
    }

    /// Counts a failed write of `what`.
    pub fn failed(&self, what: SideWrite) {
        if let Some(i) = SideWrite::ALL.iter().position(|w| *w == what) {
            self.failures[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Encoded journal bytes written since the store was opened.
    #[must_use]
    pub fn journal_bytes(&self) -> u64 {
        self.journal_bytes.load(Ordering::Relaxed)
    }

    /// Journal writes (group commits) since the store was opened.
    #[must_use]
    pub fn journal_writes(&self) -> u64 {
        self.journal_writes.load(Ordering::Relaxed)
    }

    /// Journal fsync latencies.
    #[must_use]
    pub const fn fsync(&self) -> &LatencyHistogram {
        &self.fsync
    }

    /// The seq of the newest snapshot (written, or recovered from); 0: none.
    #[must_use]
    pub fn snapshot_seq(&self) -> u64 {
        self.snapshot_seq.load(Ordering::Relaxed)
    }

    /// The size of the last snapshot written, in bytes (0: none yet).
    #[must_use]
    pub fn snapshot_bytes(&self) -> u64 {
        self.snapshot_bytes.load(Ordering::Relaxed)
    }

    /// When the last snapshot was written by this process, in
    /// milliseconds since the Unix epoch.
    #[must_use]
    pub fn snapshot_unix_ms(&self) -> Option<i64> {
        some(self.snapshot_unix_ms.load(Ordering::Relaxed))
    }

    /// The date of the latest EOD in the store.
    #[must_use]
    pub fn last_eod(&self) -> Option<Date> {
        some(self.eod_day.load(Ordering::Relaxed)).and_then(|d| i32::try_from(d).ok().map(Date))
    }

    /// Failed writes of `what` since the store was opened.
    #[must_use]
    pub fn failures(&self, what: SideWrite) -> u64 {
        SideWrite::ALL
            .iter()
            .position(|w| *w == what)
            .map_or(0, |i| self.failures[i].load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_start_empty_and_keep_the_latest() {
        let s = StoreStats::default();
        assert_eq!(
            (s.snapshot_unix_ms(), s.last_eod(), s.snapshot_seq()),
            (None, None, 0)
        );
        s.journal_written(100);
        s.journal_written(20);
        assert_eq!((s.journal_bytes(), s.journal_writes()), (120, 2));
        s.snapshot_recovered(7);
        s.snapshot_written(9, 512);
        s.snapshot_recovered(3);
        assert_eq!((s.snapshot_seq(), s.snapshot_bytes()), (9, 512));
        assert!(s.snapshot_unix_ms().is_some_and(|t| t > 1_600_000_000_000));
        s.eod_written(Date(20_000));
        s.eod_written(Date(19_999));
        assert_eq!(s.last_eod(), Some(Date(20_000)));
        s.failed(SideWrite::Eod);
        assert_eq!(
            (s.failures(SideWrite::Eod), s.failures(SideWrite::Snapshot)),
            (1, 0)
        );
        s.fsynced(Duration::from_millis(3));
        assert_eq!(s.fsync().read().count, 1);
    }
}
