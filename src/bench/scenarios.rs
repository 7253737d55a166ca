//! The scenarios of `kupala bench`. Each reports what it ran (workload
//! sizes, shards, sync mode) beside its figures.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::{Event, NullSink, PipelineConfig, clock};
use kupala_feeds::workload::{Workload, WorkloadConfig};
use serde_json::{Value, json};

use super::naive::Naive;
use super::reference;
use super::{BenchOptions, LatencySink, percentiles};
use crate::history::{ReplayOptions, Speed};

/// Events of the stream the naive baseline runs (it re-sums every affected
/// portfolio per tick, so the whole stream would take minutes); `--quick`
/// runs a fifth of them.
const NAIVE_EVENTS: usize = 50_000;

/// Shared settings of a run.
pub(crate) struct Context {
    pub(crate) quick: bool,
    pub(crate) tiny: bool,
    /// `--shards`, or `None`: each run uses `default_shards` for its mode.
    shards: Option<usize>,
    pub(crate) dir: PathBuf,
    progress: bool,
}

impl Context {
    pub(crate) fn new(opts: &BenchOptions, dir: &Path) -> Self {
        Self {
            quick: opts.quick,
            tiny: opts.tiny,
            shards: opts.shards,
            dir: dir.to_owned(),
            progress: opts.progress,
        }
    }

    /// The workload: the standard one (docs/benchmarks.md), or a small one of the same
    /// shape for the harness's own test.
    pub(crate) fn workload(&self, accounts: Option<usize>) -> Workload {
        let base = if self.tiny {
            WorkloadConfig::small()
        } else {
            WorkloadConfig::standard()
        };
        Workload::new(WorkloadConfig {
            accounts: accounts.unwrap_or(base.accounts),
            ..base
        })
    }

    /// Ticks to run: tiny, quick or full.
    pub(crate) fn ticks(&self) -> u64 {
        match (self.tiny, self.quick) {
            (true, _) => 5_000,
            (false, true) => 200_000,
            (false, false) => 2_000_000,
        }
    }

    pub(crate) fn say(&self, what: &str) {
        if self.progress {
            tracing::info!("{what}");
        }
    }

    /// The shard count of a run: `--shards`, or the default for its mode.
    pub(crate) fn shards(&self, coalesce: bool) -> usize {
        self.shards
            .unwrap_or_else(|| kupala_engine::default_shards(coalesce))
    }

    pub(crate) fn pipeline(&self, coalesce: bool) -> PipelineConfig {
        PipelineConfig {
            shards: self.shards(coalesce),
            coalesce,
            conflate_ticks: false,
            emit_positions: false,
            ..PipelineConfig::default()
        }
    }

    pub(crate) fn store(sync: SyncMode) -> StoreConfig {
        StoreConfig {
            sync,
            snapshot_every_events: 0,
            snapshot_every: None,
            ..StoreConfig::default()
        }
    }
}

pub(crate) fn rate(n: u64, d: Duration) -> f64 {
    (n as f64 / d.as_secs_f64()).round()
}

/// Milliseconds with 3 decimals: a value that reads back from the JSON
/// as the same `f64` (a full-precision product need not).
pub(crate) fn millis(d: Duration) -> f64 {
    (d.as_nanos() as f64 / 1e3).round() / 1e3
}

/// Resident memory of this process in bytes (Linux; 0 elsewhere).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1).and_then(|p| p.parse::<u64>().ok()))
        .map_or(0, |pages| pages * 4096)
}

pub(crate) fn what(w: &Workload, ticks: u64, shards: usize, sync: &str) -> Value {
    let c = w.config();
    json!({
        "instruments": c.instruments, "accounts": c.accounts, "positions": w.positions().len(),
        "ticks": ticks, "trade_every": c.trade_every, "shards": shards, "sync": sync,
        "mean_positions_per_tick": (w.mean_positions_per_tick() * 10.0).round() / 10.0,
    })
}

/// One max-throughput or paced run of ticks through a journaled engine.
pub(crate) struct Run {
    pub(crate) elapsed: Duration,
    pub(crate) latency: Value,
}

fn engine_run(
    ctx: &Context,
    w: &Workload,
    ticks: &[Event],
    coalesce: bool,
    pace: Option<f64>,
    tag: &str,
) -> anyhow::Result<Run> {
    let book = Book {
        pipeline: ctx.pipeline(coalesce),
        opening: w.opening_trades(),
    };
    engine_run_on(ctx, &book, ticks, pace, tag)
}

/// What a run starts from: the engine's configuration and the events that
/// open its book.
pub(crate) struct Book {
    pub(crate) pipeline: PipelineConfig,
    pub(crate) opening: Vec<Event>,
}

/// [`engine_run`] from `book`.
pub(crate) fn engine_run_on(
    ctx: &Context,
    book: &Book,
    ticks: &[Event],
    pace: Option<f64>,
    tag: &str,
) -> anyhow::Result<Run> {
    let dir = ctx.dir.join(format!("engine-{tag}"));
    let sink = LatencySink::new();
    let (mut engine, _) = Engine::open(
        &dir,
        book.pipeline.clone(),
        Context::store(SyncMode::Periodic(Duration::from_millis(5))),
        Box::new(sink.clone()),
    )?;
    for e in &book.opening {
        engine.submit(e)?;
    }
    engine.sync(Duration::from_secs(120)).context("journal sync")?;
    let _ = engine.state();
    let _ = sink.take();
    let p = engine.pipeline();
    // At max throughput each batch is stamped as it starts (`submit`);
    // paced, each event carries the time it was due.
    p.set_latency_stamps(pace.is_none());
    let start = Instant::now();
    let t0 = clock::now_ns();
    for (k, e) in ticks.iter().enumerate() {
        let due = match pace {
            Some(r) => {
                let due = t0 + (k as f64 * 1e9 / r) as u64;
                if clock::now_ns() < due {
                    p.flush();
                    while clock::now_ns() < due {
                        std::thread::yield_now();
                    }
                }
                due
            }
            None => {
                p.submit(e)?;
                continue;
            }
        };
        p.submit_stamped(e, due)?;
    }
    let _ = engine.state();
    let elapsed = start.elapsed();
    let latency = percentiles(&sink.take());
    engine.finish();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(Run { elapsed, latency })
}

/// The engine scenario: every-tick and coalesced at max throughput, then
/// open-loop fixed offered loads, beside the naive baseline.
pub(crate) fn engine(ctx: &Context) -> anyhow::Result<Vec<(String, Value)>> {
    ctx.say("generating the standard workload");
    let w = ctx.workload(None);
    let n = ctx.ticks();
    let ticks: Vec<Event> = w.ticks(n).collect();

    ctx.say("naive baseline");
    let mut naive = Naive::default();
    w.opening_trades().iter().for_each(|e| naive.apply(e));
    // The baseline runs the stream's first events only (it is ~100× slower);
    // its rate on that prefix is what the speedup divides by.
    let naive_events = if ctx.quick { NAIVE_EVENTS / 5 } else { NAIVE_EVENTS };
    let prefix = &ticks[..ticks.len().min(naive_events)];
    let start = Instant::now();
    prefix.iter().for_each(|e| naive.apply(e));
    let naive_ticks = prefix.iter().filter(|e| matches!(e, Event::Tick(_))).count() as u64;
    let naive_rate = rate(naive_ticks, start.elapsed());
    let checksum = naive.checksum();

    let opening = w.opening_trades();
    let mem_before = rss();
    let mut mem_engine = kupala_engine::Pipeline::start(ctx.pipeline(true), Box::new(NullSink));
    for e in &opening {
        mem_engine.submit(e)?;
    }
    // Waits for every trade through a cut of the totals only (a full state
    // cut would allocate every position's state, which the allocator keeps
    // resident after it is freed).
    let _ = mem_engine.totals();
    let bytes_per_position = rss().saturating_sub(mem_before) / w.positions().len().max(1) as u64;
    drop(mem_engine);

    let mut out = Vec::new();
    for (name, coalesce) in [("engine", false), ("engine_coalesced", true)] {
        // Every tick runs on a fifth of the stream (~20× slower than
        // coalesced): the full run stays well under 10 minutes.
        let run_ticks = if !coalesce {
            &ticks[..ticks.len() / 5]
        } else {
            &ticks[..]
        };
        let tick_count = run_ticks.iter().filter(|e| matches!(e, Event::Tick(_))).count() as u64;
        ctx.say(&format!("{name}: {tick_count} ticks at max throughput"));
        let run = engine_run(ctx, &w, run_ticks, coalesce, None, name)?;
        let r = rate(tick_count, run.elapsed);
        // The reference on the very same events (this run's whole stream, not
        // a prefix), coalescing per pipeline batch as the engine does.
        ctx.say(&format!("{name}: reference loop"));
        let batch = coalesce.then_some(ctx.pipeline(true).batch_size);
        let reference = reference::run(&opening, run_ticks, batch);
        let ref_rate = rate(reference.ticks, reference.elapsed);
        out.push((
            name.to_owned(),
            json!({
                "name": name,
                "what": what(&w, tick_count, ctx.shards(coalesce), "periodic 5 ms"),
                "mode": if coalesce { "coalesced per batch" } else { "every tick applied" },
                "ticks_per_sec": r,
                "latency_us": run.latency,
                "baseline": format!("naive: one thread, re-sum every affected portfolio on each tick (first {} events of the same stream)", prefix.len()),
                "baseline_ticks_per_sec": naive_rate,
                "speedup": (r / naive_rate * 100.0).round() / 100.0,
                "baseline_checksum": checksum.to_string(),
                "reference": format!("scale reference loop (kupala::bench::reference, docs/benchmarks.md): one thread, positions contiguous per instrument, exact i128, totals by deltas, {}; the same opening book and all {} events of this run (its trades skipped)", if coalesce { format!("marks coalesced per {}-event batch", batch.unwrap_or(0)) } else { "every tick repriced".to_owned() }, run_ticks.len()),
                "reference_ticks_per_sec": ref_rate,
                "vs_reference": (r / ref_rate * 1000.0).round() / 1000.0,
                "reference_checksum": reference.checksum.to_string(),
                "bytes_per_position": bytes_per_position,
            }),
        ));
    }
    let loads: &[f64] = if ctx.quick {
        &[100_000.0]
    } else {
        &[100_000.0, 1_000_000.0]
    };
    for &offered in loads {
        let count = ((offered * if ctx.quick { 1.0 } else { 2.0 }) as usize).min(ticks.len());
        ctx.say(&format!("fixed load {offered} ticks/s, {count} events"));
        let run = engine_run(ctx, &w, &ticks[..count], true, Some(offered), "paced")?;
        let sent = ticks[..count]
            .iter()
            .filter(|e| matches!(e, Event::Tick(_)))
            .count() as u64;
        let name = format!("engine_at_{}k", offered as u64 / 1000);
        out.push((
            name.clone(),
            json!({
                "name": name,
                "what": what(&w, sent, ctx.shards(true), "periodic 5 ms"),
                "mode": "open loop, latency from each event's due time (no coordinated omission), coalesced",
                "offered_ticks_per_sec": offered,
                "ticks_per_sec": rate(sent, run.elapsed),
                "latency_us": run.latency,
                "baseline_ticks_per_sec": naive_rate,
                "speedup": (rate(sent, run.elapsed) / naive_rate * 100.0).round() / 100.0,
            }),
        ));
    }
    Ok(out)
}

/// Journal append events/s per sync mode, then replay of the stored journal.
pub(crate) fn journal_and_replay(ctx: &Context) -> anyhow::Result<(Value, Value)> {
    let w = ctx.workload(None);
    let n = ctx.ticks();
    let mut events = w.opening_trades();
    events.extend(w.ticks(n));
    let mut journal = serde_json::Map::new();
    journal.insert("name".into(), json!("journal"));
    journal.insert("what".into(), json!({"events": events.len(), "shards": ctx.shards(true), "batch_events": PipelineConfig::default().batch_size}));
    let mut kept = None;
    for (label, sync) in [
        ("always", SyncMode::Always),
        ("periodic_5ms", SyncMode::Periodic(Duration::from_millis(5))),
    ] {
        ctx.say(&format!("journal, sync {label}: {} events", events.len()));
        let dir = ctx.dir.join(format!("journal-{label}"));
        let (mut engine, _) =
            Engine::open(&dir, ctx.pipeline(true), Context::store(sync), Box::new(NullSink))?;
        let start = Instant::now();
        for e in &events {
            engine.submit(e)?;
        }
        engine.sync(Duration::from_secs(300)).context("journal sync")?;
        let elapsed = start.elapsed();
        engine.finish();
        journal.insert(
            format!("events_per_sec_sync_{label}"),
            json!(rate(events.len() as u64, elapsed)),
        );
        kept = Some(dir);
    }
    let dir = kept.context("no journal written")?;
    ctx.say("replay");
    let opts = ReplayOptions {
        from: None,
        to: None,
        speed: Speed::Max,
        progress: false,
    };
    let start = Instant::now();
    let _ = crate::history::replay(&dir, ctx.pipeline(true), &opts)?;
    let elapsed = start.elapsed();
    let store = kupala_engine::store::Store::open(&dir)?;
    let keys = store.journal_keys()?;
    let start = Instant::now();
    let mut decoded = 0u64;
    for k in &keys {
        decoded += store.journal_batch(*k)?.events.len() as u64;
    }
    let decode = start.elapsed();
    // The journal's own bytes (its encoding, before fjall's framing): all
    // of it, and the batches of the tick stream after the opening book.
    let sizes = store.journal_sizes()?;
    let opening = w.positions().len() as u64;
    let all_bytes: usize = sizes.iter().map(|&(_, n)| n).sum();
    let stream_bytes: usize = sizes.iter().filter(|&&(s, _)| s > opening).map(|&(_, n)| n).sum();
    let stream_events = events.len() as u64
        - sizes
            .iter()
            .find(|&&(s, _)| s > opening)
            .map_or(0, |&(s, _)| s - 1);
    let replay = json!({
        "name": "replay",
        "what": {"events": events.len(), "journal_batches": keys.len(), "shards": ctx.shards(true), "bytes_on_disk": store.disk_space()},
        "events_per_sec": rate(events.len() as u64, elapsed),
        "decode_only_events_per_sec": rate(decoded, decode),
        "journal_bytes_per_event": (all_bytes as f64 / events.len().max(1) as f64 * 10.0).round() / 10.0,
        "tick_stream_bytes_per_event": (stream_bytes as f64 / stream_events.max(1) as f64 * 10.0).round() / 10.0,
    });
    Ok((Value::Object(journal), replay))
}

/// Snapshot write and recovery time for many positions.
pub(crate) fn recovery(ctx: &Context) -> anyhow::Result<Value> {
    let accounts = match (ctx.tiny, ctx.quick) {
        (true, _) => 50,
        (false, true) => 1_000,
        (false, false) => 10_000,
    };
    let w = ctx.workload(Some(accounts));
    let dir = ctx.dir.join("recovery");
    ctx.say(&format!("recovery: {} positions", w.positions().len()));
    let (mut engine, _) = Engine::open(
        &dir,
        ctx.pipeline(true),
        Context::store(SyncMode::Periodic(Duration::from_millis(5))),
        Box::new(NullSink),
    )?;
    for e in w.opening_trades() {
        engine.submit(&e)?;
    }
    engine.sync(Duration::from_secs(300)).context("journal sync")?;
    // Every trade applied (a totals-only cut), so the time below is the
    // snapshot's alone, not the shards catching up.
    let _ = engine.pipeline().totals();
    let start = Instant::now();
    let bytes = engine.write_snapshot_now()?;
    let snapshot = start.elapsed();
    drop(engine);
    let start = Instant::now();
    let (engine, rec) = Engine::open(
        &dir,
        ctx.pipeline(true),
        Context::store(SyncMode::Always),
        Box::new(NullSink),
    )?;
    let recovered = start.elapsed();
    drop(engine);
    Ok(json!({
        "name": "recovery",
        "what": {"positions": w.positions().len(), "accounts": accounts, "shards": ctx.shards(true)},
        "snapshot_write_ms": millis(snapshot),
        "snapshot_bytes": bytes,
        "recovery_ms": millis(recovered),
        "recovered_from_snapshot": rec.snapshot,
        "replayed_after_snapshot": rec.replayed,
    }))
}
