//! `query` the P&L history: a series' points in event time, from the
//! store, for the firm (a `"*"` token only), an account or a book; a
//! reader sees only its accounts; ranges and refusals; points still in
//! the writer's memory at a SIGKILL come back from the journal's replay.
//! `subscribe` to the `history` channel: the stored points from `from`
//! in the snapshot, then each new point once, in order, under the same
//! ACL; `unsubscribe` stops them.

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

/// The events of the history tests: AAPL, A1 buys 100 (book "mm") and
/// A2 10 (default book) at 189.50, then ticks each half past a second
/// from 14:30:00 on at `prices`.
fn opening(prices: &[&str]) -> Vec<Value> {
    let trade = |account: &str, qty: &str| json!({"account": account, "instrument": "AAPL", "side": "buy", "qty": qty, "price": "189.50"});
    let mut events = vec![
        json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
        ev("trade", "2026-11-30T14:30:00Z", {
            let mut t = trade("A1", "100");
            t["strategy"] = json!("mm");
            t
        }),
        ev("trade", "2026-11-30T14:30:00Z", trade("A2", "10")),
    ];
    events.extend(prices.iter().enumerate().map(|(k, p)| tick_at(k, p)));
    events
}

/// A tick of AAPL at `price`, half a second into second `k` after 14:30.
fn tick_at(k: usize, price: &str) -> Value {
    ev(
        "tick",
        &format!("2026-11-30T14:30:{k:02}.500Z"),
        json!({"instrument":"AAPL","price":price}),
    )
}

/// The `(ts, net_pnl)` of a list of points.
fn ts_nets(points: &Value) -> Vec<(String, String)> {
    points
        .as_array()
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                    (s("ts"), s("net_pnl"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn at(second: u32, net: &str) -> (String, String) {
    (format!("2026-11-30T14:30:{second:02}Z"), net.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_subscription_sends_the_stored_points_then_each_new_one_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    admin.submit(opening(&["190.10", "195", "200"])).await?;
    // The two closed buckets are stored (the history thread writes them
    // moments after the event that closes them).
    admin
        .poll(json!({"op":"query","what":"history","account":"A1"}), |r| {
            r["data"]["points"].as_array().is_some_and(|p| p.len() >= 2)
        })
        .await?;
    let snap = admin
        .request(json!({"op":"subscribe","channel":"history","account":"A1","from":"2026-11-30T14:30:00Z"}))
        .await?;
    ensure!(
        snap["type"] == "snapshot"
            && snap["channel"] == "history"
            && snap["data"]["series"] == "account"
            && snap["data"]["account"] == "A1"
            && snap["data"]["strategy"].is_null(),
        "{snap}"
    );
    ensure!(
        ts_nets(&snap["data"]["points"]) == [at(1, "60"), at(2, "550")],
        "{snap}"
    );
    let seq0 = snap["seq"].as_u64().context("seq")?;
    // A book, live only: an empty snapshot, then its new points.
    let book = admin
        .request(json!({"op":"subscribe","channel":"history","account":"A1","strategy":"mm","batch":true}))
        .await?;
    ensure!(
        book["data"]["series"] == "book"
            && book["data"]["strategy"] == "mm"
            && book["data"]["points"] == json!([]),
        "{book}"
    );
    // Two more buckets close: at 200 (A1: 100 × 10.50) and 205.
    admin.submit(vec![tick_at(3, "205"), tick_at(4, "210")]).await?;
    let mut live = Vec::new();
    let mut book_points = Vec::new();
    while live.len() < 2 || book_points.len() < 2 {
        let u = admin.next_update().await?;
        ensure!(u["channel"] == "history", "{u}");
        if u["id"] == snap["id"] {
            ensure!(
                u["type"] == "delta" && u["seq"].as_u64() == Some(seq0 + 1 + live.len() as u64),
                "one more seq per point: {u}"
            );
            ensure!(
                u["data"]["series"] == "account"
                    && u["data"]["account"] == "A1"
                    && u["data"]["day_pnl"].is_string(),
                "{u}"
            );
            live.push(u["data"].clone());
        } else {
            ensure!(u["type"] == "deltas" && u["id"] == book["id"], "{u}");
            book_points.extend(u["data"].as_array().cloned().unwrap_or_default());
        }
    }
    ensure!(
        ts_nets(&json!(live)) == [at(3, "1050"), at(4, "1550")],
        "no repeat of the snapshot's points, no gap: {live:?}"
    );
    ensure!(
        ts_nets(&json!(book_points)) == ts_nets(&json!(live)),
        "the book holds all of A1: {book_points:?}"
    );
    // What the subscriber was sent is what the store answers.
    let q = admin
        .request(json!({"op":"query","what":"history","account":"A1"}))
        .await?;
    let mut sent = ts_nets(&snap["data"]["points"]);
    sent.extend(ts_nets(&json!(live)));
    ensure!(ts_nets(&q["data"]["points"]) == sent, "{q}");
    // The firm, from the second bucket on: 550 + 55, then the live ones.
    let firm = admin
        .request(json!({"op":"subscribe","channel":"history","from":"2026-11-30T14:30:02Z"}))
        .await?;
    ensure!(
        firm["data"]["series"] == "firm"
            && ts_nets(&firm["data"]["points"]) == [at(2, "605"), at(3, "1155"), at(4, "1705")],
        "{firm}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn history_subscriptions_follow_the_acl_and_unsubscribe_stops_them() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    admin.submit(opening(&["190.10", "195"])).await?;
    let mut reader = authed(srv.addr, READER).await?;
    for (sub, what) in [
        (json!({"op":"subscribe","channel":"history"}), "the firm"),
        (
            json!({"op":"subscribe","channel":"history","account":"A2"}),
            "another account",
        ),
        (
            json!({"op":"subscribe","channel":"history","account":"A2","strategy":null}),
            "another account's book",
        ),
    ] {
        let r = reader.request(sub).await?;
        ensure!(r["type"] == "error" && r["code"] == "forbidden", "{what}: {r}");
    }
    let r = reader
        .request(json!({"op":"subscribe","channel":"history","account":"A1","min_change":"1"}))
        .await?;
    ensure!(r["code"] == "bad_request", "{r}");
    let mine = reader
        .request(json!({"op":"subscribe","channel":"history","account":"A1","from":"2026-11-30T14:30:00Z"}))
        .await?;
    ensure!(mine["type"] == "snapshot", "{mine}");
    // A1's book "mm" is told after A1 in each mark: once its point is
    // here, A1's of the same mark would be too.
    let sentinel = reader
        .request(json!({"op":"subscribe","channel":"history","account":"A1","strategy":"mm"}))
        .await?;
    ensure!(sentinel["type"] == "snapshot", "{sentinel}");
    admin.submit(vec![tick_at(2, "200")]).await?;
    let points = |u: &Value| ts_nets(&json!([u["data"].clone()]));
    let mut seen = Vec::new();
    while seen.len() < 2 {
        let u = reader.next_update().await?;
        seen.push((u["id"].clone(), points(&u)));
    }
    ensure!(
        seen == [
            (mine["id"].clone(), vec![at(2, "550")]),
            (sentinel["id"].clone(), vec![at(2, "550")])
        ],
        "{seen:?}"
    );
    let r = reader
        .request(json!({"op":"unsubscribe","channel":"history","account":"A1"}))
        .await?;
    ensure!(
        r["type"] == "result" && r["data"]["unsubscribed"] == "history",
        "{r}"
    );
    let r = reader
        .request(json!({"op":"unsubscribe","channel":"history","account":"A1"}))
        .await?;
    ensure!(r["code"] == "not_found", "{r}");
    admin.submit(vec![tick_at(3, "205")]).await?;
    let u = reader.next_update().await?;
    ensure!(
        u["id"] == sentinel["id"] && points(&u) == [at(3, "1050")],
        "A1's point after the unsubscribe is not sent: {u}"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_over_the_query_bound_is_too_large_and_subscribes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut c = Client::connect(srv.addr).await?;
    // 10,002 ticks a second apart, each a new price: 10,001 closed buckets.
    let tick = |k: u32| {
        let t = 14 * 3600 + 30 * 60 + k;
        let ts = format!("2026-11-30T{:02}:{:02}:{:02}.500Z", t / 3600, t / 60 % 60, t % 60);
        let price = format!("100.{k:05}");
        ev("tick", &ts, json!({"instrument":"AAPL","price":price}))
    };
    let mut first = opening(&[]);
    first.extend((0..5_000).map(tick));
    c.submit(first).await?;
    c.submit((5_000..10_002).map(tick).collect()).await?;
    // The last bucket closed is 10,001 s after 14:30:00, i.e. 17:16:41.
    let last = "2026-11-30T17:16:41Z";
    c.poll(
        json!({"op":"query","what":"history","account":"A1","from":last}),
        |r| r["data"]["points"].as_array().is_some_and(|p| p.len() == 1),
    )
    .await?;
    let all = json!({"op":"subscribe","channel":"history","account":"A1","from":"2026-11-30T14:30:00Z"});
    let r = c.request(all).await?;
    ensure!(
        r["type"] == "error"
            && r["code"] == "too_large"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("10001 points in the range; at most 10000")),
        "{r}"
    );
    let r = c
        .request(json!({"op":"unsubscribe","channel":"history","account":"A1"}))
        .await?;
    ensure!(
        r["code"] == "not_found",
        "the refused subscription is not held: {r}"
    );
    let r = c
        .request(json!({"op":"subscribe","channel":"history","account":"A1","from":"2026-11-30T14:30:02Z"}))
        .await?;
    let points = r["data"]["points"].as_array().map(Vec::len);
    ensure!(r["type"] == "snapshot" && points == Some(10_000), "{}", r["type"]);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_without_history_answers_a_history_subscription_unavailable() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.history.enabled = false).await?;
    let mut c = Client::connect(srv.addr).await?;
    let r = c
        .request(json!({"op":"subscribe","channel":"history","account":"A1"}))
        .await?;
    ensure!(r["type"] == "error" && r["code"] == "unavailable", "{r}");
    let r = c
        .request(json!({"op":"unsubscribe","channel":"history","account":"A1"}))
        .await?;
    ensure!(r["code"] == "not_found", "{r}");
    Ok(())
}
