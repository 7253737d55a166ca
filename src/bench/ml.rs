//! `kupala bench --scenario ml`: the engine's tick→delta latency under a
//! fixed offered tick load, idle and while the ML sidecar analyses real
//! data, in the same run on the same engine.
//!
//! One journaled engine holds the standard workload's positions. Phases of
//! equal length, each at the same open-loop offered load (latency counted
//! from each tick's due time, so a stalled engine cannot hide behind a
//! slowed sender): a warm-up (not reported), idle, then with the worker
//! analysing back to back at its serve default (lowest priority), then at
//! normal priority (what the lowest priority buys). The worker analyses
//! the S&P 500 daily and monthly stock files (the ML benchmark's data) from
//! `KUPALA_BENCH_DATA`, else the repository's `testdata/data`; without
//! them, synthetic walks of the same size, and the report says which.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use hdrhistogram::Histogram;
use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::{Event, PipelineConfig, clock};
use kupala_feeds::workload::{Workload, WorkloadConfig};
use kupala_ml::files::{FileSpec, read_files};
use kupala_ml::{AnalyzeRequest, JobStatus, PriceSeries, Worker, WorkerConfig};
use serde_json::{Value, json};

use super::{BenchOptions, LatencySink, histogram, percentiles};

/// The offered tick load: under the journaled engine's capacity on 2 cores
/// (at 100 k ticks/s it queues; see docs/benchmarks.md), so latency measures
/// the engine, not a backlog.
const OFFERED: f64 = 20_000.0;

/// The price files the worker analyses, and where they were found (with
/// `tiny`, the harness's own test: small synthetic walks).
fn series(tiny: bool) -> (Vec<PriceSeries>, String) {
    if tiny {
        return (
            synthetic(3, 300),
            "synthetic: 3 walks × 300 daily points (tiny)".into(),
        );
    }
    let dir = data_dir();
    let spec = |name: &str| FileSpec {
        path: dir.join(name),
        format: None,
        instrument: Some("SPX".into()),
        no_header: false,
    };
    let specs = [
        spec("sp500-daily-2000-2020.csv"),
        spec("stocks-monthly-2000-2010.csv"),
    ];
    match read_files(&specs) {
        Ok(l) if !l.series.is_empty() => (
            l.series,
            format!("{}: S&P 500 daily + monthly stocks", dir.display()),
        ),
        _ => (
            synthetic(6, 5_000),
            format!(
                "synthetic: 6 walks × 5,000 daily points (the S&P 500 and stocks files are not in {})",
                dir.display()
            ),
        ),
    }
}

/// Where the price files are looked for: `KUPALA_BENCH_DATA` when set, else
/// `testdata/data` under the working directory (a run from the repository's
/// root), else that of the source tree the binary was built from.
fn data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("KUPALA_BENCH_DATA") {
        return PathBuf::from(dir);
    }
    let here = PathBuf::from("testdata/data");
    if here.is_dir() {
        return here;
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("testdata/data")
}

#[allow(clippy::cast_precision_loss, reason = "synthetic test prices")]
fn synthetic(walks: u64, points: i64) -> Vec<PriceSeries> {
    let day = 86_400_000_000_000i64;
    (0..walks)
        .map(|i| {
            let mut x = i + 1;
            let mut p = 100.0f64;
            let prices: Vec<f64> = (0..points)
                .map(|_| {
                    x = x
                        .wrapping_mul(6_364_136_223_846_793_005)
                        .wrapping_add(1_442_695_040_888_963_407);
                    p *= 1.0 + 0.02 * ((x >> 11) as f64 / (1u64 << 53) as f64 - 0.5);
                    p
                })
                .collect();
            PriceSeries::new(format!("W{i}"), (0..points).map(|d| d * day).collect(), prices)
        })
        .collect()
}

/// Analyses `series` back to back until `stop`; (jobs done, busy seconds).
fn analyse_until(worker: &Worker, series: &[PriceSeries], stop: &AtomicBool) -> (u64, f64) {
    let (mut done, mut busy) = (0, 0.0);
    while !stop.load(Ordering::Relaxed) {
        let t = Instant::now();
        let job = worker.submit(AnalyzeRequest {
            series: Some(series.to_vec()),
            ..AnalyzeRequest::default()
        });
        let status = worker.wait(job, Duration::from_secs(600));
        busy += t.elapsed().as_secs_f64();
        if status == Some(JobStatus::Done) {
            done += 1;
        } else if status != Some(JobStatus::Cancelled) {
            break;
        }
    }
    (done, busy)
}

/// Offers `ticks` (cycled) at `OFFERED` per second for `secs`; the
/// tick→delta latency histogram of the slice.
fn offer(
    engine: &mut Engine,
    sink: &LatencySink,
    ticks: &[Event],
    from: &mut usize,
    secs: f64,
) -> Histogram<u64> {
    let _ = engine.state();
    let _ = sink.take();
    let p = engine.pipeline();
    let count = (OFFERED * secs) as u64;
    let t0 = clock::now_ns();
    for k in 0..count {
        let due = t0 + (k as f64 * 1e9 / OFFERED) as u64;
        if clock::now_ns() < due {
            p.flush();
            while clock::now_ns() < due {
                std::hint::spin_loop();
            }
        }
        if p.submit_stamped(&ticks[*from % ticks.len()], due).is_err() {
            break;
        }
        *from += 1;
    }
    let _ = engine.state();
    sink.take()
}

/// The slices of one phase: idle (no worker) or with the worker at a priority.
struct Phase {
    lowest: Option<bool>,
    hist: Histogram<u64>,
    jobs: u64,
    job_secs: f64,
    priority: String,
}

impl Phase {
    fn new(lowest: Option<bool>) -> Self {
        Self {
            lowest,
            hist: histogram(),
            jobs: 0,
            job_secs: 0.0,
            priority: String::new(),
        }
    }
}

/// The engine and what every slice offers it.
struct Bench<'a> {
    engine: Engine,
    sink: LatencySink,
    ticks: &'a [Event],
    series: &'a [PriceSeries],
    from: usize,
}

impl Bench<'_> {
    /// Runs one slice of `phase` for `secs` and adds it to the phase.
    fn slice(&mut self, phase: &mut Phase, secs: f64) -> anyhow::Result<()> {
        let Some(lowest) = phase.lowest else {
            let h = offer(&mut self.engine, &self.sink, self.ticks, &mut self.from, secs);
            phase.hist.add(&h)?;
            return Ok(());
        };
        let cfg = WorkerConfig {
            lowest_priority: lowest,
            ..WorkerConfig::default()
        };
        let worker = Worker::spawn(Arc::clone(self.engine.store()), cfg)?;
        let stop = AtomicBool::new(false);
        let (h, (jobs, busy)) = std::thread::scope(|s| {
            let bg = s.spawn(|| analyse_until(&worker, self.series, &stop));
            let h = offer(&mut self.engine, &self.sink, self.ticks, &mut self.from, secs);
            stop.store(true, Ordering::Relaxed);
            (h, bg.join().unwrap_or((0, 0.0)))
        });
        phase.hist.add(&h)?;
        phase.jobs += jobs;
        phase.job_secs += busy;
        phase.priority = worker.priority();
        Ok(())
    }
}

/// Runs the scenario.
pub(crate) fn run(opts: &BenchOptions, dir: &std::path::Path) -> anyhow::Result<Value> {
    let say = |s: &str| {
        if opts.progress {
            tracing::info!("ml: {s}");
        }
    };
    // Seconds per phase, in rounds of alternating slices.
    let (secs, rounds) = match (opts.tiny, opts.quick) {
        (true, _) => (0.3, 1),
        (false, true) => (1.5, 1),
        (false, false) => (10.0, 5),
    };
    let w = Workload::new(if opts.tiny {
        WorkloadConfig::small()
    } else {
        WorkloadConfig::standard()
    });
    let ticks: Vec<Event> = w.ticks((OFFERED * secs) as u64).collect();
    let (series, source) = series(opts.tiny);
    say(&format!("analysing {source}"));
    let shards = opts.shards.unwrap_or_else(|| PipelineConfig::default().shards);
    let pipeline = PipelineConfig {
        shards,
        conflate_ticks: false,
        emit_positions: false,
        ..PipelineConfig::default()
    };
    let store = StoreConfig {
        sync: SyncMode::Periodic(Duration::from_millis(5)),
        snapshot_every_events: 0,
        snapshot_every: None,
        ..StoreConfig::default()
    };
    let sink = LatencySink::new();
    let (mut engine, _) = Engine::open(&dir.join("ml"), pipeline, store, Box::new(sink.clone()))?;
    for e in w.opening_trades() {
        engine.submit(&e)?;
    }
    engine.sync(Duration::from_secs(120)).context("journal sync")?;
    let mut bench = Bench {
        engine,
        sink,
        ticks: &ticks,
        series: &series,
        from: 0,
    };
    say("warm-up");
    bench.slice(&mut Phase::new(None), secs / rounds as f64)?;
    // Idle and busy slices alternate, so a change in the machine's other
    // load during the run reaches every phase alike.
    let mut phases = [Phase::new(None), Phase::new(Some(true)), Phase::new(Some(false))];
    for round in 0..rounds {
        say(&format!(
            "round {}/{rounds}: idle, lowest priority, normal priority",
            round + 1
        ));
        for phase in &mut phases {
            bench.slice(phase, secs / rounds as f64)?;
        }
    }
    bench.engine.finish();
    let [idle, low, normal] = &phases;
    let idle_p99 = idle.hist.value_at_quantile(0.99).max(1) as f64;
    let with = |p: &Phase| {
        json!({"worker_priority": p.priority, "latency_us": percentiles(&p.hist),
               "p99_vs_idle": (p.hist.value_at_quantile(0.99) as f64 / idle_p99 * 100.0).round() / 100.0,
               "analyses_completed": p.jobs, "analysis_seconds": (p.job_secs * 100.0).round() / 100.0})
    };
    let c = w.config();
    Ok(json!({
        "name": "ml",
        "what": {"instruments": c.instruments, "accounts": c.accounts, "positions": w.positions().len(),
                 "shards": shards, "sync": "periodic 5 ms", "offered_ticks_per_sec": OFFERED,
                 "seconds_per_phase": secs, "rounds": rounds, "ml_data": source,
                 "ml_series": series.len(), "ml_observations": series.iter().map(PriceSeries::len).sum::<usize>()},
        "mode": "open loop, latency from each tick's due time, coalesced; idle and busy slices alternate; the worker analyses back to back",
        "idle": {"latency_us": percentiles(&idle.hist)},
        "with_ml": with(low),
        "with_ml_normal_priority": with(normal),
        "baseline": "idle: the same engine and load in the same run, no analysis running",
    }))
}
