//! Totals that cannot wrap (issue 11, defect 2): a submit whose events could
//! take a quantity or a money total out of range is answered `bad_request`,
//! naming the event, and nothing of it is journaled or applied.

use anyhow::{Context as _, Result, ensure};
use serde_json::json;

use crate::support::{Client, server, trade};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_out_of_range_submit_is_a_bad_request_and_changes_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut c = Client::connect(srv.addr).await?;
    let ack = c
        .submit(vec![trade("ok", "A1", "AAPL", "buy", "1", "190")])
        .await?;
    let first = ack["seq"][0].as_u64().context("seq")?;
    // Money: the third of three 1.5 × 10^19 positions passes the bound.
    let big = |id: &str, inst: &str| trade(id, "A1", inst, "buy", "3000000000", "5000000000");
    let r = c
        .submit(vec![big("m1", "X1"), big("m2", "X2"), big("m3", "X3")])
        .await?;
    ensure!(r["type"] == "error" && r["code"] == "bad_request", "{r}");
    let msg = r["message"].as_str().unwrap_or("");
    ensure!(
        msg.starts_with(r#"line 3: trade "m3" of account "A1" in "X3" refused"#)
            && msg.contains("beyond the limit"),
        "{r}"
    );
    // Quantity: each trade alone fits, the two together do not (this one was
    // answered `internal` after applying the first).
    let q = |id: &str| trade(id, "A1", "Q", "buy", "5000000000", "1");
    let r = c.submit(vec![q("q1"), q("q2")]).await?;
    ensure!(r["type"] == "error" && r["code"] == "bad_request", "{r}");
    ensure!(r["message"].as_str().unwrap_or("").starts_with("line 2: "), "{r}");
    let positions = c
        .request(json!({"op":"query","what":"positions","account":"A1"}))
        .await?;
    let held: Vec<&str> = positions["data"]
        .as_array()
        .map(|a| a.iter().filter_map(|p| p["instrument"].as_str()).collect())
        .unwrap_or_default();
    ensure!(held == ["AAPL"], "{positions}");
    // The refused ids are not taken: a fitting resubmit gets seqs.
    let ack = c.submit(vec![trade("q1", "A1", "Q", "buy", "1", "1")]).await?;
    ensure!(ack["seq"][0].as_u64() == Some(first + 1), "{ack}");
    srv.stop().await?;
    let journaled = crate::support::journal_last_seq(dir.path())?;
    ensure!(journaled == first + 1, "journal ends at {journaled}");
    Ok(())
}
