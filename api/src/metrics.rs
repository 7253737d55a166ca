//! Counters, gauges and latency histograms, rendered as Prometheus text at
//! `/metrics`.
//!
//! Latencies are hdrhistogram recordings in nanoseconds (3 significant
//! digits, 1 ns to 60 s), published as Prometheus summaries in seconds:
//! - tick→delta: from when the oldest event of a batch entered the engine
//!   (`ShardOutput::t_in`, stamped by the sequencer) to when the hub
//!   received the flush's deltas;
//! - tick→send: from the same stamp to when a delta was written to a
//!   client's socket (after queueing, conflation and rendering).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use kupala_engine::Event;

use crate::protocol::{CloseReason, ErrorCode};

const EVENT_KINDS: [&str; 6] = ["instrument", "trade", "tick", "fx", "eod", "split"];

/// Every counter the server keeps. Updated with relaxed atomics from the
/// ingest thread, the aggregator thread (through the hub) and the
/// connection tasks.
#[derive(Debug)]
pub struct Metrics {
    events_in: [AtomicU64; 6],
    pub(crate) events_rejected: AtomicU64,
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
    tick_to_delta: Latency,
    tick_to_send: Latency,
}

/// Values read at scrape time from elsewhere.
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauges {
    /// Commands waiting for the ingest thread.
    pub ingest_queue: usize,
    /// Updates waiting in client queues, summed.
    pub client_queues: usize,
    /// The longest client queue.
    pub client_queue_max: usize,
    /// The last seq the hub saw.
    pub seq: u64,
    /// The journal's durable seq.
    pub durable: u64,
}

/// A latency histogram: 1 ns to 60 s, 3 significant digits (the bounds are
/// valid, so it always exists; `None` only keeps `unwrap` out).
type Latency = Mutex<Option<Histogram<u64>>>;

fn histogram() -> Latency {
    Mutex::new(Histogram::new_with_bounds(1, 60_000_000_000, 3).ok())
}

fn zeros<const N: usize>() -> [AtomicU64; N] {
    std::array::from_fn(|_| AtomicU64::new(0))
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            events_in: zeros(),
            events_rejected: AtomicU64::new(0),
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
            tick_to_delta: histogram(),
            tick_to_send: histogram(),
        }
    }
}

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    /// Counts an accepted event by type.
    pub(crate) fn event_in(&self, e: &Event) {
        let i = EVENT_KINDS.iter().position(|k| *k == e.kind()).unwrap_or(0);
        add(&self.events_in[i], 1);
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

    /// Records tick→delta latencies (ns).
    pub(crate) fn record_delta(&self, ns: u64) {
        if let Ok(mut g) = self.tick_to_delta.lock()
            && let Some(h) = g.as_mut()
        {
            h.saturating_record(ns.max(1));
        }
    }

    /// Records tick→send latencies (ns) of one write batch.
    pub(crate) fn record_sends(&self, ns: &[u64]) {
        if ns.is_empty() {
            return;
        }
        if let Ok(mut g) = self.tick_to_send.lock()
            && let Some(h) = g.as_mut()
        {
            for &v in ns {
                h.saturating_record(v.max(1));
            }
        }
    }

    /// A counter's value by name (tests and `/health`).
    #[must_use]
    pub fn counter(&self, name: &str) -> Option<u64> {
        let c = match name {
            "acks" => &self.acks,
            "conflated" => &self.conflated,
            "dropped" => &self.dropped,
            "messages_sent" => &self.messages_sent,
            "position_deltas" => &self.position_deltas,
            _ => {
                let r = CloseReason::ALL.iter().position(|r| r.label() == name)?;
                return Some(self.closes[r].load(Ordering::Relaxed));
            }
        };
        Some(c.load(Ordering::Relaxed))
    }

    /// The Prometheus text exposition.
    #[must_use]
    pub fn render(&self, g: &Gauges) -> String {
        let mut o = String::with_capacity(8 * 1024);
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        head(
            &mut o,
            "kupala_events_in_total",
            "counter",
            "Events accepted by the engine, by type.",
        );
        for (k, c) in EVENT_KINDS.iter().zip(&self.events_in) {
            let _ = writeln!(o, "kupala_events_in_total{{type=\"{k}\"}} {}", get(c));
        }
        for (name, kind, help, v) in [
            (
                "kupala_events_rejected_total",
                "counter",
                "Submitted events refused (bad input, ACL, batch refused).",
                get(&self.events_rejected),
            ),
            (
                "kupala_duplicate_trades_total",
                "counter",
                "Trades ignored as repeated trade ids.",
                get(&self.duplicates),
            ),
            (
                "kupala_acks_total",
                "counter",
                "Submits acknowledged as durable.",
                get(&self.acks),
            ),
            (
                "kupala_position_deltas_total",
                "counter",
                "Position deltas the engine published.",
                get(&self.position_deltas),
            ),
            (
                "kupala_portfolio_deltas_total",
                "counter",
                "Portfolio deltas the engine published.",
                get(&self.portfolio_deltas),
            ),
            (
                "kupala_messages_sent_total",
                "counter",
                "WebSocket messages written to clients.",
                get(&self.messages_sent),
            ),
            (
                "kupala_bytes_sent_total",
                "counter",
                "WebSocket payload bytes written to clients.",
                get(&self.bytes_sent),
            ),
            (
                "kupala_conflated_total",
                "counter",
                "Updates replaced in a client queue by a newer one for the same key.",
                get(&self.conflated),
            ),
            (
                "kupala_suppressed_total",
                "counter",
                "Updates skipped by a subscription's min_change.",
                get(&self.suppressed),
            ),
            (
                "kupala_dropped_total",
                "counter",
                "Queued updates discarded when a client was disconnected.",
                get(&self.dropped),
            ),
            (
                "kupala_connections_total",
                "counter",
                "TCP connections accepted.",
                get(&self.connections),
            ),
            (
                "kupala_http_requests_total",
                "counter",
                "Plain HTTP requests served.",
                get(&self.http_requests),
            ),
            (
                "kupala_ingest_queue_depth",
                "gauge",
                "Commands waiting for the ingest thread.",
                g.ingest_queue as u64,
            ),
            (
                "kupala_client_queue_depth",
                "gauge",
                "Updates waiting in client queues, summed.",
                g.client_queues as u64,
            ),
            (
                "kupala_client_queue_depth_max",
                "gauge",
                "The longest client queue.",
                g.client_queue_max as u64,
            ),
            ("kupala_seq", "gauge", "The last journal seq published.", g.seq),
            (
                "kupala_durable_seq",
                "gauge",
                "The last journal seq fsynced.",
                g.durable,
            ),
        ] {
            head(&mut o, name, kind, help);
            let _ = writeln!(o, "{name} {v}");
        }
        head(&mut o, "kupala_clients", "gauge", "Open WebSocket connections.");
        let _ = writeln!(o, "kupala_clients {}", self.clients.load(Ordering::Relaxed));
        head(
            &mut o,
            "kupala_client_closes_total",
            "counter",
            "Connections closed by the server, by reason.",
        );
        for (r, c) in CloseReason::ALL.iter().zip(&self.closes) {
            let _ = writeln!(
                o,
                "kupala_client_closes_total{{reason=\"{}\"}} {}",
                r.label(),
                get(c)
            );
        }
        head(
            &mut o,
            "kupala_errors_total",
            "counter",
            "Error replies, by code.",
        );
        for (e, c) in ErrorCode::ALL.iter().zip(&self.errors) {
            let _ = writeln!(o, "kupala_errors_total{{code=\"{}\"}} {}", e.as_str(), get(c));
        }
        summary(
            &mut o,
            "kupala_tick_to_delta_seconds",
            "Event entering the engine to its deltas reaching the publisher.",
            &self.tick_to_delta,
        );
        summary(
            &mut o,
            "kupala_tick_to_send_seconds",
            "Event entering the engine to its delta written to a client socket.",
            &self.tick_to_send,
        );
        o
    }
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

#[allow(clippy::cast_precision_loss, reason = "latencies rendered as float seconds")]
fn summary(o: &mut String, name: &str, help: &str, h: &Latency) {
    head(o, name, "summary", help);
    let Ok(g) = h.lock() else { return };
    let Some(h) = g.as_ref() else { return };
    for q in [0.5, 0.9, 0.99, 0.999, 1.0] {
        let v = h.value_at_quantile(q) as f64 / 1e9;
        let _ = writeln!(o, "{name}{{quantile=\"{q}\"}} {v:.9}");
    }
    let sum = h.mean() * h.len() as f64 / 1e9;
    let _ = writeln!(o, "{name}_sum {sum:.9}\n{name}_count {}", h.len());
}
