//! What a sink of totals receives: every changed book (an account's only
//! book as its portfolio) and the firm, and the last of them equal to the
//! engine's state; the firm's seq never goes back, though two shards'
//! flushes interleave.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use kupala_engine::event::{Event, Side, Tick, Trade};
use kupala_engine::ids::BookId;
use kupala_engine::num::{Fee, Price, Quantity};
use kupala_engine::state::{BookChanges, FirmState, PortfolioState, PositionDelta};
use kupala_engine::time::Timestamp;
use kupala_engine::{DeltaSink, Pipeline, PipelineConfig};

#[derive(Default)]
struct Seen {
    books: BTreeMap<BookId, PortfolioState>,
    firm: Vec<FirmState>,
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Seen>>);

impl DeltaSink for Recorder {
    fn publish(&mut self, _: u64, _: &[PositionDelta], _: &[PortfolioState]) {}

    fn books(&mut self, _: u64, books: BookChanges<'_>) {
        if let Ok(mut g) = self.0.lock() {
            for (book, totals) in books.iter() {
                g.books.insert(book, totals.clone());
            }
        }
    }

    fn firm(&mut self, firm: &FirmState) {
        if let Ok(mut g) = self.0.lock() {
            g.firm.push(firm.clone());
        }
    }
}

fn events() -> Vec<Event> {
    let ts = Timestamp(1_764_513_000_000_000_000);
    let mut out = Vec::new();
    for k in 0..400_i64 {
        let account = format!("A{}", k % 7);
        out.push(Event::Trade(Trade {
            id: None,
            ts,
            account,
            instrument: ["X", "Y", "Z"][(k % 3) as usize].into(),
            side: if k % 4 == 0 { Side::Sell } else { Side::Buy },
            qty: Quantity::from_int(1 + k % 5),
            price: Price::from_int(100 + k % 9),
            fee: Fee::ZERO,
            // Accounts 0–2 trade in two books, the others in one.
            strategy: (k % 7 < 3 && k % 2 == 0).then(|| "carry".to_owned()),
            close_lots: Vec::new(),
        }));
        out.push(Event::Tick(Tick {
            ts,
            instrument: ["X", "Y", "Z"][(k % 3) as usize].into(),
            price: Price::from_int(95 + k % 17),
        }));
    }
    out
}

#[test]
fn the_last_books_and_firm_a_sink_receives_are_the_engine_s() {
    let sink = Recorder::default();
    let config = PipelineConfig {
        shards: 2,
        batch_size: 3,
        coalesce: false,
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::start(config, Box::new(sink.clone()));
    for e in events() {
        let _ = p.submit(&e);
    }
    let state = p.finish();
    let Ok(seen) = sink.0.lock() else {
        panic!("poisoned")
    };
    assert_eq!(state.books.len(), 10, "7 default books and 3 carry books");
    for b in &state.books {
        let got = seen.books.get(&b.book);
        assert_eq!(
            got.map(|t| (t.net_pnl, t.market_value)),
            Some((b.totals.net_pnl, b.totals.market_value))
        );
    }
    let seqs: Vec<u64> = seen.firm.iter().map(|f| f.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] <= w[1]),
        "the firm's seq never goes back: {seqs:?}"
    );
    let last = seen
        .firm
        .last()
        .map(|f| (f.net_pnl, f.market_value, f.unrealized_pnl));
    let want = (
        state.firm.net_pnl,
        state.firm.market_value,
        state.firm.unrealized_pnl,
    );
    assert_eq!(last, Some(want));
}
