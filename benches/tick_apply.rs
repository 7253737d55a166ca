//! One tick repricing the positions of one instrument, on a [`Book`]
//! directly (no sequencer, no threads): `Book::apply` of a tick op followed by
//! `Book::flush`, which reprices every holder and produces the account-total
//! changes (and, with `emit_positions`, one `PositionDelta` per position).
//!
//! - `tick_apply/isolated/{emit}/N`: a book holding only one instrument,
//!   held by N accounts; throughput = positions repriced per second, the
//!   time per iteration is the time per tick.
//! - `tick_apply/standard_hot/{emit}`: the whole standard workload (100,000
//!   positions) in one book, ticks on its hottest instrument.
//! - `tick_apply/zipf/...`: the standard book, 1,000 ticks of the workload's
//!   Zipf stream per iteration, each flushed alone (`every_tick`) or 10,000
//!   ticks flushed once (`coalesced_10k`); throughput = ticks per second.
//!   `coalesced_10k/totals_only_with_trades` keeps the stream's trades (100
//!   per window) in the window, as the pipeline sees it.
//!   `.../reference_loop` runs the same ticks through the scale reference
//!   (`kupala::bench::reference`, the code `kupala bench` runs; see
//!   docs/benchmarks.md, "The workload"), in the same run, for the 2×
//!   comparison.

mod common;

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use kupala::bench::reference::RefBook;
use kupala_engine::ids::{AccountId, BookId, CurrencyId, InstrumentId};
use kupala_engine::num::{Fee, Price, Quantity};
use kupala_engine::op::{Op, SeqOp};
use kupala_engine::{Book, MAX_OUTPUT_ENTRIES, Method, ShardOutput};
use kupala_feeds::workload::Workload;

fn label(emit: bool) -> &'static str {
    if emit { "emit_positions" } else { "totals_only" }
}

/// Alternates between two prices so every tick moves every holder.
fn tick(seq: u64, instrument: InstrumentId) -> SeqOp {
    let cents = 10_000 + i64::from(seq.is_multiple_of(2));
    let price = Price::from_raw(cents * 10_000_000);
    SeqOp {
        seq,
        op: Op::Tick { instrument, price },
    }
}

fn holders_book(n: u32, emit: bool) -> Book {
    let mut book = Book::new(emit);
    for a in 0..n {
        let op = Op::Trade {
            account: AccountId(a),
            book: BookId(a),
            base: CurrencyId::USD,
            instrument: InstrumentId(0),
            qty: Quantity::from_int(i64::from(10 + a % 990)),
            price: Price::from_int(100),
            fee: Fee::ZERO,
            method: Method::Avg,
        };
        book.apply(&SeqOp {
            seq: u64::from(a) + 1,
            op,
        });
    }
    book.apply(&tick(u64::from(n) + 1, InstrumentId(0)));
    let _ = book.flush();
    book
}

fn isolated(c: &mut Criterion) {
    let mut g = c.benchmark_group("tick_apply/isolated");
    common::short(&mut g);
    for n in [1u32, 100, 1_000] {
        for emit in [false, true] {
            let mut book = holders_book(n, emit);
            let mut seq = 1_000_000;
            g.throughput(Throughput::Elements(u64::from(n)));
            g.bench_function(BenchmarkId::new(label(emit), n), |b| {
                b.iter(|| {
                    seq += 1;
                    book.apply(&tick(seq, InstrumentId(0)));
                    book.flush()
                });
            });
        }
    }
    g.finish();
}

fn standard(c: &mut Criterion) {
    let w = Workload::standard();
    eprintln!(
        "standard workload: {} positions, hottest instrument held by {}, {:.1} positions per tick on average",
        w.positions().len(),
        w.holders(0),
        w.mean_positions_per_tick()
    );
    let mut g = c.benchmark_group("tick_apply/standard_hot");
    common::short(&mut g);
    g.throughput(Throughput::Elements(w.holders(0) as u64));
    for emit in [false, true] {
        let (mut book, names) = common::load(&w, Method::Avg, emit);
        let hot = common::instrument_id(&names, &w, 0);
        let mut seq = names.last_seq();
        g.bench_function(label(emit), |b| {
            b.iter(|| {
                seq += 1;
                book.apply(&tick(seq, hot));
                book.flush()
            });
        });
    }
    g.finish();

    let (_, mut names) = common::load(&w, Method::Avg, false);
    let holders = common::holders_by_id(&names, &w);
    let events: Vec<_> = w.ticks(100_000).collect();
    let with_trades = common::sequence(&mut names, &events);
    let ops: Vec<_> = with_trades
        .iter()
        .filter(|o| matches!(o.op, Op::Tick { .. }))
        .copied()
        .collect();
    let repriced = common::positions_repriced(&ops, &holders);
    eprintln!(
        "zipf: {} ticks reprice {repriced} positions flushed one by one ({:.1} per tick)",
        ops.len(),
        repriced as f64 / ops.len() as f64
    );
    for window in [1_024, 10_000] {
        let per = common::coalesced_positions(&ops, &holders, window);
        eprintln!("zipf: a window of {window} ticks flushed once reprices {per:.0} positions");
    }
    let mut g = c.benchmark_group("tick_apply/zipf");
    common::short(&mut g);
    for emit in [false, true] {
        let (mut book, _) = common::load(&w, Method::Avg, emit);
        let mut chunks = ops.chunks_exact(1_000).cycle();
        g.throughput(Throughput::Elements(1_000));
        // As a shard runs it: each tick's flush appended to one reused
        // output, handed on (here: emptied) once it is full.
        let mut out = ShardOutput::default();
        g.bench_function(BenchmarkId::new("every_tick", label(emit)), |b| {
            b.iter(|| {
                let mut changed = 0;
                for op in chunks.next().unwrap_or_default() {
                    book.apply(op);
                    book.flush_into(&mut out);
                    if out.portfolios.len() + out.positions.len() >= MAX_OUTPUT_ENTRIES {
                        changed += out.portfolios.len();
                        out.clear();
                    }
                }
                black_box(changed)
            });
        });
        let mut windows = ops.chunks_exact(10_000).cycle();
        g.throughput(Throughput::Elements(10_000));
        g.bench_function(BenchmarkId::new("coalesced_10k", label(emit)), |b| {
            b.iter(|| {
                for op in windows.next().unwrap_or_default() {
                    book.apply(op);
                }
                book.flush()
            });
        });
    }
    // The stream as it comes: 10,000 ticks and their 100 trades per window.
    let (mut book, _) = common::load(&w, Method::Avg, false);
    let mut windows = with_trades.chunks_exact(10_100).cycle();
    g.throughput(Throughput::Elements(10_000));
    g.bench_function(
        BenchmarkId::new("coalesced_10k", "totals_only_with_trades"),
        |b| {
            b.iter(|| {
                for op in windows.next().unwrap_or_default() {
                    book.apply(op);
                }
                book.flush()
            });
        },
    );
    let mut r = RefBook::new(&names, &w.opening_trades());
    let mut chunks = ops.chunks_exact(1_000).cycle();
    g.throughput(Throughput::Elements(1_000));
    g.bench_function(BenchmarkId::new("every_tick", "reference_loop"), |b| {
        b.iter(|| {
            r.every_tick(chunks.next().unwrap_or_default());
            r.checksum()
        });
    });
    let mut windows = ops.chunks_exact(10_000).cycle();
    g.throughput(Throughput::Elements(10_000));
    g.bench_function(BenchmarkId::new("coalesced_10k", "reference_loop"), |b| {
        b.iter(|| {
            r.coalesced(windows.next().unwrap_or_default());
            r.checksum()
        });
    });
    g.finish();
}

criterion_group!(benches, isolated, standard);
criterion_main!(benches);
