//! Server-side keepalive: a client that answers nothing, not even a ping,
//! is closed with a reason; one whose library answers pings stays.

use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use serde_json::json;

use super::support::{Client, server};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_client_is_pinged_then_closed_and_a_live_one_stays() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.server.ping_secs = 1).await?;
    let mut silent = Client::connect(srv.addr).await?;
    let mut live = Client::connect(srv.addr).await?;
    // `live` keeps reading (its library answers the pings); `silent` reads
    // nothing for three seconds, so it cannot answer.
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(3) {
        let _ = live.try_update(Duration::from_millis(100)).await?;
    }
    let (code, reason) = silent.wait_close().await?;
    ensure!(code == 1001 && reason == "no answer to ping", "{code} {reason}");
    let r = live.request(json!({"op":"query","what":"portfolio"})).await?;
    ensure!(r["type"] == "result", "{r}");
    let metrics = super::support::http_get(srv.addr, "/metrics").await?;
    ensure!(
        metrics.contains("kupala_client_closes_total{reason=\"no_pong\"} 1"),
        "{metrics}"
    );
    srv.stop().await?;
    Ok(())
}
