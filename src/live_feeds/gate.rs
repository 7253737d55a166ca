//! The live feeds as the server sees them: `feed`-role submits into the
//! queue, the `feeds` query's JSON and the feeds' Prometheus metrics.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use kupala_api::feed_gate::{FeedGate, Offered};
use kupala_engine::Event;
use kupala_feeds::queue::{IngestQueue, KindCounts, RefuseReason};
use kupala_feeds::refresher::{StatusBoard, SymbolStatus};
use kupala_feeds::tcp::TcpIngest;
use serde_json::{Value, json};

/// The shared side of the live feeds.
#[derive(Debug)]
pub(super) struct Gate {
    queue: Arc<IngestQueue>,
    capacity: usize,
    tcp: Mutex<Option<TcpIngest>>,
    tcp_addr: Option<SocketAddr>,
    board: Option<Arc<StatusBoard>>,
    endpoint: String,
}

impl Gate {
    pub(super) fn new(
        queue: Arc<IngestQueue>,
        capacity: usize,
        tcp: Option<TcpIngest>,
        board: Option<Arc<StatusBoard>>,
        endpoint: String,
    ) -> Self {
        Self {
            queue,
            capacity,
            tcp_addr: tcp.as_ref().map(TcpIngest::local_addr),
            tcp: Mutex::new(tcp),
            board,
            endpoint,
        }
    }

    pub(super) fn queue(&self) -> &IngestQueue {
        &self.queue
    }

    pub(super) const fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp_addr
    }

    /// Stops the TCP endpoint (its connections finish the lines they have).
    pub(super) fn stop_tcp(&self) {
        let tcp = self.tcp.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(t) = tcp {
            t.stop();
        }
    }

    fn tcp_json(&self) -> Value {
        let tcp = self.tcp.lock().unwrap_or_else(PoisonError::into_inner);
        match (tcp.as_ref(), self.tcp_addr) {
            (Some(t), Some(addr)) => {
                let s = t.stats();
                json!({
                    "listen": addr.to_string(),
                    "connections": s.connections,
                    "connections_refused": s.connections_refused,
                    "active": s.active,
                    "bytes": s.bytes,
                    "lines": s.lines,
                    "accepted": s.accepted,
                    "rejected": s.rejected,
                    "refused": s.refused,
                })
            }
            _ => Value::Null,
        }
    }

    fn symbols(&self) -> Vec<SymbolStatus> {
        self.board.as_ref().map(|b| b.snapshot()).unwrap_or_default()
    }
}

fn counts(k: &KindCounts) -> Value {
    json!({
        "instrument": k.instrument, "trade": k.trade, "tick": k.tick,
        "fx": k.fx, "eod": k.eod, "split": k.split,
    })
}

fn symbol_json(s: &SymbolStatus) -> Value {
    json!({
        "symbol": s.symbol,
        "instrument": s.instrument,
        "stale": s.stale,
        "consecutive_failures": s.consecutive_failures,
        "fetches": s.fetches,
        "failures": s.failures,
        "emitted": s.emitted,
        "skipped": s.skipped,
        "last_error": s.last_error,
        "last_success_ms": s.last_success_ms,
        "last_price": s.last_price.map(|p| p.to_string()),
        "last_ts": s.last_ts.map(|t| t.0),
    })
}

/// A Prometheus label value: backslash, quote and newline escaped.
fn label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// One line per labelled value of a metric family: `name{label="v"} n`.
fn rows<'a>(o: &mut String, name: &str, label: &str, values: impl IntoIterator<Item = (&'a str, u64)>) {
    for (v, n) in values {
        let _ = writeln!(o, "{name}{{{label}=\"{v}\"}} {n}");
    }
}

fn head(o: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

impl FeedGate for Gate {
    fn offer(&self, events: Vec<Event>) -> Offered {
        let mut out = Offered::default();
        let wait = self.queue.max_wait();
        (out.accepted, out.conflated) =
            self.queue
                .push_all_counted(events.into_iter().enumerate(), wait, |i, r| {
                    out.closed |= r.reason == RefuseReason::Closed;
                    out.refused.push((i, r.to_string()));
                });
        out
    }

    fn status(&self) -> Value {
        let q = self.queue.stats();
        let symbols = self.symbols();
        json!({
            "queue": {
                "capacity": self.capacity,
                "depth": q.depth,
                "max_depth": q.max_depth,
                "enqueued": counts(&q.enqueued),
                "conflated": q.conflated,
                "refused": counts(&q.refused),
                "waited": q.waited,
                "dequeued": q.dequeued,
            },
            "tcp": self.tcp_json(),
            "refresher": if self.board.is_some() {
                json!({ "endpoint": self.endpoint, "symbols": symbols.iter().map(symbol_json).collect::<Vec<_>>() })
            } else {
                Value::Null
            },
            "stale": self.stale(),
        })
    }

    fn stale(&self) -> Vec<String> {
        self.board
            .as_ref()
            .map(|b| b.stale_instruments())
            .unwrap_or_default()
    }

    fn render_metrics(&self, o: &mut String) {
        let q = self.queue.stats();
        head(
            o,
            "kupala_feed_queue_depth",
            "gauge",
            "Events waiting in the live-feed queue.",
        );
        let _ = writeln!(o, "kupala_feed_queue_depth {}", q.depth);
        head(
            o,
            "kupala_feed_enqueued_total",
            "counter",
            "Events accepted into the live-feed queue, by type.",
        );
        let kinds = |k: &KindCounts| {
            [
                ("instrument", k.instrument),
                ("trade", k.trade),
                ("tick", k.tick),
                ("fx", k.fx),
                ("eod", k.eod),
                ("split", k.split),
            ]
        };
        rows(o, "kupala_feed_enqueued_total", "type", kinds(&q.enqueued));
        head(
            o,
            "kupala_feed_conflated_total",
            "counter",
            "Ticks replaced in the live-feed queue by a later tick of the same instrument.",
        );
        let _ = writeln!(o, "kupala_feed_conflated_total {}", q.conflated);
        head(
            o,
            "kupala_feed_refused_total",
            "counter",
            "Events the live-feed queue refused (busy past its wait bound, or closing), by type.",
        );
        rows(o, "kupala_feed_refused_total", "type", kinds(&q.refused));
        if let Some(t) = self.tcp.lock().unwrap_or_else(PoisonError::into_inner).as_ref() {
            let s = t.stats();
            head(
                o,
                "kupala_tcp_feed_lines_total",
                "counter",
                "Lines read by the TCP feed, by outcome.",
            );
            let outcomes = [
                ("accepted", s.accepted),
                ("rejected", s.rejected),
                ("refused", s.refused),
            ];
            rows(o, "kupala_tcp_feed_lines_total", "outcome", outcomes);
            head(
                o,
                "kupala_tcp_feed_connections",
                "gauge",
                "Open TCP feed connections.",
            );
            let _ = writeln!(o, "kupala_tcp_feed_connections {}", s.active);
        }
        let symbols = self.symbols();
        if !symbols.is_empty() {
            head(
                o,
                "kupala_refresher_stale",
                "gauge",
                "1 while a refreshed symbol is stale (failed stale_after times in a row).",
            );
            for s in &symbols {
                let _ = writeln!(
                    o,
                    "kupala_refresher_stale{{symbol=\"{}\",instrument=\"{}\"}} {}",
                    label(&s.symbol),
                    label(&s.instrument),
                    u8::from(s.stale)
                );
            }
            head(
                o,
                "kupala_refresher_failures_total",
                "counter",
                "Failed fetches per refreshed symbol.",
            );
            for s in &symbols {
                let _ = writeln!(
                    o,
                    "kupala_refresher_failures_total{{symbol=\"{}\"}} {}",
                    label(&s.symbol),
                    s.failures
                );
            }
        }
    }
}
