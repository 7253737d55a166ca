//! The engine sends position deltas only for accounts a client watches;
//! a positions query or snapshot is an engine cut, complete and current
//! whether or not anyone watched the account before, and the deltas after
//! a snapshot follow it with no gap.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::support::{Client, accounts_of, server, tick, trade};

async fn positions(c: &mut Client, account: &str) -> Result<Vec<Value>> {
    let r = c
        .request(json!({"op":"query","what":"positions","account":account}))
        .await?;
    ensure!(r["type"] == "result", "{r}");
    Ok(r["data"].as_array().cloned().unwrap_or_default())
}

fn mark_of(rows: &[Value], instrument: &str) -> Option<String> {
    rows.iter()
        .find(|r| r["instrument"] == instrument)
        .and_then(|r| r["mark"].as_str())
        .map(str::to_owned)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn positions_are_current_whenever_first_watched_and_deltas_follow() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut admin = Client::connect(srv.addr).await?;
    let ack = admin
        .submit(vec![
            trade("t1", "A1", "AAPL", "buy", "100", "189.50"),
            trade("t2", "A1", "MSFT", "buy", "10", "400"),
            trade("t3", "A2", "AAPL", "buy", "5", "190"),
            tick("AAPL", "190.10"),
        ])
        .await?;
    ensure!(ack["type"] == "ack", "{ack}");
    // Nobody watched A2 while it traded.
    let a2 = positions(&mut admin, "A2").await?;
    ensure!(
        a2.len() == 1 && mark_of(&a2, "AAPL").as_deref() == Some("190.1"),
        "{a2:?}"
    );
    // A query wants nothing: the next one is a fresh cut.
    admin.submit(vec![tick("AAPL", "191")]).await?;
    let a2 = positions(&mut admin, "A2").await?;
    ensure!(mark_of(&a2, "AAPL").as_deref() == Some("191"), "{a2:?}");
    // A1, still unwatched, moved with that tick too.
    let mut c = Client::connect(srv.addr).await?;
    let snap = c
        .request(json!({"op":"subscribe","channel":"positions","account":"A1"}))
        .await?;
    let rows = snap["data"].as_array().cloned().unwrap_or_default();
    ensure!(
        rows.len() == 2 && mark_of(&rows, "AAPL").as_deref() == Some("191"),
        "{snap}"
    );
    // An account with no event yet: an empty snapshot, then its first trade.
    let mut n = Client::connect(srv.addr).await?;
    let snap = n
        .request(json!({"op":"subscribe","channel":"positions","account":"NEW"}))
        .await?;
    ensure!(snap["data"] == json!([]), "{snap}");
    admin
        .submit(vec![trade("t4", "NEW", "MSFT", "buy", "1", "401")])
        .await?;
    let d = n.next_update().await?;
    ensure!(d["type"] == "delta" && d["data"]["account"] == "NEW", "{d}");
    // Every account, through a `*` subscription of another client.
    let mut all = Client::connect(srv.addr).await?;
    let snap = all
        .request(json!({"op":"subscribe","channel":"positions","account":"*"}))
        .await?;
    let data = snap["data"].clone();
    ensure!(data.as_array().map(Vec::len) == Some(4), "{snap}");
    ensure!(accounts_of(&data) == ["A1", "A2", "NEW"], "{snap}");
    // The A1 subscriber still gets its deltas (NEW's trade at 401 marked
    // MSFT, then the tick), each seq one past the last.
    admin.submit(vec![tick("MSFT", "402")]).await?;
    let first = c.next_update().await?;
    ensure!(first["data"]["mark"] == "401", "{first}");
    let next = c.next_update().await?;
    ensure!(next["data"]["mark"] == "402", "{next}");
    let (a, b) = (
        first["seq"].as_u64().context("seq")?,
        next["seq"].as_u64().context("seq")?,
    );
    ensure!(b == a + 1, "{a} then {b}");
    srv.stop().await?;
    Ok(())
}
