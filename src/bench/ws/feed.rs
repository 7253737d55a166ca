//! The load generator of the `ws` scenario: one WebSocket connection that
//! submits the stream in batches (`{"op":"submit","events":[...]}`),
//! pipelined up to [`IN_FLIGHT`] unacknowledged batches, stamping each
//! event's due time in [`Stamps`] before it is sent.
//!
//! Open loop at a fixed rate: event `k` of a phase is due at
//! `t0 + k / rate`; every millisecond or so the feeder sends whatever is
//! due, so a late send (server backpressure) does not move the schedule.
//! At max rate each batch is stamped with its send time.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::bail;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use kupala_engine::clock;
use serde_json::Value;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;

use super::client::{Stamps, Ws};

/// Submits awaiting their ack at once (the server allows `max_inflight`).
pub(crate) const IN_FLIGHT: usize = 128;
/// Events per submit at max rate.
const MAX_BATCH: usize = 1_000;

/// What the acks said.
#[derive(Default)]
pub(crate) struct Acks {
    /// Events acknowledged.
    pub(crate) events: AtomicU64,
    /// The highest seq acknowledged.
    pub(crate) last_seq: AtomicU64,
    /// Submits answered with an error.
    pub(crate) errors: AtomicU64,
    /// Acks whose first seq was not `base + k` (the latency lookup would be
    /// wrong): must stay 0.
    pub(crate) mismatches: AtomicU64,
}

/// The feeding connection.
pub(crate) struct Feeder {
    sink: SplitSink<Ws, Message>,
    permits: Arc<Semaphore>,
    pub(crate) acks: Arc<Acks>,
    reader: JoinHandle<()>,
    sent: u64,
}

impl Feeder {
    /// Takes over a connection; `stamps` checks the acks' seqs.
    pub(crate) fn new(ws: Ws, stamps: Arc<Stamps>) -> Self {
        let (sink, mut source) = ws.split();
        let permits = Arc::new(Semaphore::new(IN_FLIGHT));
        let acks = Arc::new(Acks::default());
        let reader = {
            let (permits, acks) = (Arc::clone(&permits), Arc::clone(&acks));
            tokio::spawn(async move {
                while let Some(Ok(msg)) = source.next().await {
                    if let Message::Text(t) = msg {
                        on_reply(t.as_str(), &acks, &stamps);
                        permits.add_permits(1);
                    }
                }
            })
        };
        Self {
            sink,
            permits,
            acks,
            reader,
            sent: 0,
        }
    }

    /// Sends one submit of `events` (JSON texts) with request id `id`.
    async fn submit(&mut self, id: &str, events: &[String]) -> anyhow::Result<()> {
        self.permits.acquire().await?.forget();
        let len: usize = events.iter().map(|e| e.len() + 1).sum();
        let mut s = String::with_capacity(len + 64);
        s.push_str(r#"{"op":"submit","id":"#);
        s.push_str(id);
        s.push_str(r#","events":["#);
        for (i, e) in events.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            s.push_str(e);
        }
        s.push_str("]}");
        self.sink.send(Message::text(s)).await?;
        self.sent += events.len() as u64;
        Ok(())
    }

    /// Submits `events` in batches of `batch` (ids `"load"`, not checked)
    /// and waits for every ack; the last seq.
    pub(crate) async fn load(&mut self, events: &[String], batch: usize) -> anyhow::Result<u64> {
        for chunk in events.chunks(batch.max(1)) {
            self.submit(r#""load""#, chunk).await?;
        }
        self.wait_acked(Duration::from_secs(300)).await?;
        Ok(self.acks.last_seq.load(Ordering::SeqCst))
    }

    /// Sends `texts[range]` (index `k` is stream event `k`), paced at
    /// `rate` events/s (open loop) or as fast as the acks allow.
    pub(crate) async fn run(
        &mut self,
        texts: &[String],
        range: Range<usize>,
        rate: Option<f64>,
        stamps: &Stamps,
    ) -> anyhow::Result<()> {
        let (start, t0) = (range.start, clock::now_ns());
        let mut k = start;
        while k < range.end {
            let end = match rate {
                None => (k + MAX_BATCH).min(range.end),
                Some(r) => {
                    let due = start + ((clock::now_ns() - t0) as f64 * r / 1e9) as usize + 1;
                    if due <= k {
                        tokio::time::sleep(Duration::from_micros(500)).await;
                        continue;
                    }
                    due.min(range.end).min(k + MAX_BATCH * 10)
                }
            };
            let now = clock::now_ns();
            for j in k..end {
                let due = rate.map_or(now, |r| t0 + ((j - start) as f64 * 1e9 / r) as u64);
                stamps.stamp(j, due.max(1));
            }
            self.submit(&k.to_string(), &texts[k..end]).await?;
            k = end;
        }
        Ok(())
    }

    /// Waits until every event sent so far is acknowledged (durable).
    pub(crate) async fn wait_acked(&self, within: Duration) -> anyhow::Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        while self.acks.events.load(Ordering::SeqCst) + self.acks.errors.load(Ordering::SeqCst) < self.sent {
            if tokio::time::Instant::now() > deadline {
                bail!("submits not acknowledged within {within:?}");
            }
            if self.reader.is_finished() {
                bail!("the feeding connection closed");
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Ok(())
    }
}

/// Counts an ack (checking its first seq against `base + id`) or an error.
fn on_reply(text: &str, acks: &Acks, stamps: &Stamps) {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return;
    };
    if v["type"] != "ack" {
        acks.errors.fetch_add(1, Ordering::SeqCst);
        tracing::warn!("ws feeder: {text}");
        return;
    }
    let list = v["seq"].as_array().map_or(&[][..], Vec::as_slice);
    let seqs: Vec<u64> = list.iter().filter_map(Value::as_u64).collect();
    if let Some(k) = v["id"].as_u64() {
        let expected = stamps.base().saturating_add(k);
        if seqs.first() != Some(&expected) {
            acks.mismatches.fetch_add(1, Ordering::SeqCst);
        }
    }
    if let Some(&last) = seqs.iter().max() {
        acks.last_seq.fetch_max(last, Ordering::SeqCst);
    }
    acks.events.fetch_add(list.len() as u64, Ordering::SeqCst);
}

/// Waits until `count()` stops moving for `quiet`, at most `within`.
pub(crate) async fn settle(count: impl Fn() -> u64, quiet: Duration, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    let step = Duration::from_millis(50);
    let mut last = count();
    let mut still = Duration::ZERO;
    while still < quiet {
        if tokio::time::Instant::now() > deadline {
            return false;
        }
        tokio::time::sleep(step).await;
        let now = count();
        still = if now == last { still + step } else { Duration::ZERO };
        last = now;
    }
    true
}

/// The acks so far, for an error message.
pub(crate) fn describe(acks: &Acks) -> String {
    format!(
        "acked {} events, {} errors, {} seq mismatches",
        acks.events.load(Ordering::SeqCst),
        acks.errors.load(Ordering::SeqCst),
        acks.mismatches.load(Ordering::SeqCst)
    )
}
