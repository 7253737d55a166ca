//! The HTTP side of the port: routes, status codes and headers, the
//! WebSocket upgrade's refusals, the head limit, and the connection cap
//! (an upgraded WebSocket holds its slot until it closes).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Result, ensure};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::support::{Client, http_raw, server};

fn get(method: &str, path: &str, addr: SocketAddr, extra: &str) -> String {
    format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{extra}\r\n")
}

/// The head of a raw exchange, lower-cased for header checks.
async fn head_of(addr: SocketAddr, request: &str) -> Result<(String, String)> {
    let r = http_raw(addr, request).await?;
    let (head, body) = r.split_once("\r\n\r\n").unwrap_or((r.as_str(), ""));
    Ok((head.to_ascii_lowercase(), body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_answer_with_their_status_type_and_headers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let a = srv.addr;
    let (h, body) = head_of(a, &get("GET", "/", a, "")).await?;
    ensure!(h.starts_with("http/1.1 200"), "{h}");
    ensure!(h.contains("content-type: text/html; charset=utf-8"), "{h}");
    for header in [
        "cache-control: no-store",
        "x-content-type-options: nosniff",
        "content-security-policy: default-src 'self'",
        "connection: close",
    ] {
        ensure!(h.contains(header), "GET / lacks {header}: {h}");
    }
    ensure!(
        body.contains("<html") || body.contains("<!doctype"),
        "GET / body: {body:.80}"
    );
    let (h, body) = head_of(a, &get("HEAD", "/", a, "")).await?;
    ensure!(
        h.starts_with("http/1.1 200") && body.is_empty(),
        "HEAD /: {h} / {body:.40}"
    );
    let (h, _) = head_of(a, &get("GET", "/app.js", a, "")).await?;
    ensure!(h.contains("content-type: text/javascript"), "{h}");
    let (h, _) = head_of(a, &get("GET", "/style.css", a, "")).await?;
    ensure!(h.contains("content-type: text/css"), "{h}");
    let (h, body) = head_of(a, &get("GET", "/health", a, "")).await?;
    ensure!(
        h.starts_with("http/1.1 200") && h.contains("application/json"),
        "{h}"
    );
    ensure!(body.contains("\"status\":\"ok\""), "{body}");
    let (h, body) = head_of(a, &get("GET", "/metrics", a, "")).await?;
    ensure!(h.starts_with("http/1.1 200") && body.contains("kupala_"), "{h}");
    let (h, _) = head_of(a, &get("GET", "/nope", a, "")).await?;
    ensure!(h.starts_with("http/1.1 404"), "{h}");
    let (h, _) = head_of(a, &get("POST", "/health", a, "Content-Length: 0\r\n")).await?;
    ensure!(h.starts_with("http/1.1 405"), "POST /health: {h}");
    let (h, _) = head_of(a, &get("POST", "/nope", a, "Content-Length: 0\r\n")).await?;
    ensure!(h.starts_with("http/1.1 405"), "POST /nope: {h}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_upgrade_or_an_oversized_head_is_refused_with_its_status() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let a = srv.addr;
    let (h, _) = head_of(a, &get("GET", "/ws", a, "")).await?;
    ensure!(h.starts_with("http/1.1 426"), "a plain GET /ws: {h}");
    let bad_version = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 8\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
    let (h, _) = head_of(a, &get("GET", "/ws", a, bad_version)).await?;
    ensure!(h.starts_with("http/1.1 400"), "version 8: {h}");
    let (h, _) = head_of(a, &get("POST", "/ws", a, "Content-Length: 0\r\n")).await?;
    ensure!(h.starts_with("http/1.1 405"), "POST /ws: {h}");
    let huge = format!("X-Filler: {}\r\n", "x".repeat(20 * 1024));
    let (h, _) = head_of(a, &get("GET", "/health", a, &huge)).await?;
    ensure!(h.starts_with("http/1.1 431"), "a 20 KiB head: {h}");
    let (h, _) = head_of(a, "NOT HTTP AT ALL\r\n\r\n").await?;
    ensure!(h.starts_with("http/1.1 400"), "garbage: {h}");
    // The server still serves WebSockets after all of that.
    let mut c = Client::connect(a).await?;
    let r = c
        .request(serde_json::json!({"op":"query","what":"portfolio","account":"*"}))
        .await?;
    ensure!(r["type"] == "result", "{r}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_websockets_hold_the_connection_cap_until_they_close() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.server.max_connections = 2).await?;
    let a = srv.addr;
    let first = Client::connect(a).await?;
    let _second = Client::connect(a).await?;
    // A third connection waits in the backlog: no answer while both are open.
    let mut third = TcpStream::connect(a).await?;
    third.write_all(get("GET", "/health", a, "").as_bytes()).await?;
    let mut buf = [0u8; 256];
    let early = tokio::time::timeout(Duration::from_millis(500), third.read(&mut buf)).await;
    ensure!(early.is_err(), "answered past the cap: {early:?}");
    drop(first);
    let n = tokio::time::timeout(Duration::from_secs(10), third.read(&mut buf)).await??;
    let answer = String::from_utf8_lossy(&buf[..n]);
    ensure!(answer.starts_with("HTTP/1.1 200"), "after a slot freed: {answer}");
    srv.stop().await?;
    Ok(())
}
