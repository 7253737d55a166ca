//! `query` the P&L history: a series' points in event time, from the
//! store, for the firm (a `"*"` token only), an account or a book; a
//! reader sees only its accounts; ranges and refusals; points still in
//! the writer's memory at a SIGKILL come back from the journal's replay.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::support::{self, ADMIN, Client, READER, authed, ev, server};

fn nets(r: &Value) -> Vec<Value> {
    r["data"]["points"]
        .as_array()
        .map(|ps| ps.iter().map(|p| p["net_pnl"].clone()).collect())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_answers_each_series_in_event_time_within_the_acl() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    let trade = |account: &str, strategy: Option<&str>, qty: &str| {
        let mut t =
            json!({"account": account, "instrument": "AAPL", "side": "buy", "qty": qty, "price": "189.50"});
        if let Some(s) = strategy {
            t["strategy"] = json!(s);
        }
        t
    };
    let tick = |price: &str| json!({"instrument":"AAPL","price":price});
    let ack = admin
        .submit(vec![
            json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
            ev("trade", "2026-11-30T14:30:00Z", trade("A1", Some("mm"), "100")),
            ev("trade", "2026-11-30T14:30:00Z", trade("A2", None, "10")),
            ev("tick", "2026-11-30T14:30:00.500Z", tick("190.10")),
            ev("tick", "2026-11-30T14:30:01.500Z", tick("195")),
            ev("tick", "2026-11-30T14:30:02.500Z", tick("200")),
        ])
        .await?;
    ensure!(ack["seq"] == json!([1, 2, 3, 4, 5, 6]), "{ack}");
    // Buckets of one second close when a later event arrives: at 14:30:01
    // (marked 190.10) and 14:30:02 (marked 195); 200 is in an open bucket.
    let a1 = admin
        .poll(json!({"op":"query","what":"history","account":"A1"}), |r| {
            r["data"]["points"].as_array().is_some_and(|p| p.len() >= 2)
        })
        .await?;
    ensure!(nets(&a1) == [json!("60"), json!("550")], "{a1}");
    let first = &a1["data"]["points"][0];
    ensure!(
        first["ts"] == "2026-11-30T14:30:01Z" && first["seq"] == 4 && first["day_pnl"] == "60",
        "{a1}"
    );
    ensure!(
        a1["data"]["series"] == "account"
            && a1["data"]["account"] == "A1"
            && a1["data"]["strategy"].is_null(),
        "{a1}"
    );
    // The book A1/mm holds all of A1; A1's default book has no points.
    let book = admin
        .request(json!({"op":"query","what":"history","account":"A1","strategy":"mm"}))
        .await?;
    ensure!(
        nets(&book) == nets(&a1) && book["data"]["series"] == "book",
        "{book}"
    );
    let default = admin
        .request(json!({"op":"query","what":"history","account":"A1","strategy":null}))
        .await?;
    ensure!(nets(&default).is_empty(), "{default}");
    // The firm: 60 + 6 at 190.10, 550 + 55 at 195.
    let firm = admin.request(json!({"op":"query","what":"history"})).await?;
    ensure!(nets(&firm) == [json!("66"), json!("605")], "{firm}");
    let ranged = admin
        .request(json!({"op":"query","what":"history","account":"A1","from":"2026-11-30T14:30:01.500Z"}))
        .await?;
    ensure!(nets(&ranged) == [json!("550")], "{ranged}");
    // A reader of A1: its account, not A2's, not the firm.
    let mut reader = authed(srv.addr, READER).await?;
    let mine = reader
        .request(json!({"op":"query","what":"history","account":"A1"}))
        .await?;
    ensure!(nets(&mine) == nets(&a1), "{mine}");
    for q in [
        json!({"op":"query","what":"history","account":"A2"}),
        json!({"op":"query","what":"history"}),
    ] {
        let r = reader.request(q.clone()).await?;
        ensure!(r["code"] == "forbidden", "{q}: {r}");
    }
    let r = admin
        .request(json!({"op":"query","what":"history","account":"*"}))
        .await?;
    ensure!(r["code"] == "bad_request", "{r}");
    // The writer's points survive a restart.
    drop((admin, reader));
    srv.stop().await?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    let again = admin
        .request(json!({"op":"query","what":"history","account":"A1"}))
        .await
        .context("after a restart")?;
    ensure!(nets(&again) == nets(&a1), "{again}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn points_unwritten_at_a_sigkill_come_back_from_the_replay() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let mut child = support::Child::spawn(dir.path())?;
    let mut c = Client::connect(child.addr).await?;
    let mut events = vec![
        json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
        ev(
            "trade",
            "2026-11-30T14:30:00Z",
            json!({"account":"A1","instrument":"AAPL","side":"buy","qty":"10","price":"100"}),
        ),
    ];
    for k in 0..6 {
        let ts = format!("2026-11-30T14:30:0{k}.500Z");
        events.push(ev(
            "tick",
            &ts,
            json!({"instrument":"AAPL","price": format!("10{k}")}),
        ));
    }
    c.submit(events).await?;
    // Five buckets closed (14:30:01..05), each after a new price.
    let q = json!({"op":"query","what":"history","account":"A1"});
    let before = c
        .poll(q.clone(), |r| {
            r["data"]["points"].as_array().is_some_and(|p| p.len() >= 5)
        })
        .await?;
    ensure!(
        nets(&before) == ["0", "10", "20", "30", "40"].map(|v| json!(v)),
        "{before}"
    );
    // No snapshot was written: the points are in the writer's chunk in
    // progress only, and the kill loses them from the store.
    child.kill9()?;
    let child = support::Child::spawn(dir.path())?;
    ensure!(
        !child.log.contains(", 0 journal events replayed)"),
        "{}",
        child.log
    );
    let mut c = Client::connect(child.addr).await?;
    let after = c
        .poll(q, |r| {
            r["data"]["points"].as_array().is_some_and(|p| p.len() >= 5)
        })
        .await?;
    ensure!(
        after["data"]["points"] == before["data"]["points"],
        "{before}\n{after}"
    );
    Ok(())
}
