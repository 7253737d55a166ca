//! What every connection shares: the server's limits ([`ServerConfig`])
//! and its [`Context`] (hub, ingest, auth, metrics, store, feeds, ML). A
//! leaf below the accept loop, the connection task and the session, so
//! they depend on it and not on each other.

use std::sync::Arc;
use std::time::Duration;

use kupala_engine::store::Store;

use crate::auth::Auth;
use crate::exposition::{Gauges, Scrape};
use crate::feed_gate::FeedGate;
use crate::health::{self, DEFAULT_MAX_DURABLE_LAG, Probe};
use crate::hub::Hub;
use crate::ingest::IngestHandle;
use crate::metrics::Metrics;

/// The server's limits (`[server]` in the config).
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Concurrent TCP connections (HTTP and WebSocket).
    pub max_connections: usize,
    /// The largest request handled; up to 4× this is read and answered
    /// `too_large`, beyond it the connection is closed (1009).
    pub max_frame_bytes: usize,
    /// Events in one submit.
    pub max_submit_events: usize,
    /// Messages per second per connection (bursts of as many).
    pub max_msgs_per_sec: u32,
    /// Requests per connection awaiting their answer: reserved (an ack, a
    /// store query, a read waiting for read-your-writes) or held behind
    /// one; past it a request is answered `rate_limited`, in order.
    pub max_inflight: usize,
    /// Updates a client's queue may hold (after conflation).
    pub client_queue: usize,
    /// A client whose queue is not drained for this long is closed.
    pub slow_client: Duration,
    /// Ping a client heard nothing from for this long; close it after twice
    /// as long (`Duration::ZERO`: never).
    pub ping_interval: Duration,
    /// Time to authenticate when tokens are configured.
    pub auth_timeout: Duration,
    /// Browser origins allowed besides the server's own (`Origin` header).
    pub allowed_origins: Vec<String>,
    /// How long shutdown waits for connections to drain.
    pub drain_timeout: Duration,
    /// Journal events an `as_of` query may replay after its snapshot.
    pub as_of_max_events: u64,
    /// The largest durable lag (events accepted, not yet fsynced) at
    /// which `/health/ready` still answers 200.
    pub ready_max_durable_lag: u64,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 1024,
            max_frame_bytes: 1 << 20,
            max_submit_events: 10_000,
            max_msgs_per_sec: 200,
            max_inflight: 64,
            client_queue: 10_000,
            slow_client: Duration::from_secs(10),
            ping_interval: Duration::from_secs(30),
            auth_timeout: Duration::from_secs(10),
            allowed_origins: Vec::new(),
            drain_timeout: Duration::from_secs(5),
            ready_max_durable_lag: DEFAULT_MAX_DURABLE_LAG,
            as_of_max_events: 5_000_000,
        }
    }
}

/// Everything a connection needs.
#[derive(Debug)]
pub struct Context {
    /// Latest portfolios and ticks, interest and fan-out.
    pub hub: Arc<Hub>,
    /// Where submits go.
    pub ingest: IngestHandle,
    /// Tokens and grants.
    pub auth: Auth,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// The store, for EOD/closed/proposals queries.
    pub store: Arc<Store>,
    /// Limits.
    pub config: ServerConfig,
    /// The live feeds (`feed`-role submits, the `feeds` query); `None`
    /// when the binary wires none in.
    pub feeds: Option<Arc<dyn FeedGate>>,
    /// The ML sidecar (`None`: `[ml] enabled = false`).
    pub analysis: Option<Arc<crate::analysis::Analysis>>,
    /// Answers `as_of` queries from the store.
    pub as_of: crate::as_of::AsOfReader,
}

impl Context {
    /// The `/metrics` text (see [`crate::exposition`]).
    #[must_use]
    pub fn metrics_text(&self) -> String {
        let (_, client_queues, client_queue_max) = self.hub.queue_depths();
        let now_ms = kupala_engine::clock::unix_ms();
        crate::exposition::render(Scrape {
            metrics: Arc::clone(&self.metrics),
            gauges: Gauges {
                ingest_queue: self.ingest.depth(),
                client_queues,
                client_queue_max,
                seq: self.hub.seq(),
                probe: self.probe(),
                shard_depths: self.ingest.shard_depths(),
            },
            store: Arc::clone(&self.store),
            feeds: self.feeds.as_ref().map(|f| f.metrics()),
            jobs: self.analysis.as_ref().map(|a| a.jobs()),
            now_ms,
        })
    }

    /// What readiness is judged on, now.
    #[must_use]
    pub fn probe(&self) -> Probe {
        Probe {
            running: self.ingest.running(),
            store_failure: self.ingest.store_failure(),
            accepted: self.ingest.accepted(),
            durable: self.ingest.durable(),
            max_lag: self.config.ready_max_durable_lag,
        }
    }

    /// `/health/live`: the status code and JSON (see [`crate::health`]).
    #[must_use]
    pub fn live(&self) -> (u16, String) {
        health::live()
    }

    /// `/health/ready`: the status code and JSON (see [`crate::health`]).
    #[must_use]
    pub fn ready(&self) -> (u16, String) {
        self.probe().ready()
    }

    /// The `/health` status code and JSON: `200` and `"ok"` while the
    /// server can take writes; `503` and `"unavailable"` with the reason
    /// once the store failed (a full disk, an I/O error), so a load
    /// balancer or supervisor stops sending it traffic.
    #[must_use]
    pub fn health(&self) -> (u16, String) {
        let (clients, ..) = self.hub.queue_depths();
        let failure = self.ingest.store_failure();
        let status = if failure.is_some() { 503 } else { 200 };
        let body = serde_json::json!({
            "status": if failure.is_some() { "unavailable" } else { "ok" },
            "reason": failure,
            "seq": self.hub.seq(),
            "durable_seq": self.ingest.durable(),
            "clients": clients,
            "stale_instruments": self.feeds.as_ref().map(|f| f.stale()).unwrap_or_default(),
        })
        .to_string();
        (status, body)
    }
}
