//! The server's counters and latency histograms: relaxed atomics updated
//! from the ingest thread, the aggregator thread (through the hub) and the
//! connection tasks, encoded at scrape time by [`crate::exposition`].
//!
//! Latencies are bucketed histograms ([`LatencyHistogram`]: 10 µs to 10 s,
//! one atomic add per recording, no lock):
//! - tick→delta: from when the oldest event of a batch entered the engine
//!   (`ShardOutput::t_in`, stamped by the sequencer) to when the hub
//!   received the flush's deltas;
//! - tick→send: from the same stamp to when a delta was written to a
//!   client's socket (after queueing, conflation and rendering).

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use kupala_engine::Event;
use kupala_engine::histogram::LatencyHistogram;

use crate::protocol::{CloseReason, ErrorCode};

/// Event types, as `kupala_events_in_total`'s `type` label.
pub(crate) const EVENT_KINDS: [&str; 7] = ["instrument", "trade", "tick", "fx", "eod", "split", "dividend"];

/// Why submitted events were refused (`kupala_events_rejected_total`'s
/// `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// The grant does not allow them (role, accounts).
    Forbidden,
    /// The engine refused them (an unknown instrument, a bad value...).
    Invalid,
    /// The store failed: nothing is written any more.
    StoreFailed,
    /// The feed queue stayed full past its wait bound.
    Busy,
    /// The server is stopping, or has no feed queue.
    Unavailable,
}

impl Rejection {
    /// Every reason, in label order.
    pub const ALL: [Self; 5] = [
        Self::Forbidden,
        Self::Invalid,
        Self::StoreFailed,
        Self::Busy,
        Self::Unavailable,
    ];

    /// Its `reason` label.
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Forbidden => "forbidden",
            Self::Invalid => "invalid",
            Self::StoreFailed => "store_failed",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Every counter the server keeps.
#[derive(Debug)]
pub struct Metrics {
    events_in: [AtomicU64; EVENT_KINDS.len()],
    rejected: [AtomicU64; Rejection::ALL.len()],
    pub(crate) duplicates: AtomicU64,
    pub(crate) acks: AtomicU64,
    pub(crate) position_deltas: AtomicU64,
    pub(crate) portfolio_deltas: AtomicU64,
    pub(crate) messages_sent: AtomicU64,
    pub(crate) bytes_sent: AtomicU64,
    pub(crate) conflated: AtomicU64,
    pub(crate) suppressed: AtomicU64,
    pub(crate) dropped: AtomicU64,
    pub(crate) clients: AtomicI64,
    pub(crate) connections: AtomicU64,
    pub(crate) http_requests: AtomicU64,
    closes: [AtomicU64; CloseReason::ALL.len()],
    errors: [AtomicU64; ErrorCode::ALL.len()],
    pub(crate) tick_to_delta: LatencyHistogram,
    pub(crate) tick_to_send: LatencyHistogram,
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            events_in: zeros(),
            rejected: zeros(),
            duplicates: AtomicU64::new(0),
            acks: AtomicU64::new(0),
            position_deltas: AtomicU64::new(0),
            portfolio_deltas: AtomicU64::new(0),
            messages_sent: AtomicU64::new(0),
            bytes_sent: AtomicU64::new(0),
            conflated: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            clients: AtomicI64::new(0),
            connections: AtomicU64::new(0),
            http_requests: AtomicU64::new(0),
            closes: zeros(),
            errors: zeros(),
            tick_to_delta: LatencyHistogram::default(),
            tick_to_send: LatencyHistogram::default(),
        }
    }
}

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn get(c: &AtomicU64) -> u64 {
    c.load(Ordering::Relaxed)
}

impl Metrics {
    /// Counts an accepted event by type.
    pub(crate) fn event_in(&self, e: &Event) {
        if let Some(i) = EVENT_KINDS.iter().position(|k| *k == e.kind()) {
            add(&self.events_in[i], 1);
        }
    }

    /// Counts `n` submitted events refused for `why`.
    pub fn reject(&self, why: Rejection, n: usize) {
        if let Some(i) = Rejection::ALL.iter().position(|r| *r == why) {
            add(&self.rejected[i], n as u64);
        }
    }

    /// Counts a connection closed by the server.
    pub(crate) fn closed(&self, r: CloseReason) {
        if let Some(i) = CloseReason::ALL.iter().position(|x| *x == r) {
            add(&self.closes[i], 1);
        }
    }

    /// Counts an error answered to a client.
    pub(crate) fn error(&self, c: ErrorCode) {
        if let Some(i) = ErrorCode::ALL.iter().position(|x| *x == c) {
            add(&self.errors[i], 1);
        }
    }

    /// Records a tick→delta latency (ns).
    pub(crate) fn record_delta(&self, ns: u64) {
        self.tick_to_delta.record_ns(ns);
    }

    /// Records the tick→send latencies (ns) of one write batch.
    pub(crate) fn record_sends(&self, ns: &[u64]) {
        self.tick_to_send.record_all_ns(ns);
    }

    /// Accepted events by type, in [`EVENT_KINDS`] order.
    pub(crate) fn events_in(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        EVENT_KINDS.iter().copied().zip(self.events_in.iter().map(get))
    }

    /// Refused events by reason.
    pub(crate) fn rejections(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        Rejection::ALL
            .iter()
            .map(|r| r.label())
            .zip(self.rejected.iter().map(get))
    }

    /// Server closes by reason.
    pub(crate) fn closes(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        CloseReason::ALL
            .iter()
            .map(|r| r.label())
            .zip(self.closes.iter().map(get))
    }

    /// Error replies by code.
    pub(crate) fn errors(&self) -> impl Iterator<Item = (&'static str, u64)> + '_ {
        ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .zip(self.errors.iter().map(get))
    }

    /// A counter's value by name (tests and `/health`): `acks`,
    /// `conflated`, `dropped`, `messages_sent`, `position_deltas`, a close
    /// reason's label, or `rejected:REASON`.
    #[must_use]
    pub fn counter(&self, name: &str) -> Option<u64> {
        let c = match name {
            "acks" => &self.acks,
            "conflated" => &self.conflated,
            "dropped" => &self.dropped,
            "messages_sent" => &self.messages_sent,
            "position_deltas" => &self.position_deltas,
            _ => {
                if let Some(reason) = name.strip_prefix("rejected:") {
                    return self.rejections().find(|(r, _)| *r == reason).map(|(_, n)| n);
                }
                return self.closes().find(|(r, _)| *r == name).map(|(_, n)| n);
            }
        };
        Some(get(c))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejections_are_counted_by_reason() {
        let m = Metrics::default();
        m.reject(Rejection::Invalid, 3);
        m.reject(Rejection::Busy, 1);
        m.reject(Rejection::Invalid, 2);
        assert_eq!(m.counter("rejected:invalid"), Some(5));
        assert_eq!(m.counter("rejected:busy"), Some(1));
        assert_eq!(m.counter("rejected:forbidden"), Some(0));
        assert_eq!(m.counter("rejected:nope"), None);
    }

    #[test]
    fn latencies_land_in_their_histograms() {
        let m = Metrics::default();
        m.record_delta(20_000);
        m.record_sends(&[1, 2, 3]);
        m.record_sends(&[]);
        assert_eq!(m.tick_to_delta.read().count, 1);
        assert_eq!(m.tick_to_send.read().count, 3);
    }
}
