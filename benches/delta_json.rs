//! Rendering deltas as the server sends them (`kupala_api::json_out`): a
//! position's or portfolio's `data` JSON (names for ids, decimals as
//! strings), rendered once per change on a connection task, and the
//! `{"type":"delta",...}` frame around it, written per subscription; beside
//! serde's rendering of the same views (`serde_*`, the baseline). The
//! states come from the standard workload run through a pipeline (one
//! tick per instrument after the opening book), so every field is filled
//! as in production. Throughput = deltas.

use std::fmt::Write as _;
use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kupala_api::json_out;
use kupala_api::render::{PortfolioOut, PositionOut};
use kupala_engine::event::Tick;
use kupala_engine::ids::Names;
use kupala_engine::state::EngineState;
use kupala_engine::time::Timestamp;
use kupala_engine::{Event, NullSink, Pipeline, PipelineConfig};
use kupala_feeds::workload::Workload;

/// Deltas rendered per iteration.
const N: usize = 1_000;

fn state() -> (EngineState, Names) {
    let w = Workload::standard();
    let mut p = Pipeline::start(PipelineConfig::default(), Box::new(NullSink));
    let ticks = (0..w.config().instruments).map(|i| {
        Event::Tick(Tick {
            ts: Timestamp::default(),
            instrument: w.instrument_name(i).to_owned(),
            price: w.start_price(i),
        })
    });
    for e in w.opening_trades().into_iter().chain(ticks).chain(w.ticks(10_000)) {
        let _ = p.submit(&e);
    }
    let state = p.snapshot();
    let names = p.shared_names().read().map(|n| n.clone()).unwrap_or_default();
    (state, names)
}

/// The frame `render::delta` writes around a rendered `data`.
fn frame(data: &str, seq: u64) -> String {
    let mut s = String::with_capacity(data.len() + 96);
    let _ = write!(
        s,
        r#"{{"type":"delta","id":1,"channel":"positions","seq":{seq},"data":{data}}}"#
    );
    s
}

fn delta_json(c: &mut Criterion) {
    let (state, names) = state();
    let positions = &state.positions[..N.min(state.positions.len())];
    let portfolios = &state.portfolios[..N.min(state.portfolios.len())];
    assert!(!positions.is_empty() && !portfolios.is_empty(), "empty state");
    let data: Vec<String> = positions
        .iter()
        .map(|p| serde_json::to_string(&PositionOut::new(p, &names, false)).unwrap_or_default())
        .collect();
    println!(
        "delta_json: a position's data is {} bytes on average",
        data.iter().map(String::len).sum::<usize>() / data.len()
    );
    let mut g = c.benchmark_group("delta_json");
    g.sample_size(10)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    g.throughput(Throughput::Elements(positions.len() as u64));
    g.bench_function("position_data", |b| {
        b.iter(|| {
            black_box(positions)
                .iter()
                .map(|p| json_out::position_text(p, &names, false).len())
                .sum::<usize>()
        });
    });
    g.bench_function("serde_position_data", |b| {
        b.iter(|| {
            black_box(positions)
                .iter()
                .map(|p| serde_json::to_string(&PositionOut::new(p, &names, false)).map_or(0, |s| s.len()))
                .sum::<usize>()
        });
    });
    g.bench_function("position_frame", |b| {
        b.iter(|| {
            data.iter()
                .enumerate()
                .map(|(i, d)| frame(d, i as u64).len())
                .sum::<usize>()
        });
    });
    g.throughput(Throughput::Elements(portfolios.len() as u64));
    g.bench_function("portfolio_data", |b| {
        b.iter(|| {
            black_box(portfolios)
                .iter()
                .map(|p| json_out::portfolio_text(p, &names).len())
                .sum::<usize>()
        });
    });
    g.bench_function("serde_portfolio_data", |b| {
        b.iter(|| {
            black_box(portfolios)
                .iter()
                .map(|p| serde_json::to_string(&PortfolioOut::new(p, &names)).map_or(0, |s| s.len()))
                .sum::<usize>()
        });
    });
    g.finish();
}

criterion_group!(benches, delta_json);
criterion_main!(benches);
