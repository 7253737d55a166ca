//! The `/metrics` text: a prometheus-client registry built per scrape from
//! collectors over what the server's parts hold (counters, gauges read at
//! scrape time, the store's figures, the feeds', the ML sidecar's, the
//! process's) and a build-info metric, encoded as Prometheus text 0.0.4.
//! Every metric is listed in `docs/protocol.md` (Metrics).

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use kupala_engine::store::Store;

use crate::analysis_jobs::JobCounts;
use crate::feed_metrics::{FeedCollector, FeedMetrics};
use crate::health::Probe;
use crate::metrics::{Metrics, get};
use crate::process::ProcessCollector;
use crate::prom::{self, Encoded};
use crate::store_metrics::StoreCollector;

/// Values read at scrape time from the hub and the ingest thread.
#[derive(Clone, Debug, Default)]
pub struct Gauges {
    /// Commands waiting for the ingest thread.
    pub ingest_queue: usize,
    /// Updates waiting in client queues, summed.
    pub client_queues: usize,
    /// The longest client queue.
    pub client_queue_max: usize,
    /// The last seq the hub saw.
    pub seq: u64,
    /// What readiness is judged on (accepted and durable seqs included).
    pub probe: Probe,
    /// Batches waiting in each shard's queue.
    pub shard_depths: Vec<u64>,
}

/// Everything one scrape shows.
#[derive(Debug)]
pub struct Scrape {
    /// The server's counters and latency histograms.
    pub metrics: Arc<Metrics>,
    /// Gauges read now.
    pub gauges: Gauges,
    /// The store (journal, snapshot and EOD figures).
    pub store: Arc<Store>,
    /// The live feeds, when the binary wires them in.
    pub feeds: Option<FeedMetrics>,
    /// The ML sidecar's jobs, when it runs.
    pub jobs: Option<JobCounts>,
    /// The scrape's time, ms since the Unix epoch.
    pub now_ms: i64,
}

/// The Prometheus text of a scrape.
#[must_use]
pub fn render(s: Scrape) -> String {
    let mut r = Registry::default();
    let build = vec![
        ("version", env!("CARGO_PKG_VERSION")),
        (
            "profile",
            if cfg!(debug_assertions) {
                "debug"
            } else {
                "release"
            },
        ),
    ];
    r.register(
        "kupala_build",
        "The running build: version and profile",
        Info::new(build),
    );
    r.register_collector(Box::new(Counters(s.metrics)));
    r.register_collector(Box::new(s.gauges));
    r.register_collector(Box::new(StoreCollector {
        store: s.store,
        now_ms: s.now_ms,
    }));
    if let Some(metrics) = s.feeds {
        r.register_collector(Box::new(FeedCollector {
            metrics,
            now_ms: s.now_ms,
        }));
    }
    if let Some(jobs) = s.jobs {
        r.register_collector(Box::new(Jobs(jobs)));
    }
    r.register_collector(Box::new(ProcessCollector));
    prom::render(&r)
}

/// The counters and latency histograms of [`Metrics`].
#[derive(Debug)]
struct Counters(Arc<Metrics>);

impl Counters {
    fn events(&self, e: &mut DescriptorEncoder) -> Encoded {
        let m = &self.0;
        let labelled = |label: &'static str, rows: Vec<(&'static str, u64)>| {
            rows.into_iter().map(move |(v, n)| ([(label, v)], n))
        };
        prom::counters(
            e,
            "kupala_events_in_total",
            "Events accepted by the engine, by type.",
            labelled("type", m.events_in().collect()),
        )?;
        prom::counters(
            e,
            "kupala_events_rejected_total",
            "Submitted events refused, by reason.",
            labelled("reason", m.rejections().collect()),
        )?;
        prom::counters(
            e,
            "kupala_client_closes_total",
            "Connections closed by the server, by reason.",
            labelled("reason", m.closes().collect()),
        )?;
        prom::counters(
            e,
            "kupala_errors_total",
            "Error replies, by code.",
            labelled("code", m.errors().collect()),
        )
    }
}

impl Collector for Counters {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        let (m, e) = (&self.0, &mut e);
        self.events(e)?;
        for (name, help, v) in [
            (
                "kupala_duplicate_trades_total",
                "Trades ignored as repeated trade ids.",
                &m.duplicates,
            ),
            ("kupala_acks_total", "Submits acknowledged as durable.", &m.acks),
            (
                "kupala_position_deltas_total",
                "Position deltas the engine published.",
                &m.position_deltas,
            ),
            (
                "kupala_portfolio_deltas_total",
                "Portfolio deltas the engine published.",
                &m.portfolio_deltas,
            ),
            (
                "kupala_messages_sent_total",
                "WebSocket messages written to clients.",
                &m.messages_sent,
            ),
            (
                "kupala_bytes_sent_total",
                "WebSocket payload bytes written to clients.",
                &m.bytes_sent,
            ),
            (
                "kupala_conflated_total",
                "Updates replaced in a client queue by a newer one for the same key.",
                &m.conflated,
            ),
            (
                "kupala_suppressed_total",
                "Updates skipped by a subscription's min_change.",
                &m.suppressed,
            ),
            (
                "kupala_dropped_total",
                "Queued updates discarded when a client was disconnected.",
                &m.dropped,
            ),
            (
                "kupala_connections_total",
                "TCP connections accepted.",
                &m.connections,
            ),
            (
                "kupala_http_requests_total",
                "Plain HTTP requests served.",
                &m.http_requests,
            ),
        ] {
            prom::counter(e, name, help, get(v))?;
        }
        prom::gauge(
            e,
            "kupala_clients",
            "Open WebSocket connections.",
            m.clients.load(std::sync::atomic::Ordering::Relaxed),
        )?;
        prom::histogram(
            e,
            "kupala_tick_to_delta_seconds",
            "Event entering the engine to its deltas reaching the publisher.",
            &m.tick_to_delta.read(),
        )?;
        prom::histogram(
            e,
            "kupala_tick_to_send_seconds",
            "Event entering the engine to its delta written to a client socket.",
            &m.tick_to_send.read(),
        )
    }
}

impl Collector for Gauges {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        let (g, e) = (self, &mut e);
        let p = &g.probe;
        for (name, help, v) in [
            (
                "kupala_ingest_queue_depth",
                "Commands waiting for the ingest thread.",
                g.ingest_queue as u64,
            ),
            (
                "kupala_client_queue_depth",
                "Updates waiting in client queues, summed.",
                g.client_queues as u64,
            ),
            (
                "kupala_client_queue_depth_max",
                "The longest client queue.",
                g.client_queue_max as u64,
            ),
            ("kupala_seq", "The last journal seq published.", g.seq),
            (
                "kupala_accepted_seq",
                "The last seq the engine accepted.",
                p.accepted,
            ),
            ("kupala_durable_seq", "The last journal seq fsynced.", p.durable),
            (
                "kupala_durable_lag_events",
                "Events accepted but not yet fsynced (kupala_accepted_seq - kupala_durable_seq).",
                p.lag(),
            ),
            (
                "kupala_ready",
                "1 while /health/ready answers 200.",
                u64::from(p.not_ready().is_none()),
            ),
            (
                "kupala_store_writable",
                "1 until a journal append or fsync fails.",
                u64::from(p.store_failure.is_none()),
            ),
        ] {
            prom::gauge(e, name, help, v)?;
        }
        let shards: Vec<([(&str, String); 1], u64)> = g
            .shard_depths
            .iter()
            .enumerate()
            .map(|(i, &d)| ([("shard", i.to_string())], d))
            .collect();
        prom::gauges(
            e,
            "kupala_shard_queue_depth",
            "Batches waiting in a shard's queue, by shard.",
            shards,
        )
    }
}

/// The ML sidecar's jobs.
#[derive(Debug)]
struct Jobs(JobCounts);

impl Collector for Jobs {
    fn encode(&self, mut e: DescriptorEncoder) -> Encoded {
        let (j, e) = (&self.0, &mut e);
        prom::counter(
            e,
            "kupala_ml_jobs_submitted_total",
            "ML analysis jobs queued (or refused at once).",
            j.submitted,
        )?;
        let ends = [("done", j.done), ("failed", j.failed), ("cancelled", j.cancelled)];
        prom::counters(
            e,
            "kupala_ml_jobs_finished_total",
            "ML analysis jobs finished, by final state.",
            ends.map(|(s, n)| ([("state", s)], n)),
        )?;
        prom::gauge(
            e,
            "kupala_ml_jobs_active",
            "ML analysis jobs queued or running now.",
            j.active,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Rejection;

    fn text_of(c: impl Collector) -> String {
        let mut r = Registry::default();
        r.register_collector(Box::new(c));
        prom::render(&r)
    }

    #[test]
    fn counters_keep_their_names_and_latencies_are_histograms() {
        let m = Arc::new(Metrics::default());
        m.reject(Rejection::Invalid, 2);
        m.record_delta(40_000);
        let text = text_of(Counters(Arc::clone(&m)));
        for line in [
            "kupala_events_in_total{type=\"trade\"} 0",
            "kupala_events_rejected_total{reason=\"invalid\"} 2",
            "kupala_events_rejected_total{reason=\"forbidden\"} 0",
            "kupala_client_closes_total{reason=\"slow\"} 0",
            "kupala_errors_total{code=\"bad_request\"} 0",
            "kupala_acks_total 0",
            "kupala_clients 0",
            "# TYPE kupala_tick_to_delta_seconds histogram",
            "kupala_tick_to_delta_seconds_bucket{le=\"2.5e-05\"} 0",
            "kupala_tick_to_delta_seconds_bucket{le=\"5e-05\"} 1",
            "kupala_tick_to_delta_seconds_count 1",
            "kupala_tick_to_send_seconds_count 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
    }

    #[test]
    fn gauges_show_lag_readiness_and_shards() {
        let g = Gauges {
            seq: 5,
            probe: Probe {
                running: true,
                accepted: 12,
                durable: 10,
                max_lag: 1,
                ..Probe::default()
            },
            shard_depths: vec![0, 3],
            ..Gauges::default()
        };
        let text = text_of(g);
        for line in [
            "kupala_seq 5",
            "kupala_accepted_seq 12",
            "kupala_durable_seq 10",
            "kupala_durable_lag_events 2",
            "kupala_ready 0",
            "kupala_store_writable 1",
            "kupala_shard_queue_depth{shard=\"1\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
    }

    #[test]
    fn ml_jobs_are_counted_by_state() {
        let text = text_of(Jobs(JobCounts {
            submitted: 3,
            done: 1,
            failed: 1,
            cancelled: 0,
            active: 1,
        }));
        for line in [
            "kupala_ml_jobs_submitted_total 3",
            "kupala_ml_jobs_finished_total{state=\"failed\"} 1",
            "kupala_ml_jobs_active 1",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} missing in:\n{text}");
        }
    }
}
