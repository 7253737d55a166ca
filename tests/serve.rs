//! `kupala serve` end to end, over real sockets on 127.0.0.1:0: ordering,
//! durability, crash recovery, ACLs, bad input, slow clients, shutdown.
//!
//! Most tests start the server in-process (`kupala::serve::start`), each on
//! its own port and store; the crash tests run the `kupala` binary.

#[path = "serve/support.rs"]
mod support;

#[path = "serve/feeds.rs"]
mod feeds;

#[path = "serve/keepalive.rs"]
mod keepalive;

#[path = "serve/analysis.rs"]
mod analysis;

#[path = "serve/restart.rs"]
mod restart;

#[path = "serve/guarantees.rs"]
mod guarantees;

#[path = "serve/store_failures.rs"]
mod store_failures;

#[path = "serve/answers.rs"]
mod answers;

#[path = "serve/as_of.rs"]
mod as_of;

#[path = "serve/ranges.rs"]
mod ranges;

#[path = "serve/interest.rs"]
mod interest;

#[path = "serve/health.rs"]
mod health;

#[path = "serve/batch.rs"]
mod batch;

use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use serde_json::{Value, json};

use support::{Client, accounts_of, server, tick, trade};

/// Instruments, a few trades and ticks for A1 (and A2).
async fn seed(c: &mut Client) -> Result<Vec<Option<u64>>> {
    let events = vec![
        json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
        json!({"type":"instrument","id":"MSFT","currency":"USD","multiplier":"1"}),
        trade("t1", "A1", "AAPL", "buy", "100", "189.50"),
        trade("t2", "A1", "MSFT", "buy", "10", "400"),
        trade("t3", "A2", "AAPL", "buy", "5", "190"),
        tick("AAPL", "190.10"),
    ];
    let ack = c.submit(events).await?;
    ensure!(ack["type"] == "ack", "{ack}");
    Ok(serde_json::from_value(ack["seq"].clone())?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_then_deltas_in_order_without_gaps() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut admin = Client::connect(srv.addr).await?;
    seed(&mut admin).await?;
    let mut c = Client::connect(srv.addr).await?;
    let snap = c
        .request(json!({"op":"subscribe","channel":"positions","account":"A1"}))
        .await?;
    ensure!(
        snap["type"] == "snapshot" && snap["channel"] == "positions",
        "{snap}"
    );
    let rows = snap["data"].as_array().context("data")?;
    ensure!(rows.len() == 2, "{snap}");
    ensure!(
        rows[0]["instrument"] == "AAPL" && rows[0]["mark"] == "190.1",
        "{snap}"
    );
    let start = snap["seq"].as_u64().context("seq")?;
    // 40 ticks, one submit each: every one reprices A1's AAPL position.
    for i in 0..40 {
        admin
            .submit(vec![tick("AAPL", &format!("{}.{:02}", 191 + i / 10, i))])
            .await?;
    }
    let mut seq = start;
    let mut last_mark = String::new();
    while last_mark != "194.39" {
        let d = c.next_update().await?;
        ensure!(d["type"] == "delta" && d["id"] == snap["id"], "{d}");
        let s = d["seq"].as_u64().context("seq")?;
        ensure!(s == seq + 1, "gap: {seq} then {s}");
        seq = s;
        ensure!(d["data"]["account"] == "A1", "{d}");
        if d["data"]["instrument"] == "AAPL" {
            last_mark = d["data"]["mark"].as_str().unwrap_or("").to_owned();
        }
    }
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ack_comes_after_durability_and_lists_each_seq() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.store.sync = "periodic".into();
        c.store.sync_interval_ms = 50;
    })
    .await?;
    let mut c = Client::connect(srv.addr).await?;
    let seqs = seed(&mut c).await?;
    ensure!(seqs.len() == 6 && seqs.iter().all(Option::is_some), "{seqs:?}");
    let last = seqs.iter().flatten().max().copied().unwrap_or(0);
    let health = support::http_get(srv.addr, "/health").await?;
    let health: Value = serde_json::from_str(&health)?;
    ensure!(health["durable_seq"].as_u64() >= Some(last), "{health} vs {last}");
    // A repeated trade id is acknowledged with null and changes nothing.
    let ack = c
        .submit(vec![trade("t1", "A1", "AAPL", "buy", "100", "189.50")])
        .await?;
    ensure!(ack["seq"] == json!([null]), "{ack}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn graceful_stop_closes_clients_with_a_reason_and_restart_resumes() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut c = Client::connect(srv.addr).await?;
    seed(&mut c).await?;
    let before = c
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    let mut watcher = Client::connect(srv.addr).await?;
    watcher
        .request(json!({"op":"subscribe","channel":"portfolio","account":"*"}))
        .await?;
    let stopping = tokio::spawn(srv.stop());
    let close = watcher.wait_close().await?;
    ensure!(close == (1001, "server shutting down".to_owned()), "{close:?}");
    stopping.await??;
    let srv = server(dir.path(), |_| {}).await?;
    ensure!(
        srv.recovery.snapshot.is_some() && srv.recovery.replayed == 0,
        "{:?}",
        srv.recovery
    );
    let mut c = Client::connect(srv.addr).await?;
    let after = c
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    ensure!(before["data"] == after["data"], "{before}\n{after}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_holds_on_every_channel_and_query() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.auth.tokens = support::tokens();
        let mut targets = std::collections::BTreeMap::new();
        let weights = |w: &[(&str, &str)]| w.iter().map(|&(i, x)| (i.to_owned(), x.to_owned())).collect();
        targets.insert("A1".to_owned(), weights(&[("AAPL", "0.5"), ("MSFT", "0.5")]));
        targets.insert("A2".to_owned(), weights(&[("AAPL", "1")]));
        c.rebalance.targets = targets;
    })
    .await?;
    let mut admin = Client::connect(srv.addr).await?;
    let r = admin.request(json!({"op":"query","what":"positions"})).await?;
    ensure!(r["code"] == "unauthorized", "{r}");
    let r = admin
        .request(json!({"op":"auth","token":"wrong-token-0000000"}))
        .await?;
    ensure!(r["code"] == "unauthorized", "{r}");
    let r = admin.request(json!({"op":"auth","token":support::ADMIN})).await?;
    ensure!(r["data"]["role"] == "admin", "{r}");
    seed(&mut admin).await?;
    admin
        .submit(vec![trade("t4", "A2", "MSFT", "buy", "3", "401")])
        .await?;

    let mut reader = Client::connect(srv.addr).await?;
    let r = reader
        .request(json!({"op":"subscribe","channel":"positions","account":"*"}))
        .await?;
    ensure!(r["code"] == "unauthorized", "{r}");
    let r = reader
        .request(json!({"op":"auth","token":support::READER}))
        .await?;
    ensure!(r["data"] == json!({"role":"read","accounts":["A1"]}), "{r}");
    for req in [
        json!({"op":"subscribe","channel":"positions","account":"A2"}),
        json!({"op":"subscribe","channel":"portfolio","account":"A2"}),
        json!({"op":"query","what":"positions","account":"A2"}),
        json!({"op":"query","what":"portfolio","account":"A2"}),
        json!({"op":"query","what":"eod","account":"A2"}),
        json!({"op":"query","what":"closed","account":"A2"}),
        json!({"op":"query","what":"proposals","account":"A2"}),
        json!({"op":"submit","events":[trade("r1", "A1", "AAPL", "buy", "1", "1")]}),
    ] {
        let r = reader.request(req.clone()).await?;
        ensure!(r["code"] == "forbidden", "{req} -> {r}");
    }
    let pos = reader
        .request(json!({"op":"subscribe","channel":"positions","account":"*"}))
        .await?;
    let port = reader
        .request(json!({"op":"subscribe","channel":"portfolio","account":"*"}))
        .await?;
    let ticks = reader
        .request(json!({"op":"subscribe","channel":"ticks","instrument":"MSFT"}))
        .await?;
    ensure!(
        accounts_of(&pos["data"]) == ["A1"] && accounts_of(&port["data"]) == ["A1"],
        "{pos}\n{port}"
    );
    ensure!(ticks["type"] == "snapshot", "{ticks}");
    for q in ["positions", "portfolio"] {
        let r = reader.request(json!({"op":"query","what":q})).await?;
        ensure!(accounts_of(&r["data"]) == ["A1"], "{q}: {r}");
    }
    // Changes to A2 and A1; the reader sees only A1's, on every channel.
    admin
        .submit(vec![trade("t5", "A2", "AAPL", "sell", "5", "191")])
        .await?;
    admin
        .submit(vec![
            trade("t6", "A1", "MSFT", "sell", "10", "402"),
            tick("MSFT", "403"),
        ])
        .await?;
    let mut seen = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while !(seen.contains("positions/MSFT") && seen.contains("portfolio") && seen.contains("ticks")) {
        ensure!(Instant::now() < deadline, "missing updates: {seen:?}");
        let d = reader.next_update().await?;
        let ch = d["channel"].as_str().unwrap_or("");
        if ch == "ticks" {
            seen.insert("ticks".to_owned());
            continue;
        }
        ensure!(d["data"]["account"] == "A1", "leak: {d}");
        let inst = d["data"]["instrument"]
            .as_str()
            .map(|i| format!("/{i}"))
            .unwrap_or_default();
        seen.insert(format!("{ch}{inst}"));
    }
    // EOD (admin only): A1's MSFT and A2's AAPL are flat, so both close.
    let mut trader = Client::connect(srv.addr).await?;
    trader
        .request(json!({"op":"auth","token":support::TRADER}))
        .await?;
    let r = trader
        .request(json!({"op":"submit","events":[{"type":"eod","date":"2026-11-30"}]}))
        .await?;
    ensure!(r["code"] == "forbidden", "{r}");
    let r = trader
        .request(json!({"op":"submit","events":[trade("x1", "A2", "AAPL", "buy", "1", "1")]}))
        .await?;
    ensure!(r["code"] == "forbidden", "{r}");
    let r = trader
        .submit(vec![trade("x2", "A1", "AAPL", "buy", "1", "190")])
        .await?;
    ensure!(r["type"] == "ack", "{r}");
    admin
        .submit(vec![json!({"type":"eod","date":"2026-11-30"})])
        .await?;
    for (what, field) in [
        ("eod", "positions"),
        ("closed", "positions"),
        ("proposals", "proposals"),
    ] {
        let all = admin
            .poll(json!({"op":"query","what":what}), |r| {
                accounts_of(&r["data"][field]).len() == 2
            })
            .await?;
        ensure!(accounts_of(&all["data"][field]) == ["A1", "A2"], "{what}: {all}");
        let mine = reader.request(json!({"op":"query","what":what})).await?;
        ensure!(accounts_of(&mine["data"][field]) == ["A1"], "{what}: {mine}");
    }
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_inputs_get_an_error_code_and_the_connection_stays_open() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.server.max_frame_bytes = 4096;
        c.server.max_submit_events = 6;
    })
    .await?;
    let mut c = Client::connect(srv.addr).await?;
    seed(&mut c).await?;
    let ts = "2026-11-30T14:30:00Z";
    let good = trade("ok-1", "B1", "AAPL", "buy", "1", "190");
    let cases: Vec<(String, &str)> = vec![
        ("{".into(), "bad_request"),
        ("[1,2]".into(), "bad_request"),
        ("\"op\"".into(), "bad_request"),
        (r#"{"id":1}"#.into(), "bad_request"),
        (r#"{"op":"fly","id":2}"#.into(), "unknown_op"),
        (r#"{"op":7,"id":3}"#.into(), "bad_request"),
        (r#"{"op":"query","id":{"a":1},"what":"positions"}"#.into(), "bad_request"),
        (r#"{"op":"subscribe","id":4,"channel":"nope","account":"A1"}"#.into(), "bad_request"),
        (r#"{"op":"subscribe","id":5,"channel":"positions"}"#.into(), "bad_request"),
        (r#"{"op":"subscribe","id":6,"channel":"ticks","account":"A1"}"#.into(), "bad_request"),
        (r#"{"op":"subscribe","id":7,"channel":"positions","account":"A1","min_interval_ms":-5}"#.into(), "bad_request"),
        (r#"{"op":"subscribe","id":8,"channel":"portfolio","account":"A1","min_change":"abc"}"#.into(), "bad_request"),
        (r#"{"op":"submit","id":9,"events":[]}"#.into(), "bad_request"),
        (r#"{"op":"submit","id":10,"events":"x"}"#.into(), "bad_request"),
        (json!({"op":"submit","id":11,"events":[trade("b1", "B1", "AAPL", "buy", "0", "190")]}).to_string(), "bad_request"),
        (json!({"op":"submit","id":12,"events":[{"type":"bogus"}]}).to_string(), "bad_request"),
        (json!({"op":"submit","id":13,"events":[{"type":"tick","ts":ts,"instrument":"AAPL","price":190.5}]}).to_string(), "bad_request"),
        (json!({"op":"submit","id":14,"events":[good, {"type":"trade","ts":ts,"account":"B1","instrument":"AAPL","side":"hold","qty":"1","price":"1"}]}).to_string(), "bad_request"),
        (json!({"op":"submit","id":15,"events":[trade("ok-2", "B1", "MSFT", "buy", "1", "1"), {"type":"instrument","id":"AAPL","currency":"EUR","multiplier":"1"}]}).to_string(), "bad_request"),
        (json!({"op":"submit","id":16,"events":vec![tick("AAPL", "1"); 7]}).to_string(), "too_large"),
        (format!(r#"{{"op":"query","id":17,"what":"positions","pad":"{}"}}"#, "x".repeat(5000)), "too_large"),
        (r#"{"op":"query","id":18,"what":"nope"}"#.into(), "bad_request"),
        (r#"{"op":"query","id":19,"what":"positions","bogus":1}"#.into(), "bad_request"),
        (r#"{"op":"query","id":20,"what":"eod","date":"2026-13-45"}"#.into(), "bad_request"),
        (r#"{"op":"query","id":21,"what":"eod","date":"2030-01-01"}"#.into(), "not_found"),
        (r#"{"op":"query","id":22,"what":"analysis"}"#.into(), "not_found"),
        (r#"{"op":"unsubscribe","id":23,"channel":"positions","account":"ZZ"}"#.into(), "not_found"),
    ];
    ensure!(cases.len() >= 15);
    for (text, code) in &cases {
        c.send_text(text).await?;
        let r = c.next_reply().await?;
        ensure!(r["type"] == "error" && r["code"] == *code, "{text} -> {r}");
        let sent: Option<Value> = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("id").cloned());
        if let Some(id) = sent.filter(|i| i.is_number()) {
            ensure!(r["id"] == id, "{text} -> {r}: the id is not echoed");
        }
    }
    c.send_binary(vec![1, 2, 3]).await?;
    let r = c.next_reply().await?;
    ensure!(r["code"] == "bad_request", "{r}");
    // Nothing of the refused batches was applied, and the connection works.
    let r = c
        .request(json!({"op":"query","what":"positions","account":"B1"}))
        .await?;
    ensure!(r["type"] == "result" && r["data"] == json!([]), "{r}");
    // Past 4 × max_frame_bytes the WebSocket layer cuts the connection (1009).
    let mut big = Client::connect(srv.addr).await?;
    big.send_text(&"x".repeat(5 * 4096)).await?;
    let close = big.wait_close().await?;
    ensure!(close == (1009, "message too big".to_owned()), "{close:?}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_limit_answers_then_recovers() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.server.max_msgs_per_sec = 5).await?;
    let mut c = Client::connect(srv.addr).await?;
    for i in 0..8 {
        c.send_text(&json!({"op":"query","id":i,"what":"portfolio"}).to_string())
            .await?;
    }
    let mut limited = 0;
    for _ in 0..8 {
        let r = c.next_reply().await?;
        limited += usize::from(r["code"] == "rate_limited");
    }
    ensure!(limited >= 2, "{limited} rate_limited answers");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = c.request(json!({"op":"query","what":"portfolio"})).await?;
    ensure!(r["type"] == "result", "{r}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttled_subscription_sends_the_latest_at_most_once_per_interval() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut admin = Client::connect(srv.addr).await?;
    seed(&mut admin).await?;
    let mut c = Client::connect(srv.addr).await?;
    let sub = json!({"op":"subscribe","channel":"portfolio","account":"A1","min_interval_ms":300,"min_change":"50"});
    c.request(sub).await?;
    // 20 ticks of a cent each move A1's P&L by $1 each: under min_change.
    for i in 0..20 {
        admin
            .submit(vec![tick("AAPL", &format!("190.{:02}", 11 + i))])
            .await?;
    }
    ensure!(
        c.try_update(Duration::from_millis(700)).await?.is_none(),
        "small moves were sent"
    );
    // Two big moves: the first goes out at once (the interval has passed),
    // the second is held until the interval since the first has passed.
    let t0 = Instant::now();
    admin.submit(vec![tick("AAPL", "195")]).await?;
    admin.submit(vec![tick("AAPL", "200")]).await?;
    let mut d = c.next_update().await?;
    let first = Instant::now();
    if d["data"]["unrealized_pnl"] != "1050" {
        d = c.next_update().await?;
        let gap = first.elapsed();
        ensure!(
            gap >= Duration::from_millis(250),
            "throttled updates {gap:?} apart"
        );
    }
    ensure!(d["data"]["unrealized_pnl"] == "1050", "{d}");
    ensure!(
        c.try_update(Duration::from_millis(500)).await?.is_none(),
        "more updates than needed"
    );
    ensure!(t0.elapsed() < Duration::from_secs(2));
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_client_does_not_delay_fifty_others() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.server.client_queue = 64;
        c.server.slow_client_secs = 2;
    })
    .await?;
    let mut admin = Client::connect(srv.addr).await?;
    let instruments: Vec<String> = (0..100).map(|i| format!("S{i:03}")).collect();
    let opening: Vec<Value> = instruments
        .iter()
        .map(|i| trade(&format!("o-{i}"), "A1", i, "buy", "10", "100"))
        .collect();
    admin.submit(opening).await?;
    // The stalled client: a tiny receive buffer, subscribed to everything,
    // never reading again.
    let mut stalled = Client::connect_small_buffer(srv.addr).await?;
    stalled
        .send_text(&json!({"op":"subscribe","channel":"positions","account":"*"}).to_string())
        .await?;
    let mut others = Vec::new();
    for _ in 0..50 {
        let mut c = Client::connect(srv.addr).await?;
        c.request(json!({"op":"subscribe","channel":"portfolio","account":"A1"}))
            .await?;
        others.push(c);
    }
    let mut last = 0;
    let started = Instant::now();
    for round in 1..=30 {
        let ticks: Vec<Value> = instruments
            .iter()
            .map(|i| tick(i, &format!("{}.{round:02}", 100)))
            .collect();
        let ack = admin.submit(ticks).await?;
        last = ack["seq"]
            .as_array()
            .and_then(|s| s.last())
            .and_then(Value::as_u64)
            .unwrap_or(0);
    }
    let acked = Instant::now();
    let mut waits = Vec::new();
    for mut c in others {
        waits.push(tokio::spawn(async move {
            loop {
                let d = c.next_update().await?;
                if d["data"]["journal_seq"].as_u64() >= Some(last) {
                    return Ok::<Instant, anyhow::Error>(Instant::now());
                }
            }
        }));
    }
    let mut worst = Duration::ZERO;
    for w in waits {
        worst = worst.max(w.await??.saturating_duration_since(acked));
    }
    let submitting = acked.saturating_duration_since(started);
    eprintln!(
        "30 rounds of 100 ticks acked in {submitting:?}; the 50 clients had the last delta {worst:?} after"
    );
    // Had the engine waited for the stalled client, the rounds would have
    // taken at least slow_client_secs (5 s), the time it takes to drop it.
    ensure!(
        worst < Duration::from_millis(1500),
        "a client got the last delta {worst:?} after the ack"
    );
    ensure!(
        submitting < Duration::from_secs(4),
        "30 rounds took {submitting:?}"
    );
    // The stalled client is eventually disconnected (overflow or slow).
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let m = support::http_get(srv.addr, "/metrics").await?;
        let closed = ["overflow", "slow"]
            .iter()
            .any(|r| m.contains(&format!("kupala_client_closes_total{{reason=\"{r}\"}} 1")));
        if closed {
            break;
        }
        ensure!(Instant::now() < deadline, "stalled client never closed:\n{m}");
        admin.submit(vec![tick("S000", "101")]).await?;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(stalled);
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_endpoints_and_listen_rules() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let refused = server(dir.path(), |c| c.server.listen = "0.0.0.0:0".into()).await;
    match refused {
        Err(e) if e.to_string().contains("without authentication") => {}
        Err(e) => bail!("unexpected error: {e}"),
        Ok(_) => bail!("a non-loopback listener without tokens started"),
    }
    let srv = server(dir.path(), |_| {}).await?;
    let page = support::http_get(srv.addr, "/").await?;
    ensure!(page.contains("<html") || page.contains("<!DOCTYPE"), "{page}");
    let metrics = support::http_get(srv.addr, "/metrics").await?;
    for name in [
        "kupala_events_in_total",
        "kupala_tick_to_delta_seconds",
        "kupala_clients",
        "kupala_conflated_total",
    ] {
        ensure!(metrics.contains(name), "{name} missing");
    }
    let raw = support::http_raw(
        srv.addr,
        &format!("GET /nope HTTP/1.1\r\nHost: {}\r\n\r\n", srv.addr),
    )
    .await?;
    ensure!(raw.starts_with("HTTP/1.1 404"), "{raw}");
    let raw = support::http_raw(
        srv.addr,
        &format!(
            "GET /ws HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: http://evil.example\r\n\r\n",
            srv.addr
        ),
    )
    .await?;
    ensure!(raw.starts_with("HTTP/1.1 403"), "cross-site WebSocket: {raw}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acked_events_survive_sigkill_and_sigterm_snapshots() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = support::Child::spawn(dir.path())?;
    let mut c = Client::connect(child.addr).await?;
    seed(&mut c).await?;
    let mut acked = 0;
    for i in 0..20 {
        let ack = c
            .submit(vec![trade(&format!("k{i}"), "A1", "AAPL", "buy", "1", "191")])
            .await?;
        acked = ack["seq"][0].as_u64().context("seq")?;
    }
    let before = c
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    // Acked, then killed at once: the journal must hold the acked seq.
    let last_ack = c
        .submit(vec![trade("k-last", "A1", "MSFT", "sell", "1", "402")])
        .await?;
    child.kill9()?;
    let last = last_ack["seq"][0].as_u64().context("seq")?;
    ensure!(last > acked);
    let journaled = support::journal_last_seq(dir.path())?;
    ensure!(journaled >= last, "acked seq {last}, journal ends at {journaled}");
    let mut child = support::Child::spawn(dir.path())?;
    let mut c = Client::connect(child.addr).await?;
    let after = c
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    let msft = |v: &Value| {
        v["data"].as_array().and_then(|a| {
            a.iter()
                .find(|p| p["account"] == "A1" && p["instrument"] == "MSFT")
                .cloned()
        })
    };
    ensure!(
        msft(&after).map(|p| p["qty"].clone()) == Some(json!("9")),
        "{after}"
    );
    let aapl = |v: &Value| v["data"].as_array().and_then(|a| a.first().cloned());
    ensure!(aapl(&before) == aapl(&after), "{before}\n{after}");
    // SIGTERM: a clean stop with a snapshot; the next start replays nothing.
    let log = child.terminate()?;
    ensure!(log.contains("snapshot written"), "{log}");
    let mut child = support::Child::spawn(dir.path())?;
    ensure!(
        child.log.contains(", 0 journal events replayed)"),
        "{}",
        child.log
    );
    child.kill9()?;
    Ok(())
}

/// A `[[feeds.files]]` entry feeds its file into the engine: the served
/// state ends equal to `kupala calc` on the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_feed_reaches_the_same_state_as_calc() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let demo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo.jsonl");
    let srv = server(dir.path(), |c| {
        c.feeds.files.push(kupala::file_feeds::FileFeed {
            path: demo.clone(),
            format: "jsonl".into(),
            instrument: None,
            speed: "max".into(),
            repeat: false,
        });
    })
    .await?;
    let total = std::fs::read_to_string(&demo)?.lines().count() as u64;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let health: Value = serde_json::from_str(&support::http_get(srv.addr, "/health").await?)?;
        if health["durable_seq"].as_u64() == Some(total) {
            break;
        }
        ensure!(Instant::now() < deadline, "feed stalled: {health}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let state = srv.stop().await?;
    let config = kupala_engine::PipelineConfig {
        shards: 1,
        ..kupala_engine::PipelineConfig::default()
    };
    let text = std::fs::read_to_string(&demo)?;
    let want = kupala::calc::run(kupala_feeds::JsonlSource::new(text.as_bytes()), config, false)?;
    let names = {
        let store = kupala_engine::store::Store::open(dir.path())?;
        store.names()?
    };
    let got = kupala_engine::view::StateView::new(&state, &names);
    ensure!(got == want.view, "served state differs from calc");
    Ok(())
}

#[path = "serve/http.rs"]
mod http;

/// At start the server names, in one block: where it listens, its store
/// and what recovery found, the demo, EOD, feeds, auth, ML, and how to stop.
#[test]
fn the_start_banner_names_what_runs() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = support::Child::spawn_with(dir.path(), "[feeds.tcp]\nlisten = \"127.0.0.1:0\"\n")?;
    let log = child.wait_log("Ctrl-C to stop", std::time::Duration::from_secs(20))?;
    let expected = [
        format!("listening on http://{}", child.addr),
        format!(
            "store {}: recovered to seq 0 (no snapshot, 0 journal events replayed)",
            dir.path().display()
        ),
        "demo: off".to_owned(),
        "EOD: off".to_owned(),
        "feed: TCP JSON Lines on 127.0.0.1:".to_owned(),
        "auth: off".to_owned(),
        "ML sidecar: ".to_owned(),
    ];
    for e in &expected {
        ensure!(log.contains(e.as_str()), "no {e:?} in:\n{log}");
    }
    child.kill9()?;
    Ok(())
}

#[path = "serve/books.rs"]
mod books;

#[path = "serve/history.rs"]
mod history;
