//! The plain-HTTP side of the port: reading a request head (bounded in size
//! and time), the dashboard's static files, `/health`, `/metrics`, and the
//! WebSocket upgrade handshake on `/ws`.
//!
//! Only what the server needs: GET requests, `Connection: close` answers,
//! no keep-alive, no request bodies. The handshake is RFC 6455's: the
//! `Sec-WebSocket-Accept` key is derived with tungstenite's helper, then
//! the socket is handed to tokio-tungstenite without a second parse.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// The largest request head read.
pub const MAX_HEAD: usize = 16 * 1024;
/// How long a client may take to send its request head.
pub const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

const INDEX_HTML: &str = include_str!("dashboard/index.html");
const APP_JS: &str = include_str!("dashboard/app.js");
const STYLE_CSS: &str = include_str!("dashboard/style.css");

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub method: String,
    pub path: String,
    headers: Vec<(String, String)>,
    /// Bytes read past the head (a client's first WebSocket frames).
    pub rest: Vec<u8>,
}

impl Head {
    /// A header's value (names compared case-insensitively).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn has_token(&self, name: &str, token: &str) -> bool {
        self.header(name)
            .is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// Why a head could not be read.
#[derive(Debug)]
pub(crate) enum HeadError {
    /// Not HTTP, or malformed.
    Bad,
    /// Over [`MAX_HEAD`].
    TooLarge,
    /// The peer went away or the socket failed.
    Gone,
}

/// Reads a request head.
pub(crate) async fn read_head(stream: &mut TcpStream) -> Result<Head, HeadError> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let n = stream.read(&mut chunk).await.map_err(|_| HeadError::Gone)?;
        if n == 0 {
            return Err(HeadError::Gone);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 48];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                let headers = req
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                    .collect();
                return Ok(Head {
                    method: req.method.unwrap_or("").to_owned(),
                    path: req.path.unwrap_or("").to_owned(),
                    headers,
                    rest: buf[len..].to_vec(),
                });
            }
            Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD => {}
            Ok(httparse::Status::Partial) => return Err(HeadError::TooLarge),
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Bad),
        }
    }
}

/// Writes a complete response (headers only for a `HEAD` request) and
/// closes the write side.
pub(crate) async fn respond(stream: &mut TcpStream, status: &str, content_type: &str, body: &str) {
    respond_to("GET", stream, status, content_type, body).await;
}

/// [`respond`] for a request `method`.
pub(crate) async fn respond_to(
    method: &str,
    stream: &mut TcpStream,
    status: &str,
    content_type: &str,
    body: &str,
) {
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Cache-Control: no-store\r\nX-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'self'; connect-src 'self' ws: wss:; frame-ancestors 'none'\r\n\
         Connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    if method != "HEAD" {
        let _ = stream.write_all(body.as_bytes()).await;
    }
    let _ = stream.shutdown().await;
}

/// A static file of the dashboard: (content type, body).
pub(crate) fn static_file(path: &str) -> Option<(&'static str, &'static str)> {
    match path {
        "/" | "/index.html" => Some(("text/html; charset=utf-8", INDEX_HTML)),
        "/app.js" => Some(("text/javascript; charset=utf-8", APP_JS)),
        "/style.css" => Some(("text/css; charset=utf-8", STYLE_CSS)),
        _ => None,
    }
}

/// Checks a WebSocket upgrade request; the `Sec-WebSocket-Accept` value, or
/// the HTTP status to refuse it with.
pub(crate) fn check_upgrade(head: &Head, allowed_origins: &[String]) -> Result<String, &'static str> {
    if !head.has_token("upgrade", "websocket") || !head.has_token("connection", "upgrade") {
        return Err("426 Upgrade Required");
    }
    if head.header("sec-websocket-version").map(str::trim) != Some("13") {
        return Err("400 Bad Request");
    }
    let Some(key) = head.header("sec-websocket-key").map(str::trim) else {
        return Err("400 Bad Request");
    };
    if key.len() != 24 {
        return Err("400 Bad Request");
    }
    // On a server without tokens, `Host` was checked first (`host_allowed`),
    // so the request's own origin is a loopback or an allowed one.
    if let Some(origin) = head.header("origin") {
        let host = head.header("host").unwrap_or("");
        let same = origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host));
        if !same && !allowed_origins.iter().any(|o| o.eq_ignore_ascii_case(origin)) {
            return Err("403 Forbidden");
        }
    }
    Ok(derive_accept_key(key.as_bytes()))
}

/// Whether a server without tokens serves a request with this `Host`: a
/// loopback name (`localhost`, `127.0.0.1`, `[::1]`) with the listening
/// `port` (no port only when that is 80), or the host of one of
/// `allowed_origins`. A missing `Host` or any other name (a DNS-rebinding
/// page's own) is refused, so a web page elsewhere cannot reach an open
/// loopback server through a user's browser, by WebSocket or plain HTTP.
pub(crate) fn host_allowed(head: &Head, port: u16, allowed_origins: &[String]) -> bool {
    let Some(host) = head.header("host").map(str::trim) else {
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

/// The `101 Switching Protocols` answer.
pub(crate) async fn accept_upgrade(stream: &mut TcpStream, accept: &str) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await
}
