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
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::connection;
pub use crate::context::{Context, ServerConfig};
use crate::error::ApiError;
use crate::http::{self, HEAD_TIMEOUT, HeadError};
use crate::metrics::add;
use crate::shutdown::Shutdown;

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
            "/health/live" => {
                let (code, body) = self.ctx.live();
                reply(crate::health::status_line(code), "application/json", body)
            }
            "/health/ready" => {
                let (code, body) = self.ctx.ready();
                reply(crate::health::status_line(code), "application/json", body)
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
