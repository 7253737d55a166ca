//! The `ws` scenario (issue 4): the real server (`serve::start`, store in a
//! temporary directory, demo and EOD off) with N WebSocket subscriber
//! connections on loopback, each subscribed to the `positions` and
//! `portfolio` channels of one account of the standard book; one more
//! connection loads the book (`submit`) and then drives the tick stream,
//! first open loop at a fixed offered rate, then as fast as the acks allow.
//! Figures: deltas/s delivered across the clients and tick→client latency
//! (see `client` for the method), beside a trivial broadcast server's
//! deltas/s to as many clients (`base`).

mod base;
mod client;
mod feed;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use kupala_engine::{Event, clock};
use kupala_feeds::workload::Workload;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinSet;

use super::percentiles;
use super::scenarios::{Context, what};
use crate::config::Config;
use crate::serve::{self, ServeOptions};
use client::{Stamps, Tally};
use feed::Feeder;

/// Sizes of a run.
struct Size {
    clients: usize,
    paced_ticks: u64,
    rate: f64,
    max_ticks: u64,
    baseline: Duration,
}

impl Size {
    const fn of(ctx: &Context) -> Self {
        match (ctx.tiny, ctx.quick) {
            (true, _) => Self {
                clients: 4,
                paced_ticks: 2_000,
                rate: 100_000.0,
                max_ticks: 2_000,
                baseline: Duration::from_millis(300),
            },
            (false, true) => Self {
                clients: 100,
                paced_ticks: 20_000,
                rate: 100_000.0,
                max_ticks: 20_000,
                baseline: Duration::from_millis(500),
            },
            (false, false) => Self {
                clients: 1_000,
                paced_ticks: 100_000,
                rate: 100_000.0,
                max_ticks: 100_000,
                baseline: Duration::from_secs(3),
            },
        }
    }
}

/// The soft limit on open files (Linux; `None` elsewhere).
fn open_files_limit() -> Option<u64> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Clients that fit the fd limit: each costs two descriptors (both ends
/// live in this process), plus room for the store and the runtime.
fn fitting_clients(wanted: usize) -> usize {
    match open_files_limit() {
        Some(limit) if (limit as usize) < 2 * wanted + 512 => {
            let fit = (limit as usize).saturating_sub(512) / 2;
            tracing::warn!(
                "ws: open-file limit {limit}: {fit} clients instead of {wanted} (raise it with `ulimit -n`)"
            );
            fit.max(1)
        }
        _ => wanted,
    }
}

/// The server's options: no demo, no EOD timer, no periodic snapshots,
/// room for every client, no rate limit on the feeder.
fn options(ctx: &Context, clients: usize) -> anyhow::Result<ServeOptions> {
    let mut config = Config::default_config()?;
    config.demo.enabled = false;
    config.eod.enabled = false;
    config.engine.shards = ctx.shards(true);
    config.store.snapshot_every_events = 0;
    config.store.snapshot_every_secs = 0;
    config.server.listen = "127.0.0.1:0".into();
    config.server.max_connections = clients + 64;
    config.server.max_msgs_per_sec = 1_000_000;
    config.server.max_inflight = 2 * feed::IN_FLIGHT;
    config.validate()?;
    ServeOptions::new(config, Some(ctx.dir.join("ws-store")), None, None)
}

/// One phase of the stream, as measured.
struct Phase {
    ticks: u64,
    t0: u64,
    /// Every event acknowledged (journaled and sequenced).
    acked: u64,
    deltas: u64,
    /// The messages that carried them.
    frames: u64,
    last_ns: u64,
    settled: bool,
    latency: Value,
}

impl Phase {
    /// Start → the later of the last ack and the last delta received.
    fn elapsed(&self) -> Duration {
        Duration::from_nanos(self.acked.max(self.last_ns).saturating_sub(self.t0).max(1))
    }
}

/// What the run against kupala produced.
struct Drive {
    phases: Vec<Phase>,
    seq_mismatches: u64,
    submit_errors: u64,
    closed: u64,
    sample: Option<String>,
    metrics: Value,
}

/// Indexes of the stream where each phase starts: the paced phase holds
/// the first `paced` ticks (and their trades).
fn boundary(events: &[Event], paced: u64) -> usize {
    let mut ticks = 0;
    events
        .iter()
        .position(|e| {
            ticks += u64::from(matches!(e, Event::Tick(_)));
            ticks > paced
        })
        .unwrap_or(events.len())
}

/// Loads the book, subscribes the clients, runs both phases.
async fn drive(
    addr: SocketAddr,
    w: &Workload,
    events: &[Event],
    size: &Size,
    clients: usize,
) -> anyhow::Result<Drive> {
    let split = boundary(events, size.paced_ticks);
    let stamps = Arc::new(Stamps::new(events.len(), vec![0, split]));
    let tally = Arc::new(Tally::new(2));
    let mut feeder = Feeder::new(client::connect(addr).await?, Arc::clone(&stamps));
    let opening: Vec<String> = w.opening_trades().iter().map(Event::to_json).collect();
    let last = feeder.load(&opening, 5_000).await?;
    stamps.set_base(last + 1);
    let mut subscribing = JoinSet::new();
    for i in 0..clients {
        let account = w.account_name(i % w.config().accounts).to_owned();
        let requests = ["positions", "portfolio"].map(|ch| {
            json!({"op": "subscribe", "channel": ch, "account": account, "batch": true}).to_string()
        });
        subscribing.spawn(async move { client::subscribed(addr, &requests).await });
    }
    let mut receivers = JoinSet::new();
    while let Some(ws) = subscribing.join_next().await {
        let ws = ws.context("a subscribing task")??;
        receivers.spawn(client::receive(ws, Arc::clone(&stamps), Arc::clone(&tally)));
    }
    let texts: Vec<String> = events.iter().map(Event::to_json).collect();
    let mut phases = Vec::new();
    for (p, range, rate) in [(0, 0..split, Some(size.rate)), (1, split..events.len(), None)] {
        let ticks = events[range.clone()]
            .iter()
            .filter(|e| matches!(e, Event::Tick(_)))
            .count() as u64;
        let t0 = clock::now_ns();
        feeder.run(&texts, range, rate, &stamps).await?;
        if let Err(e) = feeder.wait_acked(Duration::from_secs(300)).await {
            bail!("{e}: {}", feed::describe(&feeder.acks));
        }
        let acked = clock::now_ns();
        let settled = feed::settle(
            || tally.deltas(p),
            Duration::from_millis(500),
            Duration::from_secs(120),
        )
        .await;
        phases.push(Phase {
            ticks,
            t0,
            acked,
            deltas: tally.deltas(p),
            frames: tally.frames(p),
            last_ns: tally.last_ns(p),
            settled,
            latency: percentiles(&tally.take_hist(p)),
        });
    }
    let metrics = scrape(addr).await.context("reading the server's /metrics")?;
    receivers.abort_all();
    let acks = &feeder.acks;
    let load = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::SeqCst);
    Ok(Drive {
        phases,
        seq_mismatches: load(&acks.mismatches),
        submit_errors: load(&acks.errors),
        closed: load(&tally.closed),
        sample: tally.sample.get().cloned(),
        metrics,
    })
}

/// The server's own counters (`/metrics`) that say what fan-out did.
async fn scrape(addr: SocketAddr) -> anyhow::Result<Value> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    // The server's own address as Host: a token-less server serves no other.
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(request.as_bytes()).await?;
    let mut text = String::new();
    s.read_to_string(&mut text).await?;
    anyhow::ensure!(
        text.starts_with("HTTP/1.1 200"),
        "GET /metrics: {}",
        text.lines().next().unwrap_or("")
    );
    let mut out = serde_json::Map::new();
    for name in [
        "kupala_position_deltas_total",
        "kupala_portfolio_deltas_total",
        "kupala_messages_sent_total",
        "kupala_conflated_total",
        "kupala_dropped_total",
        "kupala_tick_to_delta_seconds_sum",
        "kupala_tick_to_delta_seconds_count",
        "kupala_tick_to_send_seconds_sum",
        "kupala_tick_to_send_seconds_count",
    ] {
        let value = text.lines().find_map(|l| {
            l.strip_prefix(name)?
                .strip_prefix(' ')?
                .trim()
                .parse::<f64>()
                .ok()
        });
        out.insert(name.trim_start_matches("kupala_").to_owned(), json!(value));
    }
    Ok(Value::Object(out))
}

fn per_sec(n: u64, d: Duration) -> f64 {
    (n as f64 / d.as_secs_f64()).round()
}

/// The ws scenario: `ws_at_100k` (open loop at the offered rate) and `ws`
/// (max), each beside the broadcast baseline.
pub(crate) fn ws(ctx: &Context) -> anyhow::Result<Vec<(String, Value)>> {
    let size = Size::of(ctx);
    let clients = fitting_clients(size.clients);
    let w = ctx.workload(None);
    let events: Vec<Event> = w.ticks(size.paced_ticks + size.max_ticks).collect();
    let runtime = |name: &str| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .thread_name(name)
            .build()
    };
    let (server_rt, client_rt) = (runtime("bench-ws-server")?, runtime("bench-ws-clients")?);
    ctx.say(&format!("ws: server with {clients} subscriber connections"));
    let running = server_rt.block_on(serve::start(options(ctx, clients)?))?;
    let outcome = client_rt.block_on(drive(running.addr, &w, &events, &size, clients));
    let _ = server_rt.block_on(running.stop())?;
    let run = outcome?;
    ctx.say("ws baseline: a trivial broadcast server");
    let template = run.sample.clone().unwrap_or_default();
    let single = base::first_delta(&template, None);
    let base = client_rt.block_on(base::run(server_rt.handle(), clients, &single, size.baseline))?;
    let base_rate = per_sec(base.deltas, base.elapsed);
    let base_latency = percentiles(&base.tally.take_hist(0));
    ctx.say("ws baseline: the same server sending kupala's `deltas` frames");
    let per_frame = run
        .phases
        .last()
        .map_or(1, |p| p.deltas.div_ceil(p.frames.max(1)));
    let template = base::first_delta(&template, Some(per_frame as usize));
    let batched = client_rt.block_on(base::run(server_rt.handle(), clients, &template, size.baseline))?;
    let batched_rate = per_sec(batched.deltas, batched.elapsed);
    let described = |ticks: u64| {
        let mut v = what(&w, ticks, ctx.shards(true), "periodic 5 ms");
        v["clients"] = json!(clients);
        v["subscriptions"] = json!("positions + portfolio of one account per client, `batch: true`");
        v
    };
    let report = |name: &str, p: &Phase, offered: Option<f64>| {
        let deltas_rate = per_sec(p.deltas, p.elapsed());
        json!({
            "name": name, "what": described(p.ticks),
            "mode": if offered.is_some() { "open loop at the offered rate; latency from each tick's due time" }
                    else { "as fast as the acks allow (128 submits of 1,000 events in flight)" },
            "offered_ticks_per_sec": offered,
            "ticks_per_sec": per_sec(p.ticks, p.elapsed()),
            "deltas": p.deltas, "deltas_per_sec": deltas_rate, "latency_us": p.latency,
            "messages": p.frames,
            "settled": p.settled,
            "baseline": "a trivial tokio WebSocket server broadcasting one-delta frames of the size kupala sent to as many clients, same client code, same run",
            "baseline_deltas_per_sec": base_rate,
            "baseline_batched": "the same server broadcasting `deltas` frames of kupala's mean deltas per message in the max phase",
            "baseline_batched_deltas_per_sec": batched_rate,
            "speedup_vs_batched": (deltas_rate / batched_rate.max(1.0) * 100.0).round() / 100.0,
            "baseline_latency_us": base_latency,
            "baseline_frames": base.frames,
            "speedup": (deltas_rate / base_rate.max(1.0) * 100.0).round() / 100.0,
            "seq_mismatches": run.seq_mismatches, "submit_errors": run.submit_errors,
            "clients_closed": run.closed, "server_counters": run.metrics,
        })
    };
    let [paced, max] = run.phases.as_slice() else {
        bail!("the ws run did not measure both phases");
    };
    let paced_name = format!("ws_at_{}k", size.rate as u64 / 1_000);
    Ok(vec![
        (paced_name.clone(), report(&paced_name, paced, Some(size.rate))),
        ("ws".to_owned(), report("ws", max, None)),
    ])
}
