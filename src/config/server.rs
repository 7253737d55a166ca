//! The `kupala serve` sections of the configuration: `[server]`, `[auth]`
//! and `[demo]` (documented key by key in `config/default.toml`).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use kupala_api::auth::TokenConfig;
use kupala_api::server::ServerConfig;
use serde::Deserialize;

/// `[server]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSection {
    /// `HOST:PORT` of the WebSocket + HTTP listener.
    pub listen: String,
    /// The store directory.
    pub data_dir: PathBuf,
    /// Concurrent connections.
    pub max_connections: usize,
    /// Largest request message, in bytes.
    pub max_frame_bytes: usize,
    /// Events in one submit.
    pub max_submit_events: usize,
    /// Messages per second per connection.
    pub max_msgs_per_sec: u32,
    /// Requests per connection awaiting their answer (a slow one and
    /// those held behind it, in request order).
    pub max_inflight: usize,
    /// Pending updates per client after conflation.
    pub client_queue: usize,
    /// Seconds a client may leave its queue undrained.
    pub slow_client_secs: u64,
    /// Seconds of client silence before a ping (0 = never).
    pub ping_secs: u64,
    /// Seconds to authenticate.
    pub auth_timeout_secs: u64,
    /// Commands waiting for the ingest thread.
    pub ingest_queue: usize,
    /// Seconds shutdown waits for connections to drain.
    pub drain_secs: u64,
    /// Seconds the server stays up, not ready and refusing writes, after
    /// its store failed (so `/health` can say why), before it exits
    /// non-zero for a supervisor to restart it.
    pub store_failure_exit_secs: u64,
    /// Extra browser origins allowed to open the WebSocket.
    pub allowed_origins: Vec<String>,
    /// The largest durable lag (events accepted, not yet fsynced) at which
    /// `/health/ready` still answers 200.
    pub ready_max_durable_lag: u64,
    /// Journal events an `as_of` query may replay after its snapshot.
    pub as_of_max_events: u64,
}

/// `[auth]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSection {
    /// `[[auth.tokens]]` entries.
    pub tokens: Vec<TokenConfig>,
}

/// `[demo]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemoSection {
    /// Run the synthetic market.
    pub enabled: bool,
    /// Its seed.
    pub seed: u64,
    /// Pace factor (2 = twice as many events per second).
    pub speed: f64,
}

/// Parses a listen address: `IP:PORT`, or `localhost:PORT` (127.0.0.1).
pub fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(a) = s.parse::<SocketAddr>() {
        return Ok(a);
    }
    s.strip_prefix("localhost:")
        .and_then(|p| p.parse::<u16>().ok())
        .map(|port| SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
        .ok_or_else(|| format!("{s:?} is not an address such as 127.0.0.1:8080"))
}

impl ServerSection {
    /// Adds every problem to `problems`.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if let Err(e) = parse_listen(&self.listen) {
            problems.push(format!("server.listen: {e}"));
        }
        for (key, v) in [
            ("max_connections", self.max_connections),
            ("max_frame_bytes", self.max_frame_bytes),
            ("max_submit_events", self.max_submit_events),
            ("max_msgs_per_sec", self.max_msgs_per_sec as usize),
            ("max_inflight", self.max_inflight),
            ("client_queue", self.client_queue),
            ("ingest_queue", self.ingest_queue),
            ("slow_client_secs", usize::from(self.slow_client_secs > 0)),
            ("auth_timeout_secs", usize::from(self.auth_timeout_secs > 0)),
            ("as_of_max_events", usize::from(self.as_of_max_events > 0)),
        ] {
            if v == 0 {
                problems.push(format!("server.{key} must be > 0"));
            }
        }
        if self.max_frame_bytes > 64 << 20 {
            problems.push("server.max_frame_bytes must be at most 64 MiB".into());
        }
    }

    /// The API server's limits.
    #[must_use]
    pub fn server_config(&self) -> ServerConfig {
        ServerConfig {
            max_connections: self.max_connections,
            max_frame_bytes: self.max_frame_bytes,
            max_submit_events: self.max_submit_events,
            max_msgs_per_sec: self.max_msgs_per_sec,
            max_inflight: self.max_inflight,
            client_queue: self.client_queue,
            slow_client: Duration::from_secs(self.slow_client_secs),
            auth_timeout: Duration::from_secs(self.auth_timeout_secs),
            ping_interval: Duration::from_secs(self.ping_secs),
            allowed_origins: self.allowed_origins.clone(),
            drain_timeout: Duration::from_secs(self.drain_secs),
            ready_max_durable_lag: self.ready_max_durable_lag,
            as_of_max_events: self.as_of_max_events,
        }
    }
}

impl DemoSection {
    /// Adds every problem to `problems`.
    pub fn validate(&self, problems: &mut Vec<String>) {
        if !(self.speed.is_finite() && self.speed > 0.0 && self.speed <= 1_000_000.0) {
            problems.push("demo.speed must be > 0 (and at most 1000000)".into());
        }
    }
}
