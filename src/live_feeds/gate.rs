//! The live feeds as the server sees them: `feed`-role submits into the
//! queue, the `feeds` query's JSON and the feeds' figures for `/metrics`.

use kupala_engine::clock::unix_ms;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use kupala_api::feed_gate::{FeedGate, Offered};
use kupala_api::feed_metrics::{FeedMetrics, SymbolMetrics, TcpFeedMetrics};
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
    /// When a `feed`-role WebSocket submit last queued an event (ms since
    /// the Unix epoch; 0: never).
    last_offer_ms: AtomicI64,
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
            last_offer_ms: AtomicI64::new(0),
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
        "fx": k.fx, "eod": k.eod, "split": k.split, "dividend": k.dividend,
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

fn kinds(k: &KindCounts) -> Vec<(&'static str, u64)> {
    vec![
        ("instrument", k.instrument),
        ("trade", k.trade),
        ("tick", k.tick),
        ("fx", k.fx),
        ("eod", k.eod),
        ("split", k.split),
        ("dividend", k.dividend),
    ]
}

fn symbol_metrics(s: &SymbolStatus) -> SymbolMetrics {
    SymbolMetrics {
        symbol: s.symbol.clone(),
        instrument: s.instrument.clone(),
        stale: s.stale,
        failures: s.failures,
        last_success_ms: s.last_success_ms,
    }
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
        if out.accepted > 0 {
            self.last_offer_ms.store(unix_ms(), Ordering::Relaxed);
        }
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

    fn metrics(&self) -> FeedMetrics {
        let q = self.queue.stats();
        let tcp = self
            .tcp
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(TcpIngest::stats);
        let symbols: Vec<SymbolMetrics> = self.symbols().iter().map(symbol_metrics).collect();
        let refreshed = symbols.iter().filter_map(|s| s.last_success_ms).max();
        let websocket = Some(self.last_offer_ms.load(Ordering::Relaxed)).filter(|&t| t > 0);
        let last_data_ms = [
            ("tcp", tcp.and_then(|t| t.last_accepted_ms)),
            ("websocket", websocket),
            ("refresher", refreshed),
        ]
        .into_iter()
        .filter_map(|(feed, t)| Some((feed, t?)))
        .collect();
        FeedMetrics {
            queue_depth: q.depth,
            enqueued: kinds(&q.enqueued),
            conflated: q.conflated,
            refused: kinds(&q.refused),
            tcp: tcp.map(|s| TcpFeedMetrics {
                accepted: s.accepted,
                rejected: s.rejected,
                refused: s.refused,
                connections: s.active,
            }),
            symbols,
            last_data_ms,
        }
    }
}
