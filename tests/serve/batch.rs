//! A `batch` subscription gets the same changes as a plain one, in
//! `deltas` messages (arrays) whose `seq` counts one per message.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use serde_json::{Value, json};

use super::support::{Client, http_get, server, tick, trade};

/// The latest state per (account, instrument) a subscriber built, with
/// the seq checks of its messages.
#[derive(Default)]
struct View {
    rows: BTreeMap<(String, String), Value>,
    seq: u64,
    messages: u64,
    deltas: u64,
}

impl View {
    fn put(&mut self, row: &Value) {
        let key = (row["account"].to_string(), row["instrument"].to_string());
        self.rows.insert(key, row.clone());
    }

    /// Applies one update; an error on a seq gap or a wrong message type.
    fn apply(&mut self, m: &Value, batch: bool) -> Result<()> {
        let seq = m["seq"].as_u64().context("seq")?;
        if m["type"] == "snapshot" {
            self.seq = seq;
            for row in m["data"].as_array().context("snapshot data")? {
                self.put(row);
            }
            return Ok(());
        }
        ensure!(seq == self.seq + 1, "seq {seq} after {}: {m}", self.seq);
        self.seq = seq;
        self.messages += 1;
        if batch {
            ensure!(m["type"] == "deltas", "{m}");
            let data = m["data"].as_array().context("deltas data")?;
            ensure!(!data.is_empty(), "an empty deltas message: {m}");
            for row in data {
                self.put(row);
                self.deltas += 1;
            }
        } else {
            ensure!(m["type"] == "delta", "{m}");
            self.put(&m["data"]);
            self.deltas += 1;
        }
        Ok(())
    }

    /// Reads updates until the view holds `want` (the rows, without
    /// `journal_seq`, which may differ between a query and a delta).
    async fn follow(
        &mut self,
        c: &mut Client,
        batch: bool,
        want: &BTreeMap<(String, String), Value>,
    ) -> Result<()> {
        let strip = |rows: &BTreeMap<(String, String), Value>| {
            rows.iter()
                .map(|(k, v)| {
                    let mut v = v.clone();
                    v.as_object_mut().map(|o| o.remove("journal_seq"));
                    (k.clone(), v)
                })
                .collect::<BTreeMap<_, _>>()
        };
        let want = strip(want);
        while strip(&self.rows) != want {
            let m = c.next_update().await?;
            self.apply(&m, batch)?;
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_subscription_sees_every_change_in_deltas_messages() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |_| {}).await?;
    let mut admin = Client::connect(srv.addr).await?;
    admin
        .submit(vec![
            trade("t1", "A1", "AAPL", "buy", "100", "189.50"),
            trade("t2", "A1", "MSFT", "buy", "10", "400"),
            trade("t3", "A2", "AAPL", "sell", "5", "190"),
        ])
        .await?;
    let mut views = Vec::new();
    for batch in [true, false] {
        let mut c = Client::connect(srv.addr).await?;
        let snap = c
            .request(json!({"op":"subscribe","channel":"positions","account":"*","batch":batch}))
            .await?;
        ensure!(snap["type"] == "snapshot", "{snap}");
        let mut v = View::default();
        v.apply(&snap, batch)?;
        ensure!(v.rows.len() == 3, "{snap}");
        views.push((c, v, batch));
    }
    // Each AAPL tick moves two accounts' positions in one engine flush.
    let mut events = Vec::new();
    for i in 0..50 {
        events.push(tick("AAPL", &format!("190.{i:02}")));
        events.push(tick("MSFT", &format!("401.{i:02}")));
        if i % 10 == 0 {
            events.push(trade(&format!("u{i}"), "A2", "MSFT", "buy", "1", "401"));
        }
    }
    let chunks = events.chunks(7).count() as u64;
    for chunk in events.chunks(7) {
        let ack = admin.submit(chunk.to_vec()).await?;
        ensure!(ack["type"] == "ack", "{ack}");
    }
    let r = admin
        .request(json!({"op":"query","what":"positions","account":"*"}))
        .await?;
    let mut want = View::default();
    for row in r["data"].as_array().context("query data")? {
        want.put(row);
    }
    for (c, v, batch) in &mut views {
        tokio::time::timeout(Duration::from_secs(10), v.follow(c, *batch, &want.rows))
            .await
            .context("the subscriber never caught up with the query")??;
    }
    let (batched, plain) = (&views[0].1, &views[1].1);
    ensure!(
        batched.deltas > batched.messages,
        "no deltas message carried two deltas: {} in {}",
        batched.deltas,
        batched.messages
    );
    ensure!(plain.deltas == plain.messages);
    // Every message written counts once, a `deltas` message too: the
    // replies to the setup, the submits and the query, two snapshots, and
    // the subscribers' updates.
    let want = 1 + chunks + 1 + 2 + batched.messages + plain.messages;
    let mut sent = 0;
    for _ in 0..50 {
        let metrics = http_get(srv.addr, "/metrics").await?;
        sent = metrics
            .lines()
            .find_map(|l| l.strip_prefix("kupala_messages_sent_total "))
            .and_then(|v| v.trim().parse::<f64>().ok())
            .context("kupala_messages_sent_total")? as u64;
        if sent >= want {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    ensure!(sent == want, "messages sent {sent}, expected {want}");
    Ok(())
}
