//! The `ws` scenario's baseline, run in the same process right after it:
//! a trivial tokio WebSocket server (accept, one writer task per client fed
//! by a bounded channel) broadcasting pre-rendered delta frames, of the
//! size kupala sent, to the same number of clients running the same client
//! code. Frames go out in bursts of [`BURST`], one socket flush per burst
//! (kupala's connection task writes up to 256 updates per flush), so the
//! baseline is not bound by one write per frame. It
//! has no engine, no hub and no conflation, so its deltas/s is what the
//! transport, tungstenite and the clients allow on this machine at the
//! moment; kupala's figure divided by it survives a noisy machine better
//! than either alone.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use futures_util::SinkExt;
use kupala_engine::clock;
use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

use super::client::{self, Stamps, Tally};
use super::feed::settle;

/// Frames per burst, written with one flush.
const BURST: usize = 64;
/// Bursts waiting per client before the producer waits.
const QUEUE: usize = 16;

/// A burst of frames, shared by every client.
type Burst = Arc<Vec<Utf8Bytes>>;

/// The baseline's outcome.
pub(crate) struct Baseline {
    pub(crate) deltas: u64,
    pub(crate) frames: usize,
    pub(crate) elapsed: Duration,
    pub(crate) tally: Arc<Tally>,
}

/// A frame like `template` whose every `journal_seq` is `seq`.
fn frame(template: &str, seq: u64) -> String {
    const KEY: &str = "\"journal_seq\":";
    if !template.contains(KEY) {
        return format!(r#"{{"type":"delta","channel":"portfolio","seq":1,"data":{{"journal_seq":{seq}}}}}"#);
    }
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(at) = rest.find(KEY).map(|i| i + KEY.len()) {
        out.push_str(&rest[..at]);
        out.push_str(&seq.to_string());
        rest = rest[at..].trim_start_matches(|c: char| c.is_ascii_digit());
    }
    out.push_str(rest);
    out
}

/// A frame of the first delta of `template` (a `deltas` message): a
/// `delta` message of it alone (`copies` none), or a `deltas` message
/// of that many copies of it — the templates of the two baselines.
pub(crate) fn first_delta(template: &str, copies: Option<usize>) -> String {
    #[derive(serde::Deserialize)]
    struct Frame<'a> {
        #[serde(borrow)]
        data: Vec<&'a serde_json::value::RawValue>,
    }
    const KEY: &str = "\"data\":";
    let Some(rest) = template.strip_prefix(r#"{"type":"deltas""#) else {
        return template.to_owned();
    };
    let head = rest.find(KEY).map(|i| &rest[..i + KEY.len()]);
    let first = serde_json::from_str::<Frame<'_>>(template)
        .ok()
        .and_then(|f| f.data.first().map(|d| d.get().to_owned()));
    let (Some(head), Some(first)) = (head, first) else {
        return template.to_owned();
    };
    match copies {
        None => format!(r#"{{"type":"delta"{head}{first}}}"#),
        Some(n) => {
            let data = vec![first; n.max(1)].join(",");
            format!(r#"{{"type":"deltas"{head}[{data}]}}"#)
        }
    }
}

async fn writer(mut ws: WebSocketStream<tokio::net::TcpStream>, mut rx: mpsc::Receiver<Burst>) {
    while let Some(burst) = rx.recv().await {
        for frame in burst.iter() {
            if ws.feed(Message::Text(frame.clone())).await.is_err() {
                return;
            }
        }
        if ws.flush().await.is_err() {
            return;
        }
    }
    let _ = ws.close(None).await;
}

/// Accepts `clients` WebSocket connections and starts their writers.
async fn accept(listener: TcpListener, rxs: Vec<mpsc::Receiver<Burst>>) -> anyhow::Result<()> {
    for rx in rxs {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let ws = tokio_tungstenite::accept_async(stream).await?;
        tokio::spawn(writer(ws, rx));
    }
    Ok(())
}

/// Broadcasts frames like `template` to `clients` connections for `run`;
/// the server side runs on `server`, the clients on the current runtime.
pub(crate) async fn run(
    server: &Handle,
    clients: usize,
    template: &str,
    run: Duration,
) -> anyhow::Result<Baseline> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let (txs, rxs): (Vec<_>, Vec<_>) = (0..clients).map(|_| mpsc::channel::<Burst>(QUEUE)).unzip();
    let accepting = server.spawn(async move { accept(TcpListener::from_std(listener)?, rxs).await });
    let max_frames = 20_000_000 / clients.max(1) + 10 * BURST;
    let stamps = Arc::new(Stamps::new(max_frames, vec![0]));
    stamps.set_base(1);
    let tally = Arc::new(Tally::new(1));
    let mut receivers = JoinSet::new();
    for _ in 0..clients {
        let ws = client::connect(addr).await?;
        receivers.spawn(client::receive(ws, Arc::clone(&stamps), Arc::clone(&tally)));
    }
    accepting.await.context("the baseline's accept task")??;
    let t0 = clock::now_ns();
    let producer = {
        let (stamps, template) = (Arc::clone(&stamps), template.to_owned());
        server.spawn(async move {
            let start = Instant::now();
            let mut k = 0;
            while k + BURST <= max_frames && start.elapsed() < run {
                let now = clock::now_ns();
                let burst: Burst = Arc::new(
                    (k..k + BURST)
                        .map(|j| {
                            stamps.stamp(j, now);
                            Utf8Bytes::from(frame(&template, j as u64 + 1))
                        })
                        .collect(),
                );
                for tx in &txs {
                    let _ = tx.send(Arc::clone(&burst)).await;
                }
                k += BURST;
            }
            k
        })
    };
    let frames = producer.await.context("the baseline's producer")?;
    settle(
        || tally.deltas(0),
        Duration::from_millis(300),
        Duration::from_secs(60),
    )
    .await;
    receivers.abort_all();
    let elapsed = Duration::from_nanos(tally.last_ns(0).saturating_sub(t0));
    Ok(Baseline {
        deltas: tally.deltas(0),
        frames,
        elapsed,
        tally,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_deltas_frame_gets_the_seq_in_every_delta_and_has_a_single_form() {
        let t = r#"{"type":"deltas","channel":"positions","seq":9,"data":[{"a":1,"journal_seq":12},{"a":2,"journal_seq":13}]}"#;
        assert_eq!(
            super::frame(t, 7),
            r#"{"type":"deltas","channel":"positions","seq":9,"data":[{"a":1,"journal_seq":7},{"a":2,"journal_seq":7}]}"#
        );
        assert_eq!(
            super::first_delta(t, None),
            r#"{"type":"delta","channel":"positions","seq":9,"data":{"a":1,"journal_seq":12}}"#
        );
        assert_eq!(
            super::first_delta(t, Some(3)),
            r#"{"type":"deltas","channel":"positions","seq":9,"data":[{"a":1,"journal_seq":12},{"a":1,"journal_seq":12},{"a":1,"journal_seq":12}]}"#
        );
    }

    #[test]
    fn a_frame_keeps_the_template_but_its_seq() {
        let t = r#"{"type":"delta","channel":"portfolio","seq":9,"data":{"account":"A1","journal_seq":123}}"#;
        assert_eq!(
            super::frame(t, 7),
            r#"{"type":"delta","channel":"portfolio","seq":9,"data":{"account":"A1","journal_seq":7}}"#
        );
    }
}
