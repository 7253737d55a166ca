//! The ML sidecar over the WebSocket: `analyze` with progress, the
//! `analysis` channel and query, `cancel`, roles, per-account filtering,
//! and the EOD trigger.

use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use kupala::config::Config;
use kupala_api::auth::{Role, TokenConfig};

use crate::support::{self, Client, authed, server, trade};

/// How long one analysis of the small market may take.
const JOB: Duration = Duration::from_secs(60);
/// An admin restricted to A1.
const ADMIN_A1: &str = "admin-a1-token-0123456789";

/// Tests do not run the worker at the lowest priority: other tests keep
/// both cores busy, and an idle-priority job would starve.
fn ml(c: &mut Config, on_eod: bool) {
    c.ml.lowest_priority = false;
    c.ml.on_eod = on_eod;
}

fn with_tokens(c: &mut Config) {
    c.auth.tokens = support::tokens();
    c.auth.tokens.push(TokenConfig {
        token: ADMIN_A1.into(),
        role: Role::Admin,
        accounts: vec!["A1".into()],
    });
}

/// A tick at minute `m` of the test day (one bar each at 60 s bars).
fn tick_at(instrument: &str, m: u32, price: f64) -> Value {
    let (d, h, mm) = (1 + m / 600, 9 + (m % 600) / 60, m % 60);
    let ts = format!("2026-11-{d:02}T{h:02}:{mm:02}:00Z");
    json!({"type":"tick","ts":ts,"instrument":instrument,"price":format!("{price:.4}")})
}

/// `n` one-minute bars of `names` (deterministic walks), A1 holding the
/// first instrument and A2 the second, and (with `eods`) two EODs with
/// price moves between them, so both accounts have EOD returns.
fn market(names: &[&str], n: u32, eods: bool) -> Vec<Value> {
    let mut events = vec![
        trade("ml-1", "A1", names[0], "buy", "100", "100"),
        trade("ml-2", "A2", names[1], "buy", "50", "100"),
    ];
    let mut x: u64 = 7;
    let mut prices = vec![100.0f64; names.len()];
    for m in 0..n {
        for (name, p) in names.iter().zip(&mut prices) {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            let u = f64::from(u32::try_from(x >> 40).unwrap_or(0)) / f64::from(1u32 << 24) - 0.5;
            *p *= 1.0 + 0.004 * u;
            events.push(tick_at(name, m, *p));
        }
        if eods && (m == n / 3 || m == 2 * n / 3) {
            events.push(json!({"type":"eod","date":format!("2026-11-{:02}", 1 + m / 60)}));
        }
    }
    events
}

async fn feed(c: &mut Client, events: Vec<Value>) -> Result<()> {
    for chunk in events.chunks(5_000) {
        let ack = c.submit(chunk.to_vec()).await?;
        ensure!(ack["type"] == "ack", "{ack}");
    }
    Ok(())
}

/// Reads `job`'s progress messages up to the final one; (all, final).
async fn progress_of(c: &mut Client, job: &Value) -> Result<(Vec<Value>, Value)> {
    let mut seen = Vec::new();
    loop {
        let m = c
            .wait_for(JOB, |m| m["type"] == "progress" && m["job"] == *job)
            .await?;
        if matches!(m["state"].as_str(), Some("done" | "failed" | "cancelled")) {
            return Ok((seen, m));
        }
        seen.push(m);
    }
}

fn account_names(result: &Value) -> Vec<String> {
    result["analytics"]["accounts"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x["name"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn analyze_reports_progress_then_publishes_and_stores_the_result() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| ml(c, false)).await?;
    let mut admin = Client::connect(srv.addr).await?;
    feed(&mut admin, market(&["AAA", "BBB"], 150, true)).await?;
    let mut watcher = Client::connect(srv.addr).await?;
    let snap = watcher
        .request(json!({"op":"subscribe","channel":"analysis"}))
        .await?;
    ensure!(
        snap["type"] == "snapshot" && snap["channel"] == "analysis",
        "{snap}"
    );
    ensure!(snap["data"].is_null(), "no analysis yet: {snap}");
    let r = admin.request(json!({"op":"query","what":"analysis"})).await?;
    ensure!(r["code"] == "not_found", "{r}");

    let r = admin
        .request(json!({"op":"analyze","folds":3,"bar_seconds":60,"models":["linear","knn"]}))
        .await?;
    ensure!(r["type"] == "result", "{r}");
    let job = r["data"]["job"].clone();
    ensure!(job.as_u64().is_some(), "a job id: {r}");
    let (seen, last) = progress_of(&mut admin, &job).await?;
    ensure!(last["state"] == "done", "{last}");
    ensure!(last["id"] == r["id"], "progress echoes the request id: {last}");
    ensure!(
        seen.iter()
            .any(|m| m["state"] == "running"
                && m["progress"].as_f64().is_some_and(|f| (0.0..=1.0).contains(&f))),
        "running progress with a fraction: {seen:?}"
    );
    let result = &last["result"];
    ensure!(
        result["job"] == job && result["trigger"]["kind"] == "request",
        "{result}"
    );
    ensure!(
        result["leaderboard"].as_array().is_some_and(|l| !l.is_empty()),
        "models compared: {result}"
    );
    ensure!(account_names(result) == ["A1", "A2"], "{result}");

    let delta = watcher.next_update().await?;
    ensure!(
        delta["type"] == "delta" && delta["channel"] == "analysis" && delta["data"]["job"] == job,
        "{delta}"
    );
    ensure!(
        delta["seq"].as_u64() == snap["seq"].as_u64().map(|s| s + 1),
        "{delta}"
    );
    let latest = admin.request(json!({"op":"query","what":"analysis"})).await?;
    ensure!(latest["data"]["job"] == job, "{latest}");
    let status = admin
        .request(json!({"op":"query","what":"analysis","job":job}))
        .await?;
    ensure!(
        status["data"]["state"] == "done" && status["data"]["result"]["job"] == job,
        "{status}"
    );
    let unknown = admin
        .request(json!({"op":"query","what":"analysis","job":999_999}))
        .await?;
    ensure!(unknown["code"] == "not_found", "{unknown}");
    let cancel = admin.request(json!({"op":"cancel","job":999_999})).await?;
    ensure!(cancel["code"] == "not_found", "{cancel}");
    let mut late = Client::connect(srv.addr).await?;
    let snap = late
        .request(json!({"op":"subscribe","channel":"analysis"}))
        .await?;
    ensure!(
        snap["data"]["job"] == job,
        "the snapshot is the latest result: {snap}"
    );
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelling_a_running_job_ends_it_cancelled_and_writes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| ml(c, false)).await?;
    let mut admin = Client::connect(srv.addr).await?;
    let names = ["AAA", "BBB", "CCC", "DDD", "EEE", "FFF"];
    feed(&mut admin, market(&names, 2_000, false)).await?;
    let r = admin
        .request(json!({"op":"analyze","folds":50,"max_bars":5000}))
        .await?;
    let job = r["data"]["job"].clone();
    ensure!(job.as_u64().is_some(), "{r}");
    admin
        .wait_for(JOB, |m| {
            m["type"] == "progress" && m["job"] == job && m["state"] == "running"
        })
        .await?;
    let c = admin.request(json!({"op":"cancel","job":job})).await?;
    ensure!(c["data"] == json!({"job":job,"cancelled":true}), "{c}");
    let (_, last) = progress_of(&mut admin, &job).await?;
    ensure!(last["state"] == "cancelled", "{last}");
    let status = admin
        .request(json!({"op":"query","what":"analysis","job":job}))
        .await?;
    ensure!(
        status["data"]["state"] == "cancelled" && status["data"].get("result").is_none(),
        "{status}"
    );
    let again = admin.request(json!({"op":"cancel","job":job})).await?;
    ensure!(again["data"]["cancelled"] == false, "{again}");
    let latest = admin.request(json!({"op":"query","what":"analysis"})).await?;
    ensure!(
        latest["code"] == "not_found",
        "a cancelled job writes nothing: {latest}"
    );
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_admin_may_analyze_or_cancel_and_requests_are_strict() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        ml(c, false);
        with_tokens(c);
    })
    .await?;
    for token in [support::READER, support::TRADER] {
        let mut c = authed(srv.addr, token).await?;
        let r = c.request(json!({"op":"analyze"})).await?;
        ensure!(r["code"] == "forbidden", "{token}: {r}");
        let r = c.request(json!({"op":"cancel","job":1})).await?;
        ensure!(r["code"] == "forbidden", "{token}: {r}");
        let r = c.request(json!({"op":"query","what":"analysis"})).await?;
        ensure!(r["code"] == "not_found", "reading is allowed: {r}");
        let r = c.request(json!({"op":"subscribe","channel":"analysis"})).await?;
        ensure!(r["type"] == "snapshot", "{r}");
    }
    let mut admin = authed(srv.addr, support::ADMIN).await?;
    for (bad, why) in [
        (json!({"op":"analyze","fold":3}), "unknown field"),
        (json!({"op":"analyze","folds":0}), "folds range"),
        (json!({"op":"analyze","folds":"3"}), "ill-typed"),
        (json!({"op":"analyze","models":["gpt"]}), "unknown model"),
        (json!({"op":"cancel"}), "missing job"),
        (json!({"op":"cancel","job":-1}), "negative job"),
        (
            json!({"op":"query","what":"analysis","account":"A1"}),
            "no account",
        ),
        (
            json!({"op":"subscribe","channel":"analysis","account":"A1"}),
            "no account",
        ),
    ] {
        let r = admin.request(bad.clone()).await?;
        ensure!(r["code"] == "bad_request", "{why}: {bad} → {r}");
    }
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_account_analytics_reach_only_allowed_clients() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        ml(c, false);
        with_tokens(c);
    })
    .await?;
    let mut admin = authed(srv.addr, support::ADMIN).await?;
    feed(&mut admin, market(&["AAA", "BBB"], 150, true)).await?;
    let mut reader = authed(srv.addr, support::READER).await?;
    reader
        .request(json!({"op":"subscribe","channel":"analysis"}))
        .await?;
    let mut admin_a1 = authed(srv.addr, ADMIN_A1).await?;
    let r = admin_a1
        .request(json!({"op":"analyze","folds":2,"models":["linear"]}))
        .await?;
    let job = r["data"]["job"].clone();
    let (_, last) = progress_of(&mut admin_a1, &job).await?;
    ensure!(last["state"] == "done", "{last}");
    ensure!(account_names(&last["result"]) == ["A1"], "analyze result: {last}");
    ensure!(last["result"]["data"]["accounts"] == 1, "{last}");

    let delta = reader.next_update().await?;
    ensure!(delta["data"]["job"] == job, "{delta}");
    let mut seen = vec![delta];
    seen.push(reader.request(json!({"op":"query","what":"analysis"})).await?);
    seen.push(
        reader
            .request(json!({"op":"query","what":"analysis","job":job}))
            .await?,
    );
    let mut late = authed(srv.addr, support::READER).await?;
    seen.push(
        late.request(json!({"op":"subscribe","channel":"analysis"}))
            .await?,
    );
    for m in &seen {
        let data = if m["data"]["result"].is_object() {
            &m["data"]["result"]
        } else {
            &m["data"]
        };
        ensure!(account_names(data) == ["A1"], "{m}");
        ensure!(!m.to_string().contains("\"A2\""), "A2 leaked: {m}");
    }
    let full = admin.request(json!({"op":"query","what":"analysis"})).await?;
    ensure!(account_names(&full["data"]) == ["A1", "A2"], "{full}");
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_eod_from_a_client_triggers_an_analysis_on_the_channel() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| ml(c, true)).await?;
    let mut admin = Client::connect(srv.addr).await?;
    feed(&mut admin, market(&["AAA", "BBB"], 120, false)).await?;
    let mut watcher = Client::connect(srv.addr).await?;
    let snap = watcher
        .request(json!({"op":"subscribe","channel":"analysis"}))
        .await?;
    ensure!(snap["data"].is_null(), "{snap}");
    feed(&mut admin, vec![json!({"type":"eod","date":"2026-11-30"})]).await?;
    let delta = watcher
        .wait_for(JOB, |m| m["type"] == "delta" && m["channel"] == "analysis")
        .await?;
    ensure!(
        delta["data"]["trigger"] == json!({"kind":"eod","date":"2026-11-30"}),
        "{delta}"
    );
    let job = delta["data"]["job"].as_u64().context("job")?;
    let status = admin
        .request(json!({"op":"query","what":"analysis","job":job}))
        .await?;
    ensure!(status["data"]["state"] == "done", "{status}");
    srv.stop().await?;
    Ok(())
}
