//! One hop between two threads over a crossbeam bounded channel, as the
//! engine moves work from the sequencer to a shard (and from shards to the
//! aggregator): batches of 1,024 sequenced ops of the standard workload in
//! a `bounded(64)` channel (`queue_batches`), against the same ops sent one
//! by one, and a ping-pong round trip of one message (two hops, the
//! latency floor of a hand-off).
//!
//! Each iteration of `batch_1024` builds a fresh `Vec` of 1,024 ops (a copy
//! from the pre-sequenced stream, as the router fills its pending batch),
//! sends it, and the consumer thread reads every op's seq and drops it;
//! throughput = ops. A consumer thread is started per measurement and
//! joined inside the timing.

mod common;

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use crossbeam_channel::bounded;
use kupala_engine::op::SeqOp;
use kupala_engine::{BaseCurrencies, Sequencer};
use kupala_feeds::workload::Workload;

const BATCH: usize = 1024;
/// The engine's default `queue_batches`.
const QUEUE: usize = 64;

fn ops() -> Vec<SeqOp> {
    let w = Workload::small();
    let mut events = w.opening_trades();
    events.extend(w.ticks(20 * BATCH as u64));
    let mut seq = Sequencer::new(BaseCurrencies::default());
    common::sequence(&mut seq, &events)
}

/// Sends `iters` batches to a consumer thread; the time until it has read them all.
fn batches(ops: &[SeqOp], iters: u64) -> Duration {
    let (tx, rx) = bounded::<Vec<SeqOp>>(QUEUE);
    let start = Instant::now();
    let consumer = std::thread::spawn(move || {
        rx.iter()
            .map(|b| b.iter().map(|o| o.seq).sum::<u64>())
            .sum::<u64>()
    });
    let chunks = ops.len() / BATCH;
    for i in 0..iters as usize {
        let from = (i % chunks) * BATCH;
        let mut batch = Vec::with_capacity(BATCH);
        batch.extend_from_slice(&ops[from..from + BATCH]);
        let _ = tx.send(batch);
    }
    drop(tx);
    black_box(consumer.join().unwrap_or(0));
    start.elapsed()
}

/// The same ops, one send each.
fn singles(ops: &[SeqOp], iters: u64) -> Duration {
    let (tx, rx) = bounded::<SeqOp>(QUEUE * BATCH);
    let start = Instant::now();
    let consumer = std::thread::spawn(move || rx.iter().map(|o| o.seq).sum::<u64>());
    let chunks = ops.len() / BATCH;
    for i in 0..iters as usize {
        let from = (i % chunks) * BATCH;
        for op in &ops[from..from + BATCH] {
            let _ = tx.send(*op);
        }
    }
    drop(tx);
    black_box(consumer.join().unwrap_or(0));
    start.elapsed()
}

/// `iters` round trips of one message through two bounded(1) channels.
fn ping_pong(iters: u64) -> Duration {
    let (to, from_main) = bounded::<u64>(1);
    let (back, from_echo) = bounded::<u64>(1);
    let echo = std::thread::spawn(move || {
        for x in from_main.iter() {
            let _ = back.send(x + 1);
        }
    });
    let start = Instant::now();
    let mut x = 0;
    for _ in 0..iters {
        let _ = to.send(x);
        x = from_echo.recv().unwrap_or(x);
    }
    let elapsed = start.elapsed();
    drop(to);
    let _ = echo.join();
    black_box(x);
    elapsed
}

fn channel_hop(c: &mut Criterion) {
    let ops = ops();
    assert!(ops.len() >= 2 * BATCH, "too few ops");
    let mut g = c.benchmark_group("channel_hop");
    common::short(&mut g);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.bench_function("batch_1024", |b| b.iter_custom(|iters| batches(&ops, iters)));
    g.bench_function("single_ops_x1024", |b| {
        b.iter_custom(|iters| singles(&ops, iters))
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("ping_pong_round_trip", |b| b.iter_custom(ping_pong));
    g.finish();
}

criterion_group!(benches, channel_hop);
criterion_main!(benches);
