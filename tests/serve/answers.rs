//! One answer per request, in request order (issue 11, defect 8), with
//! answers that wait: a submit's ack (after the fsync) and the store
//! queries must not be overtaken by the answers to later requests, while a
//! subscription's deltas flow freely (never before its snapshot), and a
//! read pipelined after a submit, being answered after its ack, reflects it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::{Context as _, Result, ensure};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use super::support::{Client, server, trade};

/// How long one expected message may take.
const WAIT: Duration = Duration::from_secs(10);

/// A raw WebSocket whose requests are sent in one write.
struct Pipe {
    ws: WebSocketStream<TcpStream>,
    /// Deltas met while reading answers, in arrival order.
    deltas: Vec<Value>,
    /// The ids of the snapshots received so far.
    snapshots: HashSet<String>,
}

impl Pipe {
    async fn connect(addr: SocketAddr) -> Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await?;
        Ok(Self {
            ws,
            deltas: Vec::new(),
            snapshots: HashSet::new(),
        })
    }

    async fn send_all(&mut self, frames: &[String]) -> Result<()> {
        for f in frames {
            self.ws.feed(Message::text(f.as_str())).await?;
        }
        Ok(self.ws.flush().await?)
    }

    /// The next message that is not a delta (deltas are kept, and must
    /// follow their subscription's snapshot).
    async fn answer(&mut self) -> Result<Value> {
        loop {
            let msg = tokio::time::timeout(WAIT, self.ws.next())
                .await
                .context("no answer within 10 s")?
                .context("connection closed")??;
            if let Message::Text(t) = msg {
                let v: Value = serde_json::from_str(t.as_str())?;
                let id = v["id"].to_string();
                if v["type"] != "delta" {
                    if v["type"] == "snapshot" {
                        self.snapshots.insert(id);
                    }
                    return Ok(v);
                }
                ensure!(self.snapshots.contains(&id), "a delta before its snapshot: {v}");
                self.deltas.push(v);
            }
        }
    }
}

fn trades(prefix: &str, account: &str, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| trade(&format!("{prefix}-{i}"), account, "AAPL", "buy", "1", "10"))
        .collect()
}

/// The frames of one round and the answers expected, in order: (id, type).
fn round(r: u64) -> (Vec<String>, Vec<(Value, &'static str)>) {
    let b = r * 100;
    let acct = format!("R{r:04}");
    let sub = json!({"op":"subscribe","id":b + 5,"channel":"positions","account":acct});
    let reqs = [
        json!({"op":"submit","id":b + 1,"events":trades(&format!("big{r}"), &acct, 300)}),
        json!({"op":"query","id":b + 2,"what":"positions","account":acct}),
        json!({"op":"query","id":b + 3,"what":"eod"}),
        json!({"op":"query","id":b + 4,"what":"closed","account":acct}),
        sub,
    ];
    let mut frames: Vec<String> = reqs.iter().map(Value::to_string).collect();
    frames.push(r#"{"op":"query","what":"#.to_owned()); // malformed: no id
    let more = [
        json!({"op":"submit","id":b + 7,"events":trades(&format!("small{r}"), &acct, 3)}),
        json!({"op":"query","id":b + 8,"what":"portfolio","account":acct}),
        json!({"op":"unsubscribe","id":b + 9,"channel":"positions","account":acct}),
        json!({"op":"query","id":format!("s{b}"),"what":"closed"}),
        json!({"op":"nope","id":b + 10}),
        json!({"op":"subscribe","id":b + 11,"channel":"portfolio","account":acct}),
        json!({"op":"unsubscribe","id":b + 12,"channel":"portfolio","account":acct}),
    ];
    frames.extend(more.iter().map(Value::to_string));
    let want = vec![
        (json!(b + 1), "ack"),
        (json!(b + 2), "result"),
        (json!(b + 3), "error"), // no EOD yet: not_found
        (json!(b + 4), "result"),
        (json!(b + 5), "snapshot"),
        (Value::Null, "error"),
        (json!(b + 7), "ack"),
        (json!(b + 8), "result"),
        (json!(b + 9), "result"),
        (json!(format!("s{b}")), "result"),
        (json!(b + 10), "error"),
        (json!(b + 11), "snapshot"),
        (json!(b + 12), "result"),
    ];
    (frames, want)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_answers_come_back_in_request_order_behind_acks_and_store_queries() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.store.sync = "always".into();
        c.server.max_msgs_per_sec = 100_000;
    })
    .await?;
    let mut admin = Client::connect(srv.addr).await?;
    let instrument = json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"});
    let ack = admin.submit(vec![instrument]).await?;
    ensure!(ack["type"] == "ack", "{ack}");
    let mut p = Pipe::connect(srv.addr).await?;
    for r in 0..60 {
        let (frames, want) = round(r);
        p.send_all(&frames).await?;
        let mut got = Vec::new();
        for (id, kind) in &want {
            let a = p
                .answer()
                .await
                .with_context(|| format!("round {r}: waiting for {id}; so far {got:?}"))?;
            got.push(a["id"].clone());
            ensure!(
                a["id"] == *id && a["type"] == *kind,
                "round {r}: expected {kind} {id}, got {a}; ids so far {got:?}"
            );
            // Read-your-writes: answered after the first ack, the reads
            // reflect its 300 trades (one position of 300, or 303 when the
            // next submit was applied too).
            let b = r * 100;
            if *id == json!(b + 2) || *id == json!(b + 5) {
                let data = a["data"].as_array().context("data")?;
                ensure!(
                    data.len() == 1 && (data[0]["qty"] == "300" || data[0]["qty"] == "303"),
                    "round {r}: {a} after the ack"
                );
            }
            if *id == json!(b + 8) {
                let data = a["data"].as_array().context("data")?;
                ensure!(data.len() == 1, "round {r}: {a}");
            }
        }
        // Deltas (of the 3 small trades) come only after their snapshot
        // (checked as they arrive), for this round's subscriptions.
        for d in p.deltas.drain(..) {
            ensure!(
                d["id"] == json!(r * 100 + 5) || d["id"] == json!(r * 100 + 11),
                "round {r}: a delta of another subscription: {d}"
            );
        }
    }
    srv.stop().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_inflight_the_refusals_keep_the_request_order() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let srv = server(dir.path(), |c| {
        c.store.sync = "always".into();
        c.server.max_msgs_per_sec = 100_000;
        c.server.max_inflight = 4;
    })
    .await?;
    let mut admin = Client::connect(srv.addr).await?;
    let instrument = json!({"type":"instrument","id":"AAPL","currency":"USD","multiplier":"1"});
    let ack = admin.submit(vec![instrument]).await?;
    ensure!(ack["type"] == "ack", "{ack}");
    let mut p = Pipe::connect(srv.addr).await?;
    let mut limited = 0;
    for r in 0..30u64 {
        let b = r * 100;
        let mut frames =
            vec![json!({"op":"submit","id":b,"events":trades(&format!("t{r}"), "A1", 500)}).to_string()];
        for i in 1..=12 {
            let what = if i % 3 == 0 { "closed" } else { "positions" };
            frames.push(json!({"op":"query","id":b + i,"what":what}).to_string());
        }
        p.send_all(&frames).await?;
        for i in 0..=12 {
            let a = p
                .answer()
                .await
                .with_context(|| format!("round {r}: answer {i}"))?;
            ensure!(a["id"] == json!(b + i), "round {r}: answer {i}: {a}");
            let kind = if i == 0 { "ack" } else { "result" };
            ensure!(
                a["type"] == kind || a["code"] == "rate_limited",
                "round {r}: answer {i}: {a}"
            );
            limited += usize::from(a["code"] == "rate_limited");
        }
    }
    ensure!(limited > 0, "no request was refused past max_inflight");
    srv.stop().await?;
    Ok(())
}
