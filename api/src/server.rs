//! The accept loop, laid out as tokio's mini-redis: connections are accepted
//! under a `Semaphore` cap (a full server stops accepting; the OS backlog
//! holds the rest), accept errors back off exponentially, each connection
//! runs in its own task with a [`Shutdown`] and a drop-guard sender, and
//! [`run`] returns only once every connection task has finished (or the
//! drain timeout passed).
//!
//! HTTP and WebSocket share one port: the first request head decides
//! (`/ws` upgrades, `/`, `/app.js`, `/style.css`, `/health` and `/metrics`
//! are answered and closed).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, broadcast, mpsc};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};

use kupala_engine::store::Store;

use crate::auth::Auth;
use crate::connection;
use crate::error::ApiError;
use crate::feed_gate::FeedGate;
use crate::http::{self, HEAD_TIMEOUT, HeadError};
use crate::hub::Hub;
use crate::ingest::IngestHandle;
use crate::metrics::{Gauges, Metrics, add};
use crate::shutdown::Shutdown;

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
        }
    }
}

impl ServerConfig {
    /// The WebSocket layer's hard limits: 4× `max_frame_bytes`, small buffers.
    #[must_use]
    pub fn ws_config(&self) -> WebSocketConfig {
        let hard = self.max_frame_bytes.saturating_mul(4).max(4096);
        WebSocketConfig::default()
            .read_buffer_size(8 * 1024)
            .write_buffer_size(64 * 1024)
            .max_message_size(Some(hard))
            .max_frame_size(Some(hard))
    }
}

/// Everything a connection needs.
#[derive(Debug)]
pub struct Context {
    /// The latest-state view and fan-out.
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
}

impl Context {
    /// The `/metrics` text.
    #[must_use]
    pub fn metrics_text(&self) -> String {
        let (_, sum, max) = self.hub.queue_depths();
        let mut text = self.metrics.render(&Gauges {
            ingest_queue: self.ingest.depth(),
            client_queues: sum,
            client_queue_max: max,
            seq: self.hub.seq(),
            durable: self.ingest.durable(),
        });
        if let Some(feeds) = &self.feeds {
            feeds.render_metrics(&mut text);
        }
        text
    }

    /// The `/health` status line and JSON: `200` and `"ok"` while the
    /// server can take writes; `503` and `"unavailable"` with the reason
    /// once the store failed (a full disk, an I/O error), so a load
    /// balancer or supervisor stops sending it traffic.
    #[must_use]
    pub fn health(&self) -> (&'static str, String) {
        let (clients, ..) = self.hub.queue_depths();
        let failure = self.ingest.store_failure();
        let status = if failure.is_some() {
            "503 Service Unavailable"
        } else {
            "200 OK"
        };
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

/// Binds the listener.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, ApiError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| ApiError::Bind { addr, source })
}

/// Serves connections until `shutdown` completes, then tells every
/// connection to close and waits (up to `drain_timeout`) for them.
pub async fn run(listener: TcpListener, ctx: Arc<Context>, shutdown: impl Future) {
    let (notify_shutdown, _) = broadcast::channel(1);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let drain = ctx.config.drain_timeout;
    let mut server = Listener {
        limit: Arc::new(Semaphore::new(ctx.config.max_connections.max(1))),
        listener,
        ctx,
        notify_shutdown,
        shutdown_complete_tx,
    };
    tokio::select! {
        () = server.run() => {}
        _ = shutdown => {}
    }
    let Listener {
        notify_shutdown,
        shutdown_complete_tx,
        ..
    } = server;
    drop(notify_shutdown);
    drop(shutdown_complete_tx);
    let _ = tokio::time::timeout(drain, shutdown_complete_rx.recv()).await;
}

struct Listener {
    listener: TcpListener,
    limit: Arc<Semaphore>,
    ctx: Arc<Context>,
    notify_shutdown: broadcast::Sender<()>,
    shutdown_complete_tx: mpsc::Sender<()>,
}

impl Listener {
    async fn run(&mut self) {
        loop {
            let Ok(permit) = Arc::clone(&self.limit).acquire_owned().await else {
                return;
            };
            let (socket, peer) = self.accept().await;
            add(&self.ctx.metrics.connections, 1);
            let handler = Handler {
                ctx: Arc::clone(&self.ctx),
                shutdown: Shutdown::new(self.notify_shutdown.subscribe()),
                _shutdown_complete: self.shutdown_complete_tx.clone(),
            };
            tokio::spawn(async move {
                handler.run(socket, peer).await;
                drop(permit);
            });
        }
    }

    /// Accepts, backing off (10 ms doubling to 1 s) while accept fails
    /// (e.g. out of file descriptors), without giving up.
    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        let mut backoff = Duration::from_millis(10);
        loop {
            match self.listener.accept().await {
                Ok(pair) => return pair,
                Err(e) => {
                    eprintln!("kupala: accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

struct Handler {
    ctx: Arc<Context>,
    shutdown: Shutdown,
    _shutdown_complete: mpsc::Sender<()>,
}

impl Handler {
    async fn run(mut self, mut socket: TcpStream, peer: SocketAddr) {
        let _ = socket.set_nodelay(true);
        let head = tokio::select! {
            r = tokio::time::timeout(HEAD_TIMEOUT, http::read_head(&mut socket)) => r,
            () = self.shutdown.recv() => return,
        };
        let head = match head {
            Ok(Ok(h)) => h,
            Ok(Err(HeadError::Gone)) => return,
            Ok(Err(HeadError::TooLarge)) => {
                return http::respond(
                    &mut socket,
                    "431 Request Header Fields Too Large",
                    "text/plain",
                    "",
                )
                .await;
            }
            Ok(Err(HeadError::Bad)) | Err(_) => {
                return http::respond(&mut socket, "400 Bad Request", "text/plain", "bad request\n").await;
            }
        };
        // Without tokens, only the server's own (loopback) names are
        // served: a DNS-rebinding page has its own name in `Host`.
        if self.ctx.auth.open_grant().is_some() {
            let port = socket.local_addr().map_or(0, |a| a.port());
            if !http::host_allowed(&head, port, &self.ctx.config.allowed_origins) {
                let body = "Host not allowed: use localhost, 127.0.0.1 or [::1] with this port\n";
                return http::respond(&mut socket, "403 Forbidden", "text/plain", body).await;
            }
        }
        let method = head.method.as_str();
        if method != "GET" && method != "HEAD" {
            return http::respond(&mut socket, "405 Method Not Allowed", "text/plain", "GET only\n").await;
        }
        let path = head.path.split('?').next().unwrap_or("");
        if path != "/ws" {
            add(&self.ctx.metrics.http_requests, 1);
        }
        let reply = |status, ct, body| (status, ct, body);
        let (status, ct, body) = match path {
            "/ws" if method == "GET" => ("", "", String::new()),
            "/health" => {
                let (status, body) = self.ctx.health();
                reply(status, "application/json", body)
            }
            "/metrics" => reply("200 OK", "text/plain; version=0.0.4", self.ctx.metrics_text()),
            p => match http::static_file(p) {
                Some((ct, body)) => reply("200 OK", ct, body.to_owned()),
                None => reply("404 Not Found", "text/plain", "not found\n".to_owned()),
            },
        };
        if !status.is_empty() {
            return http::respond_to(method, &mut socket, status, ct, &body).await;
        }
        let accept = match http::check_upgrade(&head, &self.ctx.config.allowed_origins) {
            Ok(a) => a,
            Err(status) => return http::respond(&mut socket, status, "text/plain", "").await,
        };
        if http::accept_upgrade(&mut socket, &accept).await.is_err() {
            return;
        }
        let config = self.ctx.config.ws_config();
        let ws = WebSocketStream::from_partially_read(socket, head.rest, Role::Server, Some(config)).await;
        connection::serve(ws, self.ctx, self.shutdown, peer).await;
    }
}
