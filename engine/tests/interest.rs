//! Interest-driven deltas: a pipeline whose sink wants a few accounts
//! emits position states for those only, and a sink that installs
//! `positions_of` when it starts to want an account, then applies the
//! deltas that follow (newest seq wins), holds exactly the engine's
//! positions of every wanted account, whenever it started to want it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use kupala_engine::event::{Eod, Event, Side, Tick, Trade};
use kupala_engine::ids::{AccountId, InstrumentId};
use kupala_engine::interest::Interest;
use kupala_engine::num::{Fee, Price, Quantity};
use kupala_engine::state::{PortfolioState, PositionDelta, PositionState};
use kupala_engine::time::{Date, Timestamp};
use kupala_engine::{DeltaSink, Pipeline, PipelineConfig};

type View = BTreeMap<(AccountId, InstrumentId), PositionState>;

/// The latest state per key, and every account a delta came for.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<(View, BTreeSet<AccountId>)>>);

impl Recorder {
    fn apply(&self, p: &PositionState, closed: bool) {
        let Ok(mut g) = self.0.lock() else { return };
        let key = (p.account, p.instrument);
        if g.0.get(&key).is_some_and(|old| old.seq > p.seq) {
            return;
        }
        if closed {
            g.0.remove(&key);
        } else {
            g.0.insert(key, p.clone());
        }
    }
}

impl DeltaSink for Recorder {
    fn publish(&mut self, _: u64, positions: &[PositionDelta], _: &[PortfolioState]) {
        for d in positions {
            if let Ok(mut g) = self.0.lock() {
                g.1.insert(d.state.account);
            }
            self.apply(&d.state, d.closed);
        }
    }
}

fn ts(k: i64) -> Timestamp {
    Timestamp(1_764_513_000_000_000_000 + k)
}

fn trade(k: usize, account: &str, instrument: &str, side: Side, qty: i64, price: i64) -> Event {
    Event::Trade(Trade {
        id: Some(format!("t{k}")),
        ts: ts(k as i64),
        account: account.into(),
        instrument: instrument.into(),
        side,
        qty: Quantity::from_int(qty),
        price: Price::from_int(price),
        fee: Fee::ZERO,
        strategy: None,
        close_lots: Vec::new(),
    })
}

fn tick(k: usize, instrument: &str, price: i64) -> Event {
    Event::Tick(Tick {
        ts: ts(k as i64),
        instrument: instrument.into(),
        price: Price::from_int(price),
    })
}

/// Trades and ticks over accounts A..E and instruments X, Y, Z; an EOD in
/// the first half; account E first trades late; B's position in W is
/// opened early and never changes again.
fn stream() -> Vec<Event> {
    let (accounts, instruments) = (["A", "B", "C", "D"], ["X", "Y", "Z"]);
    let mut v = Vec::new();
    for k in 0..240 {
        let a = accounts[k % 4];
        let i = instruments[(k / 4) % 3];
        let side = if k % 7 == 3 { Side::Sell } else { Side::Buy };
        v.push(trade(k, a, i, side, 1 + (k % 5) as i64, 100 + (k % 13) as i64));
        v.push(tick(k, instruments[k % 3], 90 + (k % 29) as i64));
        if k == 120 {
            v.push(Event::Eod(Eod {
                date: Date::parse("2026-12-01").unwrap_or_default(),
            }));
        }
        if k == 10 {
            // Never ticked or traded again: only the cut shows it to B's view.
            v.push(trade(2000, "B", "W", Side::Buy, 3, 70));
        }
        if k >= 200 {
            v.push(trade(1000 + k, "E", "Y", Side::Buy, 2, 50));
        }
    }
    v
}

fn run(shards: usize) {
    let interest = Arc::new(Interest::none());
    let sink = Recorder::default();
    let config = PipelineConfig {
        shards,
        interest: Arc::clone(&interest),
        ..PipelineConfig::default()
    };
    let mut p = Pipeline::start(config, Box::new(sink.clone()));
    let names = p.shared_names();
    // A wanted before it exists, E wanted long before its first trade.
    assert_eq!(interest.want("A", &names), None);
    assert_eq!(interest.want("E", &names), None);
    let events = stream();
    let (first, rest) = events.split_at(events.len() / 2);
    for e in first {
        let _ = p.submit(e);
    }
    // Every shard has applied and flushed the first half.
    let _ = p.totals();
    // B is wanted mid-stream: its first view is a cut, deltas follow.
    let b = interest.want("B", &names);
    assert!(b.is_some(), "B has traded");
    let cut = p.positions_of(&[b.unwrap_or_default()]);
    assert!(!cut.positions.is_empty());
    cut.positions.iter().for_each(|s| sink.apply(s, false));
    for e in rest {
        let _ = p.submit(e);
    }
    let full = p.snapshot();
    let Ok(g) = sink.0.lock() else { panic!("poisoned") };
    let named = |n: &str| names.read().ok().and_then(|x| x.accounts.get(n)).map(AccountId);
    let wanted: BTreeSet<AccountId> = ["A", "B", "E"].iter().filter_map(|n| named(n)).collect();
    assert_eq!(wanted.len(), 3, "every wanted account traded");
    let expected: View = full
        .positions
        .iter()
        .filter(|s| wanted.contains(&s.account))
        .map(|s| ((s.account, s.instrument), s.clone()))
        .collect();
    assert_eq!(
        g.0, expected,
        "{shards} shard(s): the view of the wanted accounts"
    );
    assert!(
        g.1.iter().all(|a| wanted.contains(a)),
        "deltas only for wanted accounts: {:?}",
        g.1
    );
    let unwanted = full
        .positions
        .iter()
        .filter(|s| !wanted.contains(&s.account))
        .count();
    assert!(unwanted > 0, "C and D hold positions the sink never received");
    // Everything is still in the engine's own state and totals.
    assert_eq!(full.portfolios.len(), 5);
}

#[test]
fn one_shard_emits_only_wanted_accounts_and_a_cut_completes_a_late_view() {
    run(1);
}

#[test]
fn several_shards_do_the_same() {
    run(3);
}
