//! Helpers shared by the criterion benches: loading the standard workload
//! into a [`Book`] through a [`Sequencer`], and short measurement settings.

#![allow(dead_code, reason = "each bench uses a subset of the helpers")]

use std::time::Duration;

use criterion::BenchmarkGroup;
use criterion::measurement::WallTime;
use kupala_engine::event::Tick;
use kupala_engine::ids::InstrumentId;
use kupala_engine::op::{Op, SeqOp};
use kupala_engine::time::Timestamp;
use kupala_engine::{BaseCurrencies, Book, Event, Method, Sequencer};
use kupala_feeds::workload::Workload;

/// Short measurements: the whole `cargo bench` must fit in a few minutes on
/// a 2-core machine.
pub fn short(g: &mut BenchmarkGroup<'_, WallTime>) {
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
}

/// Sequences `events`, keeping the ops (a refused event is a bench bug).
pub fn sequence(seq: &mut Sequencer, events: &[Event]) -> Vec<SeqOp> {
    let ops: Vec<SeqOp> = events
        .iter()
        .filter_map(|e| seq.sequence(e).ok().flatten())
        .collect();
    assert_eq!(ops.len(), events.len(), "the sequencer refused workload events");
    ops
}

/// One tick per instrument at its start price: after it, trades no longer
/// move marks (docs/pnl.md, "Marks": the last trade price is the mark only
/// until a tick).
pub fn first_ticks(w: &Workload) -> Vec<Event> {
    (0..w.config().instruments)
        .map(|i| {
            Event::Tick(Tick {
                ts: Timestamp::default(),
                instrument: w.instrument_name(i).to_owned(),
                price: w.start_price(i),
            })
        })
        .collect()
}

/// The workload's positions opened in one book (one shard), every
/// instrument ticked once, flushed; with the sequencer that named them.
pub fn load(w: &Workload, method: Method, emit_positions: bool) -> (Book, Sequencer) {
    let mut seq = Sequencer::new(BaseCurrencies::default()).with_methods(method.into());
    let mut book = Book::new(emit_positions);
    let mut events = w.opening_trades();
    events.extend(first_ticks(w));
    for op in sequence(&mut seq, &events) {
        book.apply(&op);
    }
    let _ = book.flush();
    (book, seq)
}

/// The engine id of workload instrument `i`.
pub fn instrument_id(seq: &Sequencer, w: &Workload, i: usize) -> InstrumentId {
    InstrumentId(
        seq.names()
            .instruments
            .get(w.instrument_name(i))
            .unwrap_or(u32::MAX),
    )
}

/// Holders per engine instrument id, to count the positions ticks reprice.
pub fn holders_by_id(seq: &Sequencer, w: &Workload) -> Vec<u64> {
    let mut by_id = vec![0; w.config().instruments];
    for i in 0..w.config().instruments {
        let id = instrument_id(seq, w, i).index();
        if let Some(h) = by_id.get_mut(id) {
            *h = w.holders(i) as u64;
        }
    }
    by_id
}

/// The positions a list of tick ops reprices when each is flushed alone.
pub fn positions_repriced(ops: &[SeqOp], holders: &[u64]) -> u64 {
    ops.iter()
        .map(|o| match o.op {
            Op::Tick { instrument, .. } => holders.get(instrument.index()).copied().unwrap_or(0),
            _ => 0,
        })
        .sum()
}

/// The mean number of positions repriced per window of `window` tick ops
/// flushed once: the holders of the distinct instruments in the window.
pub fn coalesced_positions(ops: &[SeqOp], holders: &[u64], window: usize) -> f64 {
    let mut seen = vec![false; holders.len()];
    let windows: Vec<u64> = ops
        .chunks_exact(window)
        .map(|chunk| {
            let ids: Vec<usize> = chunk
                .iter()
                .filter_map(|o| o.op.instrument().map(InstrumentId::index))
                .filter(|&i| i < seen.len() && !std::mem::replace(&mut seen[i], true))
                .collect();
            ids.iter().for_each(|&i| seen[i] = false);
            ids.iter().map(|&i| holders[i]).sum()
        })
        .collect();
    windows.iter().sum::<u64>() as f64 / windows.len().max(1) as f64
}
