//! The live feeds inside `kupala serve`: the TCP JSON Lines endpoint, the
//! `feed` role on the WebSocket and the market-data refresher with its
//! `stale` status, end to end over real sockets.

#[allow(dead_code)] // the refresher's own tests use the rest of it
#[path = "../../feeds/tests/support/chart_server.rs"]
mod chart_server;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use super::support::{self, Client, server, tick, trade};
use chart_server::{ChartServer, Reply, chart_json};

/// The position of `account` in `instrument` from a positions result.
fn position<'a>(r: &'a Value, account: &str, instrument: &str) -> Option<&'a Value> {
    r["data"]
        .as_array()?
        .iter()
        .find(|p| p["account"] == account && p["instrument"] == instrument)
}

async fn admin(addr: std::net::SocketAddr) -> Result<Client> {
    let mut c = Client::connect(addr).await?;
    let r = c.request(json!({"op":"auth","token":support::ADMIN})).await?;
    ensure!(r["type"] == "result", "{r}");
    Ok(c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_feed_lines_reach_the_engine_and_bad_lines_are_answered() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.auth.tokens = support::tokens();
        c.feeds.tcp.listen = "127.0.0.1:0".into();
        c.feeds.tcp.max_line_bytes = 1024;
    })
    .await?;
    let tcp = srv
        .tcp_feed
        .ok_or_else(|| anyhow::anyhow!("no TCP feed address"))?;
    let mut admin = admin(srv.addr).await?;
    let ack = admin
        .submit(vec![
            json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
            trade("t1", "A1", "AAPL", "buy", "10", "100"),
        ])
        .await?;
    ensure!(ack["type"] == "ack", "{ack}");

    let stream = TcpStream::connect(tcp).await?;
    let (read, mut write) = stream.into_split();
    let mut replies = BufReader::new(read).lines();
    let mut text = String::new();
    text.push_str(&format!("{}\n", tick("AAPL", "101.5")));
    text.push_str("{not json\n");
    text.push_str(&format!("{}\n", "x".repeat(2000)));
    text.push_str(&format!("{}\n", trade("t2", "A1", "AAPL", "buy", "5", "102")));
    text.push_str(
        "{\"type\":\"tick\",\"instrument\":\"AAPL\",\"price\":\"1e5\",\"ts\":\"2026-11-30T14:30:00Z\"}\n",
    );
    write.write_all(text.as_bytes()).await?;
    write.write_all(b"\xff\xfe\n").await?;
    write
        .write_all(format!("{}\n", tick("AAPL", "103.25")).as_bytes())
        .await?;
    write.flush().await?;
    let mut errors = Vec::new();
    for _ in 0..4 {
        let line = tokio::time::timeout(std::time::Duration::from_secs(10), replies.next_line()).await??;
        errors.push(line.unwrap_or_default());
    }
    for (n, want) in [(2, "error 2:"), (3, "error 3:"), (5, "error 5:"), (6, "error 6:")] {
        ensure!(
            errors.iter().any(|e| e.starts_with(want)),
            "no reply for line {n}: {errors:?}"
        );
    }
    // The good lines reach the engine; the connection stayed open for the last one.
    let r = admin
        .poll(json!({"op":"query","what":"positions","account":"A1"}), |r| {
            position(r, "A1", "AAPL").is_some_and(|p| p["qty"] == "15" && p["mark"] == "103.25")
        })
        .await?;
    ensure!(position(&r, "A1", "AAPL").is_some(), "{r}");
    let feeds = admin.request(json!({"op":"query","what":"feeds"})).await?;
    ensure!(feeds["data"]["tcp"]["accepted"] == 3, "{feeds}");
    ensure!(feeds["data"]["tcp"]["rejected"] == 4, "{feeds}");
    let metrics = support::http_get(srv.addr, "/metrics").await?;
    ensure!(
        metrics.contains("kupala_tcp_feed_lines_total{outcome=\"accepted\"} 3"),
        "{metrics}"
    );
    // The TCP feed delivered just now: its data age is a few seconds at most.
    let age: f64 = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kupala_feed_data_age_seconds{feed=\"tcp\"} "))
        .context("no TCP feed data age")?
        .parse()?;
    ensure!((0.0..30.0).contains(&age), "TCP feed data age {age}");
    drop(write);
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feed_role_submits_are_queued_and_limited_to_market_data() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = admin(srv.addr).await?;
    admin
        .submit(vec![
            json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
            trade("t1", "A1", "AAPL", "buy", "10", "100"),
        ])
        .await?;
    let mut feed = Client::connect(srv.addr).await?;
    let r = feed.request(json!({"op":"auth","token":support::FEEDER})).await?;
    ensure!(r["data"]["role"] == "feed", "{r}");

    let ticks: Vec<Value> = ["101", "102", "103"].iter().map(|p| tick("AAPL", p)).collect();
    let r = feed.request(json!({"op":"submit","events":ticks})).await?;
    ensure!(r["type"] == "result" && r["data"]["queued"] == 3, "{r}");
    ensure!(r["data"]["conflated"].as_u64().is_some_and(|c| c <= 2), "{r}");
    let r = feed
        .request(json!({"op":"submit","events":[trade("t2", "A1", "AAPL", "sell", "4", "103")]}))
        .await?;
    ensure!(r["data"]["queued"] == 1, "{r}");
    // Not its account, not market data, not an event: refused whole.
    for (events, code) in [
        (json!([trade("t3", "A2", "AAPL", "buy", "1", "1")]), "forbidden"),
        (
            json!([tick("AAPL", "104"), {"type":"eod","date":"2026-11-30"}]),
            "forbidden",
        ),
        (
            json!([{"type":"split","instrument":"AAPL","ratio":"2","ts":"2026-11-30T14:30:00Z"}]),
            "forbidden",
        ),
        (
            json!([{"type":"tick","instrument":"AAPL","price":"abc","ts":"2026-11-30T14:30:00Z"}]),
            "bad_request",
        ),
    ] {
        let r = feed.request(json!({"op":"submit","events":events})).await?;
        ensure!(r["code"] == code, "{events} -> {r}");
    }
    let r = admin
        .poll(json!({"op":"query","what":"positions","account":"A1"}), |r| {
            position(r, "A1", "AAPL").is_some_and(|p| p["qty"] == "6" && p["mark"] == "103")
        })
        .await?;
    ensure!(position(&r, "A1", "AAPL").is_some(), "{r}");
    // The tick after the refused batch never arrived.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let r = admin
        .request(json!({"op":"query","what":"positions","account":"A1"}))
        .await?;
    ensure!(
        position(&r, "A1", "AAPL").is_some_and(|p| p["mark"] == "103"),
        "{r}"
    );
    srv.stop().await?;
    Ok(())
}

/// The refresher fetches from a local chart server; while the server fails,
/// the symbol turns `stale` (query, /health, /metrics); it recovers after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresher_prices_reach_the_engine_and_staleness_is_visible() -> Result<()> {
    let failing = Arc::new(AtomicBool::new(false));
    let chart = {
        let failing = Arc::clone(&failing);
        // 2020-04-24, a past trading day: its close is the EOD mark.
        let rows = vec![(1_587_735_000, "2836.74".to_owned())];
        ChartServer::start(move |_, _| {
            if failing.load(Ordering::SeqCst) {
                Reply::Status(500)
            } else {
                Reply::Json(chart_json("^GSPC", -14_400, &rows))
            }
        })
    };
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        let r = &mut c.feeds.refresher;
        r.endpoint = chart.endpoint();
        r.period_secs = 1;
        r.backoff_base_ms = 5;
        r.backoff_max_ms = 50;
        r.stale_after = 2;
        r.symbols = vec![kupala::live_feeds::RefreshSymbol {
            symbol: "^GSPC".into(),
            instrument: Some("SPX".into()),
            interval: "1d".into(),
            range: "5d".into(),
        }];
    })
    .await?;
    let mut admin = admin(srv.addr).await?;
    admin
        .submit(vec![
            json!({"type":"instrument","id":"SPX","currency":"USD","multiplier":"1"}),
            trade("s1", "A1", "SPX", "buy", "2", "2800"),
        ])
        .await?;
    admin
        .poll(json!({"op":"query","what":"positions","account":"A1"}), |r| {
            position(r, "A1", "SPX").is_some_and(|p| p["mark"] == "2836.74")
        })
        .await?;
    let stale = |r: &Value| r["data"]["refresher"]["symbols"][0]["stale"].clone();
    let r = admin.request(json!({"op":"query","what":"feeds"})).await?;
    ensure!(stale(&r) == false && r["data"]["stale"] == json!([]), "{r}");

    failing.store(true, Ordering::SeqCst);
    let r = admin
        .poll(json!({"op":"query","what":"feeds"}), |r| stale(r) == true)
        .await?;
    ensure!(r["data"]["stale"] == json!(["SPX"]), "{r}");
    let health: Value = serde_json::from_str(&support::http_get(srv.addr, "/health").await?)?;
    ensure!(health["stale_instruments"] == json!(["SPX"]), "{health}");
    let metrics = support::http_get(srv.addr, "/metrics").await?;
    ensure!(
        metrics.contains("kupala_refresher_stale{symbol=\"^GSPC\",instrument=\"SPX\"} 1"),
        "{metrics}"
    );
    failing.store(false, Ordering::SeqCst);
    admin
        .poll(json!({"op":"query","what":"feeds"}), |r| stale(r) == false)
        .await?;
    srv.stop().await?;
    Ok(())
}
