//! `query` positions and portfolio `as_of` an earlier seq or time, from
//! the store: the figures the engine showed then, for the accounts the
//! token may read, with the seq the point resolved to; points beyond the
//! journal and malformed ones refused.

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::support::{self, ADMIN, READER, authed, ev, server};

fn field<'a>(rows: &'a Value, account: &str, name: &str) -> Option<&'a Value> {
    rows.as_array()?
        .iter()
        .find(|r| r["account"] == account)
        .map(|r| &r[name])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn as_of_a_seq_or_a_time_answers_what_the_engine_showed_then() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| c.auth.tokens = support::tokens()).await?;
    let mut admin = authed(srv.addr, ADMIN).await?;
    let trade = |account: &str, qty: &str, price: &str| json!({"account": account, "instrument": "AAPL", "side": "buy", "qty": qty, "price": price});
    let ack = admin
        .submit(vec![
            json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"}),
            ev("trade", "2026-11-30T14:30:00Z", trade("A1", "100", "189.50")),
            ev("trade", "2026-11-30T14:30:00Z", trade("A2", "5", "190")),
            ev(
                "tick",
                "2026-11-30T14:30:01Z",
                json!({"instrument":"AAPL","price":"190.10"}),
            ),
            ev(
                "tick",
                "2026-11-30T14:31:00Z",
                json!({"instrument":"AAPL","price":"195"}),
            ),
        ])
        .await?;
    ensure!(ack["seq"] == json!([1, 2, 3, 4, 5]), "{ack}");
    // After seq 4, A1's 100 were marked 190.10: (190.10 − 189.50) × 100 = 60.
    let r = admin
        .request(json!({"op":"query","what":"positions","as_of":4}))
        .await?;
    ensure!(r["type"] == "result" && r["data"]["seq"] == 4, "{r}");
    let rows = &r["data"]["positions"];
    ensure!(field(rows, "A1", "unrealized_pnl") == Some(&json!("60")), "{r}");
    ensure!(field(rows, "A2", "mark") == Some(&json!("190.1")), "{r}");
    // 14:30:30 falls between the ticks: the same point.
    let r = admin
        .request(json!({"op":"query","what":"positions","as_of":"2026-11-30T14:30:30Z"}))
        .await?;
    ensure!(r["data"]["seq"] == 4 && r["data"]["positions"] == *rows, "{r}");
    // Now (seq 5): marked 195.
    let live = admin.request(json!({"op":"query","what":"positions"})).await?;
    let first = live["data"]
        .as_array()
        .and_then(|a| a.first())
        .context("live positions")?;
    ensure!(first["mark"] == "195", "{live}");
    // A reader of A1 sees A1's totals only.
    let mut reader = authed(srv.addr, READER).await?;
    let r = reader
        .request(json!({"op":"query","what":"portfolio","as_of":4}))
        .await?;
    let accounts: Vec<&Value> = r["data"]["portfolios"]
        .as_array()
        .context("portfolios")?
        .iter()
        .map(|p| &p["account"])
        .collect();
    ensure!(accounts == [&json!("A1")], "{r}");
    ensure!(
        field(&r["data"]["portfolios"], "A1", "net_pnl") == Some(&json!("60")),
        "{r}"
    );
    let r = reader
        .request(json!({"op":"query","what":"positions","account":"A2","as_of":4}))
        .await?;
    ensure!(r["code"] == "forbidden", "{r}");
    // Refusals, by name.
    let r = admin
        .request(json!({"op":"query","what":"positions","as_of":99}))
        .await?;
    ensure!(
        r["code"] == "not_found"
            && r["message"]
                .as_str()
                .is_some_and(|m| m.contains("seq 99 is beyond the journal, which ends at seq 5")),
        "{r}"
    );
    for (bad, why) in [
        (
            json!({"op":"query","what":"positions","as_of":"yesterday"}),
            "as_of:",
        ),
        (
            json!({"op":"query","what":"positions","as_of":-1}),
            "as_of must be",
        ),
        (json!({"op":"query","what":"eod","as_of":3}), "as_of"),
    ] {
        let r = admin.request(bad.clone()).await?;
        ensure!(
            r["code"] == "bad_request" && r["message"].as_str().is_some_and(|m| m.contains(why)),
            "{bad}: {r}"
        );
    }
    srv.stop().await?;
    Ok(())
}
