//! The HTTP side of the port, on axum: the routes (the dashboard's static
//! files, `/health`, `/health/live`, `/health/ready`, `/metrics` and the WebSocket upgrade on `/ws`), the
//! `Host` rule of a server without tokens, the `Origin` rule of the
//! upgrade, and the headers every answer carries.
//!
//! The router is served connection by connection by hyper from the accept
//! loop in `server` (which keeps the connection cap and the shutdown); an
//! upgraded socket runs `connection::serve` in its own task, holding the
//! server's shutdown signal and drop guard like every other task.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{WebSocket, WebSocketUpgrade};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::sync::{mpsc, watch};

use crate::connection;
use crate::context::{Context, ServerConfig};
use crate::metrics::add;
use crate::shutdown::Shutdown;

/// The largest request head read (hyper answers `431` past it).
pub const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const JSON: &str = "application/json";
const TEXT: &str = "text/plain; charset=utf-8";
const CSP: &str = "default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'";

/// What every route shares: the server's context, its shutdown signal
/// and drop guard (handed to each upgraded connection), and the port it
/// listens on (for the `Host` rule).
#[derive(Clone)]
pub(crate) struct AppState {
    /// Hub, ingest, auth, metrics, store, limits.
    pub ctx: Arc<Context>,
    /// The server's shutdown signal (`true`, or the sender dropped).
    pub shutdown: watch::Receiver<bool>,
    /// A clone per running connection task; the server waits for all.
    pub complete: mpsc::Sender<()>,
    /// The listening port.
    pub port: u16,
}

/// The router: every route, the `Host` rule and the common headers.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/app.js", get(|| async { file(JS, APP_JS) }))
        .route("/style.css", get(|| async { file(CSS, STYLE_CSS) }))
        .route("/health", get(health))
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/ws", get(upgrade))
        .fallback(not_found)
        .layer(middleware::map_response(common_headers))
        .layer(middleware::from_fn_with_state(state.clone(), host_rule))
        .with_state(state)
}

async fn index() -> Response {
    file(HTML, INDEX_HTML)
}

fn file(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn health(State(s): State<AppState>) -> Response {
    json(s.ctx.health())
}

async fn live(State(s): State<AppState>) -> Response {
    json(s.ctx.live())
}

async fn ready(State(s): State<AppState>) -> Response {
    json(s.ctx.ready())
}

fn json((code, body): (u16, String)) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, [(header::CONTENT_TYPE, JSON)], body).into_response()
}

async fn metrics(State(s): State<AppState>) -> Response {
    let body = s.ctx.metrics_text();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        body,
    )
        .into_response()
}

async fn not_found(method: Method) -> Response {
    if method == Method::GET || method == Method::HEAD {
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, TEXT)],
            "not found\n",
        )
            .into_response()
    } else {
        (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::CONTENT_TYPE, TEXT)],
            "GET only\n",
        )
            .into_response()
    }
}

/// Every plain answer: not cached, not sniffed, framed by no one, only
/// the server's own scripts and sockets, and the connection closed after
/// it (one request per connection, as the dashboard and probes need).
async fn common_headers(mut r: Response) -> Response {
    if r.status() != StatusCode::SWITCHING_PROTOCOLS {
        let h = r.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    r
}

/// Counts the request and, on a server without tokens, answers `403`
/// unless its `Host` is the server's own (see [`host_allowed`]).
async fn host_rule(State(s): State<AppState>, req: Request, next: Next) -> Response {
    if req.uri().path() != "/ws" {
        add(&s.ctx.metrics.http_requests, 1);
    }
    if s.ctx.auth.open_grant().is_some() {
        let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok());
        if !host_allowed(host, s.port, &s.ctx.config.allowed_origins) {
            let body = "Host not allowed: use localhost, 127.0.0.1 or [::1] with this port\n";
            return (StatusCode::FORBIDDEN, [(header::CONTENT_TYPE, TEXT)], body).into_response();
        }
    }
    next.run(req).await
}

/// `/ws`: checks the `Origin`, applies the frame limits and hands the
/// upgraded socket to a connection task. A request that is no upgrade is
/// answered `426`, a malformed one `400`.
async fn upgrade(
    State(s): State<AppState>,
    headers: HeaderMap,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Response {
    let ws = match ws {
        Ok(ws) => ws,
        Err(
            WebSocketUpgradeRejection::InvalidConnectionHeader(_)
            | WebSocketUpgradeRejection::InvalidUpgradeHeader(_)
            | WebSocketUpgradeRejection::ConnectionNotUpgradable(_),
        ) => {
            let body = "a WebSocket upgrade is required here\n";
            return (StatusCode::UPGRADE_REQUIRED, [(header::CONTENT_TYPE, TEXT)], body).into_response();
        }
        Err(other) => return other.into_response(),
    };
    if !origin_allowed(&headers, &s.ctx.config.allowed_origins) {
        return (
            StatusCode::FORBIDDEN,
            [(header::CONTENT_TYPE, TEXT)],
            "Origin not allowed\n",
        )
            .into_response();
    }
    let shutdown = Shutdown::new(s.shutdown.clone());
    let guard = s.complete.clone();
    let ctx = s.ctx;
    limits(ws, &ctx.config).on_upgrade(move |socket: WebSocket| async move {
        connection::serve(socket, ctx, shutdown).await;
        drop(guard);
    })
}

/// The WebSocket layer's hard limits: 4× `max_frame_bytes`, small buffers.
fn limits(ws: WebSocketUpgrade, config: &ServerConfig) -> WebSocketUpgrade {
    let hard = config.max_frame_bytes.saturating_mul(4).max(4096);
    ws.read_buffer_size(8 * 1024)
        .write_buffer_size(64 * 1024)
        .max_message_size(hard)
        .max_frame_size(hard)
}

/// Whether an upgrade's `Origin` (if any) is the request's own (`Host`)
/// or one of `allowed_origins`. On a server without tokens `Host` was
/// checked first, so the request's own origin is a loopback or listed one.
fn origin_allowed(headers: &HeaderMap, allowed_origins: &[String]) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("");
    let same = origin
        .split_once("://")
        .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
    same || allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin))
}

/// Whether a server without tokens serves a request with this `Host`: a
/// loopback name (`localhost`, `127.0.0.1`, `[::1]`) with the listening
/// `port` (no port only when that is 80), or the host of one of
/// `allowed_origins`. A missing `Host` or any other name (a DNS-rebinding
/// page's own) is refused, so a web page elsewhere cannot reach an open
/// loopback server through a user's browser, by WebSocket or plain HTTP.
pub(crate) fn host_allowed(host: Option<&str>, port: u16, allowed_origins: &[String]) -> bool {
    let Some(host) = host.map(str::trim) else {
        return false;
    };
    let listed = allowed_origins.iter().any(|o| {
        o.split_once("://")
            .is_some_and(|(_, a)| a.eq_ignore_ascii_case(host))
    });
    if listed {
        return true;
    }
    let (name, rest) = match host.find(']') {
        Some(i) if host.starts_with('[') => host.split_at(i + 1),
        _ => host.rfind(':').map_or((host, ""), |i| host.split_at(i)),
    };
    let port_ok = if rest.is_empty() {
        port == 80
    } else {
        rest.strip_prefix(':').and_then(|p| p.parse::<u16>().ok()) == Some(port)
    };
    port_ok && (name.eq_ignore_ascii_case("localhost") || name == "127.0.0.1" || name == "[::1]")
}

#[cfg(test)]
mod tests {
    use super::host_allowed;

    #[test]
    fn the_host_rule_takes_loopback_names_with_the_port_and_listed_origins() {
        let listed = ["https://kupala.example".to_owned()];
        assert!(host_allowed(Some("localhost:8080"), 8080, &[]));
        assert!(host_allowed(Some("127.0.0.1:8080"), 8080, &[]));
        assert!(host_allowed(Some("[::1]:8080"), 8080, &[]));
        assert!(host_allowed(Some("localhost"), 80, &[]));
        assert!(host_allowed(Some("kupala.example"), 8080, &listed));
        assert!(!host_allowed(Some("localhost"), 8080, &[]));
        assert!(!host_allowed(Some("localhost:8081"), 8080, &[]));
        assert!(!host_allowed(Some("localhost.evil.example:8080"), 8080, &[]));
        assert!(!host_allowed(Some("kupala.example"), 8080, &[]));
        assert!(!host_allowed(None, 8080, &[]));
    }
}
