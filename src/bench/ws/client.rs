//! The subscriber side of the `ws` scenario: real WebSocket client
//! connections that count the delta frames they receive and record each
//! one's tick→client latency.
//!
//! Latency method: the load generator is the only submitter, so the event
//! at index `k` of the stream gets journal seq `base + k` (the feeder checks
//! every ack against it). Before sending an event the generator stores
//! when it was *due* (`clock::now_ns`, the same process clock the clients
//! read) in [`Stamps`]; every position and portfolio delta carries the
//! `journal_seq` of the last event that changed it, so a client that
//! receives a delta looks up that event's due time: latency = receipt −
//! due, charged from the schedule (open loop, no coordinated omission).

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::{Context as _, bail};
use futures_util::{FutureExt, SinkExt, StreamExt};
use hdrhistogram::Histogram;
use kupala_engine::clock;
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;

use crate::bench::histogram;

/// A client connection.
pub(crate) type Ws = WebSocketStream<TcpStream>;

/// Latency samples a client keeps before adding them to the shared histogram.
const FLUSH_SAMPLES: usize = 256;
/// How long a client's counts may lag behind what it received.
const FLUSH_NS: u64 = 5_000_000;

/// When each event of the stream was due, by index; phases partition the
/// indexes.
pub(crate) struct Stamps {
    /// The journal seq of index 0.
    base: AtomicU64,
    due: Vec<AtomicU64>,
    /// Start index of each phase, ascending; phase `p` is
    /// `starts[p]..starts[p + 1]`.
    starts: Vec<usize>,
}

impl Stamps {
    pub(crate) fn new(events: usize, starts: Vec<usize>) -> Self {
        Self {
            base: AtomicU64::new(u64::MAX),
            due: (0..events).map(|_| AtomicU64::new(0)).collect(),
            starts,
        }
    }

    pub(crate) fn set_base(&self, seq: u64) {
        self.base.store(seq, Ordering::SeqCst);
    }

    pub(crate) fn base(&self) -> u64 {
        self.base.load(Ordering::SeqCst)
    }

    /// Records that event `k` was due at `ns`.
    pub(crate) fn stamp(&self, k: usize, ns: u64) {
        if let Some(d) = self.due.get(k) {
            d.store(ns, Ordering::Release);
        }
    }

    /// The phase and due time of the event with journal seq `seq`.
    fn lookup(&self, seq: u64) -> Option<(usize, u64)> {
        let k = usize::try_from(seq.checked_sub(self.base())?).ok()?;
        let due = self.due.get(k)?.load(Ordering::Acquire);
        let phase = self.starts.partition_point(|&s| s <= k).checked_sub(1)?;
        (due != 0).then_some((phase, due))
    }
}

/// What the clients received in one phase.
pub(crate) struct PhaseTally {
    pub(crate) deltas: AtomicU64,
    /// Messages that carried them (a `deltas` message carries several).
    pub(crate) frames: AtomicU64,
    pub(crate) last_ns: AtomicU64,
    hist: Mutex<Histogram<u64>>,
}

/// What every client received.
pub(crate) struct Tally {
    pub(crate) phases: Vec<PhaseTally>,
    /// Delta frames of no phase (the book's loading).
    pub(crate) other: AtomicU64,
    /// Connections closed by the server (slow, overflow) or failed.
    pub(crate) closed: AtomicU64,
    /// One delta frame as received, the baseline's template.
    pub(crate) sample: OnceLock<String>,
}

impl Tally {
    pub(crate) fn new(phases: usize) -> Self {
        Self {
            phases: (0..phases)
                .map(|_| PhaseTally {
                    deltas: AtomicU64::new(0),
                    frames: AtomicU64::new(0),
                    last_ns: AtomicU64::new(0),
                    hist: Mutex::new(histogram()),
                })
                .collect(),
            other: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            sample: OnceLock::new(),
        }
    }

    /// Deltas received so far in phase `p`.
    pub(crate) fn deltas(&self, p: usize) -> u64 {
        self.phases.get(p).map_or(0, |t| t.deltas.load(Ordering::Relaxed))
    }

    /// Messages with deltas received so far in phase `p`.
    pub(crate) fn frames(&self, p: usize) -> u64 {
        self.phases.get(p).map_or(0, |t| t.frames.load(Ordering::Relaxed))
    }

    /// When the last delta of phase `p` arrived.
    pub(crate) fn last_ns(&self, p: usize) -> u64 {
        self.phases
            .get(p)
            .map_or(0, |t| t.last_ns.load(Ordering::Relaxed))
    }

    /// Phase `p`'s latency histogram (taken: left empty).
    pub(crate) fn take_hist(&self, p: usize) -> Histogram<u64> {
        self.phases
            .get(p)
            .and_then(|t| {
                t.hist
                    .lock()
                    .ok()
                    .map(|mut h| std::mem::replace(&mut *h, histogram()))
            })
            .unwrap_or_else(histogram)
    }
}

/// One client's unflushed counts.
struct Local {
    deltas: Vec<u64>,
    frames: Vec<u64>,
    last_ns: Vec<u64>,
    samples: Vec<Vec<u64>>,
    since: u64,
}

impl Local {
    fn new(phases: usize) -> Self {
        Self {
            deltas: vec![0; phases],
            frames: vec![0; phases],
            last_ns: vec![0; phases],
            samples: vec![Vec::with_capacity(FLUSH_SAMPLES); phases],
            since: clock::now_ns(),
        }
    }

    fn flush(&mut self, tally: &Tally, now: u64) {
        for (p, t) in tally.phases.iter().enumerate() {
            if self.deltas[p] > 0 || self.frames[p] > 0 {
                t.deltas
                    .fetch_add(std::mem::take(&mut self.deltas[p]), Ordering::Relaxed);
                t.frames
                    .fetch_add(std::mem::take(&mut self.frames[p]), Ordering::Relaxed);
                t.last_ns.fetch_max(self.last_ns[p], Ordering::Relaxed);
            }
            if !self.samples[p].is_empty()
                && let Ok(mut h) = t.hist.lock()
            {
                for ns in self.samples[p].drain(..) {
                    h.saturating_record(ns.max(1));
                }
            }
        }
        self.since = now;
    }
}

/// The `journal_seq` of a delta frame's data (the last field of a
/// position or portfolio).
fn journal_seq(text: &str) -> Option<u64> {
    const KEY: &str = "\"journal_seq\":";
    let at = text.rfind(KEY)? + KEY.len();
    let digits = text[at..].split(|c: char| !c.is_ascii_digit()).next()?;
    digits.parse().ok()
}

/// Every `journal_seq` of a frame's data, in order (one per delta of a
/// `deltas` message).
fn journal_seqs(text: &str) -> impl Iterator<Item = Option<u64>> + '_ {
    const KEY: &str = "\"journal_seq\":";
    text.match_indices(KEY).map(|(at, _)| {
        let rest = &text[at + KEY.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
    })
}

fn on_text(text: &str, stamps: &Stamps, tally: &Tally, local: &mut Local) {
    let batch = text.starts_with(r#"{"type":"deltas""#);
    if !batch && !text.starts_with(r#"{"type":"delta""#) {
        return;
    }
    let now = clock::now_ns();
    let phase = if batch {
        journal_seqs(text).fold(None, |p, seq| on_delta(seq, now, stamps, tally, local).or(p))
    } else {
        on_delta(journal_seq(text), now, stamps, tally, local)
    };
    if let Some(p) = phase {
        local.frames[p] += 1;
    }
    // The baselines' template: a position delta, the bulk of what is sent.
    if tally.sample.get().is_none()
        && text.contains(r#""channel":"positions""#)
        && journal_seq(text).is_some()
    {
        let _ = tally.sample.set(text.to_owned());
    }
    if now.saturating_sub(local.since) > FLUSH_NS {
        local.flush(tally, now);
    }
}

/// Counts one delta received at `now` and its latency; its phase.
fn on_delta(seq: Option<u64>, now: u64, stamps: &Stamps, tally: &Tally, local: &mut Local) -> Option<usize> {
    let Some((p, due)) = seq.and_then(|s| stamps.lookup(s)) else {
        tally.other.fetch_add(1, Ordering::Relaxed);
        return None;
    };
    local.deltas[p] += 1;
    local.last_ns[p] = now;
    local.samples[p].push(now.saturating_sub(due));
    if local.samples[p].len() >= FLUSH_SAMPLES {
        local.flush(tally, now);
    }
    Some(p)
}

/// Receives until the connection ends (or the task is aborted), counting
/// delta frames and their latency.
pub(crate) async fn receive(mut ws: Ws, stamps: Arc<Stamps>, tally: Arc<Tally>) {
    let mut local = Local::new(tally.phases.len());
    loop {
        // Nothing waiting: hand the counts over before sleeping, so a
        // quiet connection's counts are never stale.
        let msg = match ws.next().now_or_never() {
            Some(m) => m,
            None => {
                local.flush(&tally, clock::now_ns());
                ws.next().await
            }
        };
        match msg {
            Some(Ok(Message::Text(t))) => on_text(t.as_str(), &stamps, &tally, &mut local),
            Some(Ok(_)) => {}
            Some(Err(_)) | None => {
                tally.closed.fetch_add(1, Ordering::Relaxed);
                break;
            }
        }
    }
    local.flush(&tally, clock::now_ns());
}

/// Opens a WebSocket connection on `addr`.
pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<Ws> {
    let stream = TcpStream::connect(addr).await.context("connecting")?;
    stream.set_nodelay(true)?;
    let (ws, _) = tokio_tungstenite::client_async(format!("ws://{addr}/ws"), stream).await?;
    Ok(ws)
}

/// Connects and sends each subscribe request, waiting for every snapshot.
pub(crate) async fn subscribed(addr: SocketAddr, requests: &[String]) -> anyhow::Result<Ws> {
    let mut ws = connect(addr).await?;
    for r in requests {
        ws.send(Message::text(r.clone())).await?;
    }
    let mut snapshots = 0;
    while snapshots < requests.len() {
        let msg = tokio::time::timeout(Duration::from_secs(30), ws.next())
            .await
            .context("no snapshot within 30 s")?;
        match msg {
            Some(Ok(Message::Text(t))) if t.as_str().starts_with(r#"{"type":"snapshot""#) => snapshots += 1,
            Some(Ok(Message::Text(t))) if t.as_str().starts_with(r#"{"type":"error""#) => {
                bail!("subscribe refused: {}", t.as_str());
            }
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(e.into()),
            None => bail!("closed while subscribing"),
        }
    }
    Ok(ws)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_journal_seq_and_its_phase() {
        let text = r#"{"type":"delta","channel":"portfolio","seq":3,"data":{"account":"A0001","net_pnl":"1.5","journal_seq":1042}}"#;
        assert_eq!(journal_seq(text), Some(1042));
        let stamps = Stamps::new(100, vec![0, 50]);
        stamps.set_base(1000);
        stamps.stamp(42, 7);
        assert_eq!(stamps.lookup(1042), Some((0, 7)));
        stamps.stamp(60, 9);
        assert_eq!(stamps.lookup(1060), Some((1, 9)));
        assert_eq!(stamps.lookup(1043), None, "not stamped");
        assert_eq!(stamps.lookup(999), None, "before the stream");
    }
}
