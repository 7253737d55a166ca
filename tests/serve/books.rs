//! The `books` and `firm` channels and queries: a trade's strategy puts it
//! in its own book, the account's totals sum its books, the firm sums
//! every account in the reporting currency; a token of some accounts sees
//! their books and never the firm.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::support::{self, ADMIN, READER, authed, server, tick};

fn trade(id: &str, account: &str, qty: &str, price: &str, strategy: Option<&str>) -> Value {
    let mut t = support::trade(id, account, "AAPL", "buy", qty, price);
    if let (Some(s), Some(o)) = (strategy, t.as_object_mut()) {
        o.insert("strategy".into(), json!(s));
    }
    t
}

fn book<'a>(rows: &'a Value, account: &str, strategy: Value) -> Option<&'a Value> {
    rows.as_array()?
        .iter()
        .find(|r| r["account"] == account && r["strategy"] == strategy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn books_sum_to_their_account_and_the_firm_to_every_account() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    let snap = admin
        .request(json!({"op":"subscribe","id":1,"channel":"firm"}))
        .await?;
    ensure!(snap["type"] == "snapshot" && snap["channel"] == "firm", "{snap}");
    let books = admin
        .request(json!({"op":"subscribe","id":2,"channel":"books","account":"*"}))
        .await?;
    ensure!(books["data"] == json!([]), "{books}");
    let ack = admin
        .submit(vec![
            trade("t1", "A1", "100", "10", None),
            trade("t2", "A1", "50", "12", Some("carry")),
            trade("t3", "A2", "10", "11", Some("carry")),
            tick("AAPL", "13"),
        ])
        .await?;
    ensure!(ack["type"] == "ack", "{ack}");
    // A1: default 100 × (13 − 10) = 300, carry 50 × (13 − 12) = 50; A2: 20.
    let firm = admin
        .wait_for(std::time::Duration::from_secs(5), |u| {
            u["channel"] == "firm" && u["data"]["unrealized_pnl"] == "370"
        })
        .await?;
    ensure!(firm["data"]["reporting_currency"] == "USD", "{firm}");
    let r = admin.request(json!({"op":"query","what":"books"})).await?;
    let rows = &r["data"];
    ensure!(rows.as_array().map(Vec::len) == Some(3), "{r}");
    let first = rows.as_array().and_then(|a| a.first()).context("books")?;
    ensure!(
        first["account"] == "A1" && first["strategy"].is_null(),
        "the default book first: {r}"
    );
    ensure!(
        book(rows, "A1", json!("carry")).map(|b| &b["unrealized_pnl"]) == Some(&json!("50")),
        "{r}"
    );
    ensure!(
        book(rows, "A2", json!("carry")).map(|b| &b["unrealized_pnl"]) == Some(&json!("20")),
        "{r}"
    );
    let p = admin
        .request(json!({"op":"query","what":"portfolio","account":"A1"}))
        .await?;
    ensure!(
        p["data"][0]["unrealized_pnl"] == "350",
        "an account sums its books: {p}"
    );
    let positions = admin
        .request(json!({"op":"query","what":"positions","account":"A1"}))
        .await?;
    let list = positions["data"].as_array().context("positions")?;
    ensure!(
        list.len() == 2 && list[0]["strategy"].is_null() && list[1]["strategy"] == "carry",
        "{positions}"
    );
    let f = admin.request(json!({"op":"query","what":"firm"})).await?;
    ensure!(
        f["data"]["market_value"] == "2080" && f["data"]["unpriced"] == 0,
        "{f}"
    );
    // A reader of A1 sees A1's books only, and not the firm.
    let mut reader = authed(srv.addr, READER).await?;
    let r = reader.request(json!({"op":"query","what":"books"})).await?;
    ensure!(support::accounts_of(&r["data"]) == ["A1"], "{r}");
    let r = reader.request(json!({"op":"query","what":"firm"})).await?;
    ensure!(r["type"] == "error" && r["code"] == "forbidden", "{r}");
    let r = reader
        .request(json!({"op":"subscribe","id":3,"channel":"firm"}))
        .await?;
    ensure!(r["type"] == "error" && r["code"] == "forbidden", "{r}");
    let r = reader
        .request(json!({"op":"subscribe","id":4,"channel":"books","account":"A2"}))
        .await?;
    ensure!(r["type"] == "error" && r["code"] == "forbidden", "{r}");
    let r = reader
        .request(json!({"op":"query","what":"firm","as_of":1}))
        .await?;
    ensure!(r["type"] == "error" && r["code"] == "forbidden", "{r}");
    // As of seq 2: A1's two books at the last trade price, 12.
    let r = admin
        .request(json!({"op":"query","what":"books","as_of":2}))
        .await?;
    let rows = &r["data"]["books"];
    ensure!(
        book(rows, "A1", Value::Null).map(|b| &b["unrealized_pnl"]) == Some(&json!("200")),
        "{r}"
    );
    let r = admin
        .request(json!({"op":"query","what":"firm","as_of":2}))
        .await?;
    ensure!(
        r["data"]["seq"] == 2 && r["data"]["firm"]["unrealized_pnl"] == "200",
        "{r}"
    );
    let r = admin
        .request(json!({"op":"subscribe","id":5,"channel":"firm","account":"A1"}))
        .await?;
    ensure!(r["type"] == "error" && r["code"] == "bad_request", "{r}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_submit_closes_named_lots_and_refuses_a_closed_one_naming_it() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.auth.tokens = support::tokens();
        c.accounts.insert(
            "A1".into(),
            kupala::config::AccountConfig {
                base_currency: None,
                method: Some(kupala_engine::Method::Fifo),
            },
        );
    })
    .await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    let sell = |id: &str, qty: &str, lots: &[&str]| {
        let mut t = support::trade(id, "A1", "AAPL", "sell", qty, "13");
        if let Some(o) = t.as_object_mut() {
            o.insert("close_lots".into(), json!(lots));
        }
        t
    };
    let ack = admin
        .submit(vec![
            trade("t1", "A1", "10", "10", None),
            trade("t2", "A1", "10", "12", None),
            sell("s1", "10", &["t2"]),
        ])
        .await?;
    ensure!(ack["type"] == "ack", "{ack}");
    // t2 closed first: 10 × (13 − 12) = 10, where fifo would take t1 (30).
    let p = admin
        .request(json!({"op":"query","what":"positions","account":"A1"}))
        .await?;
    ensure!(
        p["data"][0]["realized_pnl"] == "10" && p["data"][0]["avg_cost"] == "10",
        "{p}"
    );
    let refused = admin.submit(vec![sell("s2", "1", &["t2"])]).await?;
    ensure!(
        refused["type"] == "error" && refused["code"] == "bad_request",
        "{refused}"
    );
    let msg = refused["message"].as_str().unwrap_or_default();
    ensure!(
        msg.contains(r#"lot \"t2\""#) || msg.contains(r#"lot "t2""#),
        "{refused}"
    );
    let p = admin
        .request(json!({"op":"query","what":"positions","account":"A1"}))
        .await?;
    ensure!(p["data"][0]["qty"] == "10", "a refused trade moves nothing: {p}");
    Ok(())
}
