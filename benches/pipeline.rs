//! The standard workload end to end through [`Pipeline`]: sequencer on the
//! caller's thread, 1 or 2 shard workers, the aggregator, a [`NullSink`];
//! `emit_positions` off; no journal (no store attached).
//!
//! Modes: `coalesced` (one flush per batch of 1,024 events, every tick
//! applied), `coalesced_conflating` (the same, plus the router's dropping of
//! superseded ticks while a shard lags: `conflate_ticks`, the default) and
//! `every_tick` (one flush per event, no conflation: every tick applied and
//! its deltas sent).
//!
//! Each iteration starts a fresh pipeline and loads the 100,000 opening
//! trades (untimed), then times submitting the pre-generated stream (ticks
//! plus one trade per 100 ticks) up to a consistent snapshot of the result;
//! the cost of one more snapshot of the idle pipeline is measured right after
//! and subtracted, so the figure is the stream's processing, not the snapshot.
//! Throughput = stream events per second.
//!
//! `pipeline/sequencer` times the sequencer alone on the same stream.

mod common;

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use kupala_engine::{BaseCurrencies, Event, NullSink, Pipeline, PipelineConfig, PipelineStats, Sequencer};
use kupala_feeds::workload::Workload;

/// Ticks per iteration: every-tick mode is ~100× slower than coalesced.
const EVERY_TICK_TICKS: u64 = 10_000;
const COALESCED_TICKS: u64 = 100_000;

fn submit_all(p: &mut Pipeline, events: &[Event]) -> usize {
    events.iter().filter(|e| p.submit(e).is_err()).count()
}

fn run(config: &PipelineConfig, opening: &[Event], stream: &[Event]) -> (Duration, PipelineStats) {
    let mut p = Pipeline::start(config.clone(), Box::new(NullSink));
    let mut refused = submit_all(&mut p, opening);
    let _ = p.snapshot();
    let before = p.stats();
    let t0 = Instant::now();
    refused += submit_all(&mut p, stream);
    let state = p.snapshot();
    let busy = t0.elapsed();
    let t1 = Instant::now();
    let _ = p.snapshot();
    let idle = t1.elapsed();
    assert_eq!(refused, 0, "the pipeline refused workload events");
    let positions = opening.iter().filter(|e| e.kind() == "trade").count();
    assert_eq!(
        state.positions.len(),
        positions,
        "every opened position is in the snapshot"
    );
    let after = p.stats();
    let stats = PipelineStats {
        conflated_ticks: after.conflated_ticks - before.conflated_ticks,
        blocked_sends: after.blocked_sends - before.blocked_sends,
        ..after
    };
    drop(p);
    (busy.saturating_sub(idle), stats)
}

/// (group label, coalesce, conflate_ticks, ticks per iteration)
const MODES: [(&str, bool, bool, u64); 3] = [
    ("coalesced", true, false, COALESCED_TICKS),
    ("coalesced_conflating", true, true, COALESCED_TICKS),
    ("every_tick", false, false, EVERY_TICK_TICKS),
];

fn pipeline(c: &mut Criterion) {
    let w = Workload::standard();
    let mut opening = w.opening_trades();
    opening.extend(common::first_ticks(&w));
    let long: Vec<Event> = w.ticks(COALESCED_TICKS).collect();
    let mut g = c.benchmark_group("pipeline");
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    for (mode, coalesce, conflate_ticks, ticks) in MODES {
        let len = usize::try_from(ticks + ticks / 100).unwrap_or(0);
        let stream = &long[..len.min(long.len())];
        g.throughput(Throughput::Elements(stream.len() as u64));
        for shards in [1, 2] {
            let config = PipelineConfig {
                shards,
                coalesce,
                conflate_ticks,
                emit_positions: false,
                ..PipelineConfig::default()
            };
            let mut reported = false;
            g.bench_function(BenchmarkId::new(mode, format!("{shards}_shards")), |b| {
                b.iter_custom(|iters| {
                    (0..iters)
                        .map(|_| {
                            let (took, stats) = run(&config, &opening, stream);
                            if !std::mem::replace(&mut reported, true) {
                                eprintln!(
                                    "{mode}/{shards}: first run {took:?} for {} events; {} ticks conflated, {} blocked sends",
                                    stream.len(),
                                    stats.conflated_ticks,
                                    stats.blocked_sends
                                );
                            }
                            took
                        })
                        .sum()
                });
            });
        }
    }
    g.throughput(Throughput::Elements(long.len() as u64));
    g.bench_function("sequencer", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| {
                    let mut seq = Sequencer::new(BaseCurrencies::default());
                    let _ = common::sequence(&mut seq, &opening);
                    let t0 = Instant::now();
                    let n = long.iter().filter_map(|e| seq.sequence(e).ok().flatten()).count();
                    let took = t0.elapsed();
                    assert_eq!(n, long.len());
                    took
                })
                .sum()
        });
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
