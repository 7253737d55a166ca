//! What a restarted server reports before any new event: `/health` and the
//! metrics carry the recovered seq, also when recovery was a snapshot alone
//! (issue 11, defect 9).

use std::net::SocketAddr;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::support::{self, Client, server, trade};

/// `/health`'s `seq` and `durable_seq`, and the `kupala_seq` gauge.
async fn reported_seqs(addr: SocketAddr) -> Result<(u64, u64, u64)> {
    let health: Value = serde_json::from_str(&support::http_get(addr, "/health").await?)?;
    let metrics = support::http_get(addr, "/metrics").await?;
    let gauge = metrics
        .lines()
        .find_map(|l| l.strip_prefix("kupala_seq "))
        .context("no kupala_seq in /metrics")?
        .trim()
        .parse()?;
    let seq = health["seq"].as_u64().context("no seq in /health")?;
    let durable = health["durable_seq"]
        .as_u64()
        .context("no durable_seq in /health")?;
    Ok((seq, durable, gauge))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_report_the_recovered_seq_after_a_restart_from_a_snapshot() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut c = Client::connect(srv.addr).await?;
    let mut events = vec![json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"})];
    events.extend((0..20).map(|i| trade(&format!("t{i}"), "A1", "AAPL", "buy", "1", "100")));
    let ack = c.submit(events).await?;
    ensure!(ack["type"] == "ack", "{ack}");
    let last = 21;
    // The hub catches up with the ack asynchronously: poll until it has.
    let mut live = (0, 0, 0);
    for _ in 0..200 {
        live = reported_seqs(srv.addr).await?;
        if live == (last, last, last) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    ensure!(live == (last, last, last), "live: {live:?}");
    srv.stop().await?;

    let srv = server(dir.path(), |_| {}).await?;
    ensure!(
        srv.recovery.snapshot == Some(last) && srv.recovery.replayed == 0,
        "a restart from the shutdown snapshot alone: {:?}",
        srv.recovery
    );
    let restarted = reported_seqs(srv.addr).await?;
    ensure!(
        restarted == (last, last, last),
        "(/health seq, durable_seq, kupala_seq) after the restart: {restarted:?}"
    );
    srv.stop().await?;
    Ok(())
}
