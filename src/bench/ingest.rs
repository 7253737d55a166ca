//! The `ingest` scenario (issue 5): JSON Lines ticks (and one trade per
//! 100 ticks) of the standard workload over TCP loopback into a
//! [`TcpIngest`], its conflating [`IngestQueue`], and a pump thread that
//! feeds a journaled engine, as `kupala serve`'s ingest thread does.
//!
//! Phases, each on a fresh engine loaded with the opening book:
//! 1. `max`: the senders write as fast as loopback takes it; the figure is
//!    the ticks/s the engine applied, end to end (first byte → every
//!    queued event applied), beside the rate the ingest side absorbed.
//! 2. `2x`: the senders are paced at twice the engine's rate of phase 1 for
//!    a fixed time: what conflation does (ticks replaced in the queue),
//!    and trades lost (must be 0) or refused.
//!
//! Baselines in the same run: the same TCP ingest drained by a consumer
//! that drops the events (no engine: the ingest path's own ceiling), and
//! decoding the lines on one thread with no socket at all.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kupala_engine::Event;
use kupala_engine::durable::Engine;
use kupala_engine::journal_writer::SyncMode;
use kupala_feeds::queue::{IngestQueue, QueueConfig, QueueStats};
use kupala_feeds::tcp::{TcpIngest, TcpLimits};
use kupala_feeds::workload::Workload;
use serde_json::{Value, json};

use super::scenarios::{Context, rate, what};
use super::{LatencySink, percentiles};

/// Sender connections.
const SENDERS: usize = 2;
/// Events the pump takes from the queue at a time (one pipeline flush each).
const POP: usize = 4096;

/// One connection's lines, rendered before the clock starts.
struct Payload {
    bytes: Vec<u8>,
    /// Offset just past each line's `\n`.
    ends: Vec<usize>,
    /// Whether each line is a trade.
    trade: Vec<bool>,
}

impl Payload {
    /// The first `n` lines' bytes, ticks and trades.
    fn prefix(&self, n: usize) -> (usize, u64, u64) {
        let n = n.min(self.ends.len());
        let trades = self.trade[..n].iter().filter(|&&t| t).count() as u64;
        let bytes = if n == 0 { 0 } else { self.ends[n - 1] };
        (bytes, n as u64 - trades, trades)
    }
}

/// The stream of `ticks` ticks, dealt round-robin to the senders.
fn payloads(w: &Workload, ticks: u64) -> Vec<Arc<Payload>> {
    let mut out: Vec<Payload> = (0..SENDERS)
        .map(|_| Payload {
            bytes: Vec::new(),
            ends: Vec::new(),
            trade: Vec::new(),
        })
        .collect();
    for (k, e) in w.ticks(ticks).enumerate() {
        let p = &mut out[k % SENDERS];
        p.bytes.extend_from_slice(e.to_json().as_bytes());
        p.bytes.push(b'\n');
        p.ends.push(p.bytes.len());
        p.trade.push(matches!(e, Event::Trade(_)));
    }
    out.into_iter().map(Arc::new).collect()
}

/// What the consumer applied.
#[derive(Default)]
struct Applied {
    ticks: u64,
    trades: u64,
    errors: u64,
}

/// What one sender wrote.
#[derive(Default)]
struct Sent {
    bytes: usize,
    ticks: u64,
    trades: u64,
    error_replies: usize,
}

/// One phase's outcome.
struct Phase {
    /// First byte → every queued event consumed (applied, for the engine).
    elapsed: Duration,
    /// First byte → the last sender done.
    sending: Duration,
    sent: Sent,
    applied: Applied,
    queue: QueueStats,
}

/// Writes `p` (all of it, or paced at `per_sec` lines/s for `run`), then
/// reads the error replies until the server closes.
fn send(addr: SocketAddr, p: &Payload, pace: Option<(f64, Duration)>) -> std::io::Result<Sent> {
    let mut s = TcpStream::connect(addr)?;
    s.set_nodelay(true)?;
    let lines = match pace {
        None => {
            s.write_all(&p.bytes)?;
            p.ends.len()
        }
        Some((per_sec, run)) => {
            let start = Instant::now();
            let mut sent = 0usize;
            while start.elapsed() < run && sent < p.ends.len() {
                let due = ((start.elapsed().as_secs_f64() * per_sec) as usize).min(p.ends.len());
                if due > sent {
                    let from = if sent == 0 { 0 } else { p.ends[sent - 1] };
                    s.write_all(&p.bytes[from..p.ends[due - 1]])?;
                    sent = due;
                } else {
                    std::thread::sleep(Duration::from_micros(200));
                }
            }
            sent
        }
    };
    s.shutdown(Shutdown::Write)?;
    let mut replies = String::new();
    s.read_to_string(&mut replies)?;
    let (bytes, ticks, trades) = p.prefix(lines);
    Ok(Sent {
        bytes,
        ticks,
        trades,
        error_replies: replies.lines().count(),
    })
}

/// Drains `queue` into `engine` (flushing the pipeline once per pop) until
/// the queue is closed and empty, then waits until everything is applied.
fn pump(mut engine: Option<Engine>, queue: &IngestQueue) -> Applied {
    let mut batch = Vec::with_capacity(POP);
    let mut applied = Applied::default();
    while let Some(n) = queue.pop_batch(&mut batch, POP, Some(Duration::from_millis(20))) {
        for e in batch.drain(..) {
            let ok = match engine.as_mut() {
                Some(engine) => engine.submit(&e).is_ok_and(|s| s.is_some()),
                None => true,
            };
            match (&e, ok) {
                (_, false) => applied.errors += 1,
                (Event::Trade(_), true) => applied.trades += 1,
                (_, true) => applied.ticks += 1,
            }
        }
        if n > 0
            && let Some(engine) = engine.as_mut()
        {
            engine.pipeline().flush();
        }
    }
    if let Some(mut engine) = engine {
        let _ = engine.state();
        engine.finish();
    }
    applied
}

/// A journaled engine in a fresh directory, loaded with the opening book.
fn loaded_engine(ctx: &Context, w: &Workload, tag: &str, sink: &LatencySink) -> anyhow::Result<Engine> {
    let dir = ctx.dir.join(format!("ingest-{tag}"));
    let store = Context::store(SyncMode::Periodic(Duration::from_millis(5)));
    let (mut engine, _) = Engine::open(&dir, ctx.pipeline(true), store, Box::new(sink.clone()))?;
    for e in w.opening_trades() {
        engine.submit(&e)?;
    }
    engine.sync(Duration::from_secs(120)).context("journal sync")?;
    let _ = engine.state();
    let _ = sink.take();
    engine.pipeline().set_latency_stamps(true);
    Ok(engine)
}

/// One phase: TCP ingest → queue → `engine` (or a consumer that drops).
fn phase(
    engine: Option<Engine>,
    load: &[Arc<Payload>],
    pace: Option<(f64, Duration)>,
) -> anyhow::Result<Phase> {
    let queue = Arc::new(IngestQueue::new(QueueConfig::default()));
    let limits = TcpLimits {
        read_buffer: 256 << 10,
        ..TcpLimits::default()
    };
    let tcp = TcpIngest::start("127.0.0.1:0", Arc::clone(&queue), limits)?;
    let addr = tcp.local_addr();
    let start = Instant::now();
    let consumer = {
        let queue = Arc::clone(&queue);
        std::thread::Builder::new()
            .name("bench-ingest-pump".into())
            .spawn(move || pump(engine, &queue))?
    };
    let per_conn = pace.map(|(total, run)| (total / load.len() as f64, run));
    let senders: Vec<JoinHandle<std::io::Result<Sent>>> = load
        .iter()
        .map(|p| {
            let p = Arc::clone(p);
            std::thread::spawn(move || send(addr, &p, per_conn))
        })
        .collect();
    let mut sent = Sent::default();
    for s in senders {
        let s = s.join().map_err(|_| anyhow::anyhow!("a sender panicked"))??;
        sent.bytes += s.bytes;
        sent.ticks += s.ticks;
        sent.trades += s.trades;
        sent.error_replies += s.error_replies;
    }
    let sending = start.elapsed();
    // Every line received is queued once its connection thread has ended.
    tcp.stop();
    queue.close();
    let applied = consumer
        .join()
        .map_err(|_| anyhow::anyhow!("the pump panicked"))?;
    Ok(Phase {
        elapsed: start.elapsed(),
        sending,
        sent,
        applied,
        queue: queue.stats(),
    })
}

/// Lines/s of `Event::from_json` over one payload on this thread.
fn decode_only(p: &Payload) -> f64 {
    let start = Instant::now();
    let decoded = p
        .bytes
        .split(|&b| b == b'\n')
        .filter_map(|l| std::str::from_utf8(l).ok())
        .filter(|l| Event::from_json(l).is_ok())
        .count();
    rate(decoded as u64, start.elapsed())
}

/// The counts of a phase, with the accounting identities checked by the
/// harness's test: ticks sent = applied + conflated + refused, trades
/// sent = applied + refused + lost.
fn counts(p: &Phase) -> Value {
    let q = &p.queue;
    let lost = p.sent.trades.saturating_sub(p.applied.trades + q.refused.trade);
    json!({
        "ticks_sent": p.sent.ticks, "trades_sent": p.sent.trades, "bytes_sent": p.sent.bytes,
        "ticks_applied": p.applied.ticks, "trades_applied": p.applied.trades,
        "ticks_conflated": q.conflated, "ticks_refused": q.refused.tick,
        "trades_refused": q.refused.trade, "trades_lost": lost, "engine_errors": p.applied.errors,
        "error_replies": p.sent.error_replies, "max_queue_depth": q.max_depth,
        "conflated_fraction": if p.sent.ticks == 0 { 0.0 } else {
            (q.conflated as f64 / p.sent.ticks as f64 * 10_000.0).round() / 10_000.0 },
        "elapsed_s": secs(p.elapsed), "sending_s": secs(p.sending),
        "offered_lines_per_sec": rate(p.sent.ticks + p.sent.trades, p.sending),
    })
}

/// Seconds to the microsecond, so the JSON reads back as the same `f64`.
fn secs(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1e3).round() / 1e6
}

/// Ticks of the max phase, and seconds of the paced one.
fn sizes(ctx: &Context) -> (u64, Duration) {
    match (ctx.tiny, ctx.quick) {
        (true, _) => (5_000, Duration::from_millis(300)),
        (false, true) => (200_000, Duration::from_millis(1_500)),
        (false, false) => (2_000_000, Duration::from_secs(5)),
    }
}

/// The ingest scenario: `ingest` (max) and `ingest_2x` (paced at twice the
/// engine's rate), beside the no-engine and decode-only baselines.
pub(crate) fn ingest(ctx: &Context) -> anyhow::Result<Vec<(String, Value)>> {
    let w = ctx.workload(None);
    let (ticks, run) = sizes(ctx);
    ctx.say(&format!("ingest: rendering {ticks} ticks as JSON lines"));
    let load = payloads(&w, ticks);
    let decode = decode_only(&load[0]);
    ctx.say("ingest baseline: TCP → queue, no engine");
    let base = phase(None, &load, None)?;
    let base_rate = rate(base.sent.ticks, base.elapsed);
    ctx.say("ingest: TCP → queue → journaled engine, max rate");
    let sink = LatencySink::new();
    let max = phase(Some(loaded_engine(ctx, &w, "max", &sink)?), &load, None)?;
    let max_latency = percentiles(&sink.take());
    let max_rate = rate(max.sent.ticks, max.elapsed);
    let offered = 2.0 * rate(max.applied.ticks + max.applied.trades, max.elapsed);
    let needed = ((offered * run.as_secs_f64() * 1.05) as u64).clamp(1_000, 8_000_000);
    ctx.say(&format!(
        "ingest: offered {offered} lines/s for {run:?} ({needed} ticks)"
    ));
    let paced_load = if needed <= ticks {
        load
    } else {
        payloads(&w, needed)
    };
    let paced = phase(
        Some(loaded_engine(ctx, &w, "2x", &sink)?),
        &paced_load,
        Some((offered, run)),
    )?;
    let described = |t: u64| {
        let mut v = what(&w, t, ctx.shards(true), "periodic 5 ms");
        v["senders"] = json!(SENDERS);
        v["queue_capacity"] = json!(QueueConfig::default().capacity);
        v
    };
    let baseline = "ticks taken in per second by the same TCP ingest and queue drained by a consumer that drops the events (no engine), same run";
    let speedup = |r: f64| (r / base_rate * 100.0).round() / 100.0;
    let paced_rate = rate(paced.sent.ticks, paced.elapsed);
    let paced_latency = percentiles(&sink.take());
    let latency =
        "from the pump handing the event to the engine to the aggregator's output (queue wait not included)";
    Ok(vec![
        (
            "ingest".to_owned(),
            json!({
                "name": "ingest", "what": described(max.sent.ticks),
                "mode": "senders as fast as loopback takes it; ticks/s = ticks taken in (applied or conflated, none lost), first byte to last applied",
                "ticks_per_sec": max_rate,
                "applied_ticks_per_sec": rate(max.applied.ticks, max.elapsed),
                "latency_us": max_latency, "latency": latency,
                "ingested_lines_per_sec": rate(max.sent.ticks + max.sent.trades, max.sending),
                "mb_per_sec": (max.sent.bytes as f64 / max.sending.as_secs_f64() / 1e4).round() / 100.0,
                "baseline": baseline, "baseline_ticks_per_sec": base_rate, "speedup": speedup(max_rate),
                "decode_only_lines_per_sec": decode,
                "counts": counts(&max), "baseline_counts": counts(&base),
            }),
        ),
        (
            "ingest_2x".to_owned(),
            json!({
                "name": "ingest_2x", "what": described(paced.sent.ticks),
                "mode": "senders paced at twice the lines/s the engine applied in `ingest`, for a fixed time",
                "offered_lines_per_sec": offered,
                "ticks_per_sec": paced_rate,
                "applied_ticks_per_sec": rate(paced.applied.ticks, paced.elapsed),
                "latency_us": paced_latency, "latency": latency,
                "baseline": baseline, "baseline_ticks_per_sec": base_rate, "speedup": speedup(paced_rate),
                "counts": counts(&paced),
            }),
        ),
    ])
}
