//! The server's guarantees under an attacker's or a hurried client's
//! traffic: no web page can drive a token-less loopback server (DNS
//! rebinding), every request gets exactly one answer in order, and a read
//! after an ack reflects the acked events (issue 11, defects 3, 7, 8).

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::support::{self, Client, server, trade};

/// How long one expected answer may take.
const WAIT: Duration = Duration::from_secs(10);

fn upgrade(host: &str, origin: Option<&str>) -> String {
    let origin = origin.map(|o| format!("Origin: {o}\r\n")).unwrap_or_default();
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n"
    )
}

/// The status line of a raw request's answer (the request is sent whole,
/// then the answer read until the server closes, or its first line).
async fn status(addr: SocketAddr, request: &str) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = TcpStream::connect(addr).await?;
    s.write_all(request.as_bytes()).await?;
    let mut out = Vec::new();
    let mut chunk = [0u8; 1024];
    while !out.windows(2).any(|w| w == b"\r\n") {
        let n = tokio::time::timeout(WAIT, s.read(&mut chunk)).await??;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&out);
    Ok(text.lines().next().unwrap_or("").to_owned())
}

fn get(path: &str, host: Option<&str>) -> String {
    let host = host.map(|h| format!("Host: {h}\r\n")).unwrap_or_default();
    format!("GET {path} HTTP/1.1\r\n{host}\r\n")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_less_server_serves_only_loopback_hosts() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let port = srv.addr.port();
    let evil = format!("rebind.evil.example:{port}");
    let evil_origin = format!("http://{evil}");
    // A rebinding page: its Host and Origin agree, and name the attacker.
    let s = status(srv.addr, &upgrade(&evil, Some(&evil_origin))).await?;
    ensure!(s.starts_with("HTTP/1.1 403"), "rebinding handshake: {s}");
    let s = status(srv.addr, &upgrade(&evil, None)).await?;
    ensure!(
        s.starts_with("HTTP/1.1 403"),
        "rebinding handshake, no Origin: {s}"
    );
    for path in ["/", "/health", "/metrics", "/app.js", "/nope"] {
        let s = status(srv.addr, &get(path, Some(&evil))).await?;
        ensure!(s.starts_with("HTTP/1.1 403"), "GET {path} with Host {evil}: {s}");
        let s = status(srv.addr, &get(path, None)).await?;
        ensure!(s.starts_with("HTTP/1.1 403"), "GET {path} without Host: {s}");
    }
    // Loopback names on another port, or without one, are someone else.
    for host in [
        format!("127.0.0.1:{}", port ^ 1),
        "localhost".to_owned(),
        "localhost.evil.example".to_owned(),
    ] {
        let s = status(srv.addr, &get("/health", Some(&host))).await?;
        ensure!(s.starts_with("HTTP/1.1 403"), "GET /health with Host {host}: {s}");
    }
    // The dashboard's own origins work.
    for host in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        format!("LocalHost:{port}"),
        format!("[::1]:{port}"),
    ] {
        let s = status(srv.addr, &get("/", Some(&host))).await?;
        ensure!(s.starts_with("HTTP/1.1 200"), "GET / with Host {host}: {s}");
        let s = status(srv.addr, &get("/health", Some(&host))).await?;
        ensure!(s.starts_with("HTTP/1.1 200"), "GET /health with Host {host}: {s}");
        let origin = format!("http://{host}");
        let s = status(srv.addr, &upgrade(&host, Some(&origin))).await?;
        ensure!(s.starts_with("HTTP/1.1 101"), "handshake from {origin}: {s}");
    }
    // A loopback Host with a foreign page's Origin is still refused.
    let s = status(
        srv.addr,
        &upgrade(&format!("localhost:{port}"), Some(&evil_origin)),
    )
    .await?;
    ensure!(s.starts_with("HTTP/1.1 403"), "cross-site handshake: {s}");
    srv.stop().await?;

    // Configured origins are served under their own host name (a proxy).
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.server.allowed_origins = vec!["https://kupala.example".into()];
    })
    .await?;
    let s = status(srv.addr, &get("/health", Some("kupala.example"))).await?;
    ensure!(s.starts_with("HTTP/1.1 200"), "allowed origin's host: {s}");
    let s = status(
        srv.addr,
        &upgrade("kupala.example", Some("https://kupala.example")),
    )
    .await?;
    ensure!(s.starts_with("HTTP/1.1 101"), "allowed origin: {s}");
    let s = status(srv.addr, &upgrade(&evil, Some("https://kupala.example"))).await?;
    ensure!(
        s.starts_with("HTTP/1.1 403"),
        "allowed origin behind an unlisted host: {s}"
    );
    let s = status(srv.addr, &get("/health", Some(&evil))).await?;
    ensure!(s.starts_with("HTTP/1.1 403"), "unlisted host: {s}");
    srv.stop().await?;

    // With tokens, any Host is served (a client must authenticate anyway).
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let s = status(srv.addr, &get("/health", Some(&evil))).await?;
    ensure!(s.starts_with("HTTP/1.1 200"), "tokens, foreign Host: {s}");
    let s = status(srv.addr, &upgrade(&evil, Some(&evil_origin))).await?;
    ensure!(
        s.starts_with("HTTP/1.1 101"),
        "tokens, same-origin handshake: {s}"
    );
    srv.stop().await?;
    Ok(())
}

/// A raw WebSocket whose requests can be sent in one write.
struct Pipe {
    ws: WebSocketStream<TcpStream>,
}

impl Pipe {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await?;
        Ok(Self { ws })
    }

    async fn send_all(&mut self, reqs: &[Value]) -> Result<()> {
        for r in reqs {
            self.ws.feed(Message::text(r.to_string())).await?;
        }
        Ok(self.ws.flush().await?)
    }

    /// The next message that is not a delta.
    async fn answer(&mut self) -> Result<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no answer within 10 s")?
                .context("connection closed")??;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str())?;
                if v["type"] != "delta" {
                    return Ok(v);
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_each_get_one_answer_in_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.server.max_msgs_per_sec = 100_000).await?;
    let mut admin = Client::connect(srv.addr).await?;
    let instrument = json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"});
    let ack = admin
        .submit(vec![instrument, trade("t1", "A1", "AAPL", "buy", "1", "10")])
        .await?;
    ensure!(ack["type"] == "ack", "{ack}");
    let mut p = Pipe::connect(srv.addr).await?;
    for round in 0..200 {
        let base = round * 10;
        let sub = |id| json!({"op":"subscribe","id":id,"channel":"positions","account":"A1"});
        let unsub = json!({"op":"unsubscribe","id":base + 3,"channel":"positions","account":"A1"});
        p.send_all(&[sub(base + 1), sub(base + 2), unsub]).await?;
        for (id, kind) in [
            (base + 1, "snapshot"),
            (base + 2, "snapshot"),
            (base + 3, "result"),
        ] {
            let a = p
                .answer()
                .await
                .with_context(|| format!("round {round}: waiting for {id}"))?;
            ensure!(
                a["id"] == json!(id) && a["type"] == kind,
                "round {round}: expected {kind} {id}, got {a}"
            );
        }
    }
    srv.stop().await?;

    // Over the rate limit, the refusals still carry their requests' ids.
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.server.max_msgs_per_sec = 5).await?;
    let mut p = Pipe::connect(srv.addr).await?;
    let reqs: Vec<Value> = (0..8)
        .map(|i| json!({"op":"query","id":i,"what":"portfolio"}))
        .collect();
    p.send_all(&reqs).await?;
    let mut limited = 0;
    for i in 0..8 {
        let a = p.answer().await?;
        ensure!(a["id"] == json!(i), "answer {i}: {a}");
        limited += usize::from(a["code"] == "rate_limited");
    }
    ensure!(limited >= 2, "{limited} rate_limited answers");
    srv.stop().await?;
    Ok(())
}

/// Rounds of trades on new accounts: every query right after an ack, on
/// the same connection, sees every account acked so far.
async fn reads_follow_acks(sync: &str) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.store.sync = sync.into();
        c.engine.shards = 2;
    })
    .await?;
    let mut c = Client::connect(srv.addr).await?;
    let instruments: Vec<Value> = (0..8)
        .map(|i| json!({"type":"instrument","id":format!("I{i}"),"currency":"USD","multiplier":"1"}))
        .collect();
    let ack = c.submit(instruments).await?;
    ensure!(ack["type"] == "ack", "{ack}");
    let (rounds, per_round) = (40, 250);
    for round in 0..rounds {
        let events: Vec<Value> = (0..per_round)
            .map(|i| {
                let n = round * per_round + i;
                trade(
                    &format!("t{n}"),
                    &format!("N{n:06}"),
                    &format!("I{}", n % 8),
                    "buy",
                    "1",
                    "10",
                )
            })
            .collect();
        let ack = c.submit(events).await?;
        ensure!(ack["type"] == "ack", "{ack}");
        let want = (round + 1) * per_round;
        let r = c.request(json!({"op":"query","what":"portfolio"})).await?;
        let seen = r["data"].as_array().map_or(0, Vec::len);
        ensure!(
            seen == want,
            "{sync}: round {round}: the query after the ack saw {seen} of {want} accounts"
        );
        // The last account's position too, via a fresh subscription.
        let last = format!("N{:06}", want - 1);
        let snap = c
            .request(json!({"op":"subscribe","channel":"positions","account":last}))
            .await?;
        ensure!(
            snap["type"] == "snapshot" && snap["data"].as_array().is_some_and(|d| d.len() == 1),
            "{sync}: round {round}: snapshot after the ack: {snap}"
        );
        let r = c
            .request(json!({"op":"unsubscribe","channel":"positions","account":last}))
            .await?;
        ensure!(r["type"] == "result", "{r}");
    }
    // A resubmission (every id seen: no seq, no delta) is acked only once
    // the originals are; a read after that ack reflects them too.
    let mut other = Client::connect(srv.addr).await?;
    for round in 0..20 {
        let events: Vec<Value> = (0..per_round)
            .map(|i| {
                trade(
                    &format!("d{round}-{i}"),
                    &format!("D{round:03}-{i:03}"),
                    "I0",
                    "buy",
                    "1",
                    "10",
                )
            })
            .collect();
        let first = json!({"op":"submit","id":"first","events":events.clone()});
        other.send_text(&first.to_string()).await?;
        let ack = c.submit(events).await?;
        ensure!(ack["type"] == "ack", "{ack}");
        let r = c.request(json!({"op":"query","what":"positions","account":format!("D{round:03}-{:03}", per_round - 1)})).await?;
        let seen = r["data"].as_array().map_or(0, Vec::len);
        ensure!(
            seen == 1,
            "{sync}: round {round}: after a resubmission's ack: {r}"
        );
        let a = other.next_reply().await?;
        ensure!(a["type"] == "ack", "{a}");
    }
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_an_ack_sees_the_acked_events_sync_always() -> Result<()> {
    reads_follow_acks("always").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_after_an_ack_sees_the_acked_events_sync_periodic() -> Result<()> {
    reads_follow_acks("periodic").await
}
