//! The accept loop, laid out as tokio's mini-redis: connections are accepted
//! under a `Semaphore` cap (a full server stops accepting; the OS backlog
//! holds the rest), accept errors back off exponentially, each connection
//! runs in its own task with a [`Shutdown`] and a drop-guard sender, and
//! [`run`] returns only once every connection task has finished (or the
//! drain timeout passed).
//!
//! Each accepted socket is served by hyper (HTTP/1.1, a bounded head read
//! in bounded time) with the axum router of `http`: plain
//! requests are answered there, `/ws` upgrades. The connection's permit
//! travels with its socket, so an upgraded WebSocket still counts against
//! the cap until it closes.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, watch};

pub use crate::context::{Context, ServerConfig};
use crate::error::ApiError;
use crate::http::{self, AppState, HEAD_TIMEOUT, MAX_HEAD};
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
    let (notify_shutdown, shutdown_rx) = watch::channel(false);
    let (shutdown_complete_tx, mut shutdown_complete_rx) = mpsc::channel::<()>(1);
    let drain = ctx.config.drain_timeout;
    let port = listener.local_addr().map_or(0, |a| a.port());
    let router = http::router(AppState {
        ctx: Arc::clone(&ctx),
        shutdown: shutdown_rx.clone(),
        complete: shutdown_complete_tx.clone(),
        port,
    });
    let mut server = Listener {
        limit: Arc::new(Semaphore::new(ctx.config.max_connections.max(1))),
        listener,
        ctx,
        router,
        shutdown: shutdown_rx,
        shutdown_complete_tx,
    };
    tokio::select! {
        () = server.run() => {}
        _ = shutdown => {}
    }
    // The listener, the router's state and their guard clones go first,
    // then the signal: every task holding a guard learns of it and ends.
    drop(server);
    drop(notify_shutdown);
    let _ = tokio::time::timeout(drain, shutdown_complete_rx.recv()).await;
}

struct Listener {
    listener: TcpListener,
    limit: Arc<Semaphore>,
    ctx: Arc<Context>,
    router: Router,
    shutdown: watch::Receiver<bool>,
    shutdown_complete_tx: mpsc::Sender<()>,
}

impl Listener {
    async fn run(&mut self) {
        loop {
            let Ok(permit) = Arc::clone(&self.limit).acquire_owned().await else {
                return;
            };
            let (socket, _peer) = self.accept().await;
            add(&self.ctx.metrics.connections, 1);
            let handler = Handler {
                router: self.router.clone(),
                shutdown: Shutdown::new(self.shutdown.clone()),
                _shutdown_complete: self.shutdown_complete_tx.clone(),
            };
            tokio::spawn(handler.run(Capped {
                socket,
                _permit: permit,
            }));
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
                    tracing::warn!("accept failed: {e}; retrying in {backoff:?}");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                }
            }
        }
    }
}

/// One TCP connection's HTTP side: served until its answer is written,
/// it upgrades (the WebSocket then runs in its own task), or shutdown
/// (an unfinished request is let finish, up to the drain timeout).
struct Handler {
    router: Router,
    shutdown: Shutdown,
    _shutdown_complete: mpsc::Sender<()>,
}

impl Handler {
    async fn run(mut self, socket: Capped) {
        let _ = socket.socket.set_nodelay(true);
        let conn = http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(HEAD_TIMEOUT)
            .max_buf_size(MAX_HEAD)
            .serve_connection(TokioIo::new(socket), TowerToHyperService::new(self.router))
            .with_upgrades();
        tokio::pin!(conn);
        tokio::select! {
            _ = conn.as_mut() => {}
            () = self.shutdown.recv() => {
                conn.as_mut().graceful_shutdown();
                let _ = conn.await;
            }
        }
    }
}

/// A socket with its connection permit: the permit is released when the
/// socket is dropped, whether hyper answered on it or a WebSocket took it.
struct Capped {
    socket: TcpStream,
    _permit: OwnedSemaphorePermit,
}

impl AsyncRead for Capped {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_read(cx, buf)
    }
}

impl AsyncWrite for Capped {
    fn poll_write(self: Pin<&mut Self>, cx: &mut TaskContext<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().socket).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.socket.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().socket).poll_shutdown(cx)
    }
}
