//! One trade applied, per cost method (avg / fifo / lifo):
//!
//! - `trade_apply/ledger/{method}`: [`Ledger::trade`] alone, on a cycle of
//!   four fills that opens, adds, reduces and closes one position
//!   (throughput = trades per second);
//! - `trade_apply/book/{method}`: `Book::apply` of a trade op + `Book::flush`
//!   on the standard book (100,000 positions, every instrument ticked), the
//!   workload's stream trades followed by their mirror images so positions do
//!   not drift as the list cycles.

mod common;

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kupala_engine::Method;
use kupala_engine::event::{Event, Side};
use kupala_engine::ledger::Ledger;
use kupala_engine::num::{Price, Quantity};
use kupala_feeds::workload::Workload;

const METHODS: [Method; 3] = [Method::Avg, Method::Fifo, Method::Lifo];

fn ledger(c: &mut Criterion) {
    let q = Quantity::from_int;
    let p = |cents: i64| Price::from_raw(cents * 10_000_000);
    let cycle = [
        (q(100), p(10_000)),
        (q(50), p(10_150)),
        (q(-120), p(10_225)),
        (q(-30), p(9_975)),
    ];
    let mut g = c.benchmark_group("trade_apply/ledger");
    common::short(&mut g);
    g.throughput(Throughput::Elements(cycle.len() as u64));
    for method in METHODS {
        let mut l = Ledger::default();
        g.bench_function(method.to_string(), |b| {
            b.iter(|| {
                let mut realized = 0;
                for &(qty, price) in &cycle {
                    realized += l.trade(method, black_box(qty), black_box(price)).0;
                }
                realized
            });
        });
    }
    g.finish();
}

fn book(c: &mut Criterion) {
    let w = Workload::standard();
    let mut trades: Vec<Event> = w.ticks(400_000).filter(|e| e.kind() == "trade").collect();
    let mirror: Vec<Event> = trades
        .iter()
        .filter_map(|e| match e {
            Event::Trade(t) => {
                let mut t = t.clone();
                t.id = t.id.map(|id| format!("{id}-m"));
                t.side = if t.side == Side::Buy {
                    Side::Sell
                } else {
                    Side::Buy
                };
                Some(Event::Trade(t))
            }
            _ => None,
        })
        .collect();
    trades.extend(mirror);
    let mut g = c.benchmark_group("trade_apply/book");
    common::short(&mut g);
    g.throughput(Throughput::Elements(1));
    for method in METHODS {
        let (mut book, mut names) = common::load(&w, method, false);
        let ops = common::sequence(&mut names, &trades);
        let mut next = ops.iter().cycle();
        g.bench_function(method.to_string(), |b| {
            b.iter(|| {
                if let Some(op) = next.next() {
                    book.apply(op);
                }
                book.flush()
            });
        });
    }
    g.finish();
}

criterion_group!(benches, ledger, book);
criterion_main!(benches);
