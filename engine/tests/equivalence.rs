//! Property tests: the incremental, sharded engine equals a from-scratch
//! recomputation ([`Reference`]) after every event of random streams, for
//! each cost method (one for every account, and one per account), shard
//! count and batching mode.

use kupala_engine::event::{Event, Fx, InstrumentDef, Side, Tick, Trade};
use kupala_engine::ledger::CostMethods;
use kupala_engine::num::{Fee, Price, Quantity, Rate};
use kupala_engine::pipeline::Replayer;
use kupala_engine::reference::Reference;
use kupala_engine::sequencer::TradeTags;
use kupala_engine::state::EngineState;
use kupala_engine::{Method, NullSink, Pipeline, PipelineConfig, Sequencer};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};

mod streams;
use streams::{bases, stream, ts};

/// `seq` fields say when something last changed; the reference does not
/// track them, so they are cleared before comparing.
fn normalise(mut s: EngineState) -> EngineState {
    s.seq = 0;
    s.positions.iter_mut().for_each(|p| p.seq = 0);
    s.portfolios.iter_mut().for_each(|p| p.seq = 0);
    s.books.iter_mut().for_each(|b| b.totals.seq = 0);
    s.firm.seq = 0;
    s.closed.iter_mut().for_each(|c| c.position.seq = 0);
    s.closed
        .sort_by_key(|c| (c.date, c.position.account, c.position.book, c.position.instrument));
    s
}

/// A method per account: `A` on the default (avg), the others each on
/// another lot method.
fn mixed() -> CostMethods {
    let mut m = CostMethods::all(Method::Avg);
    m.accounts.insert("B".into(), Method::Hifo);
    m.accounts.insert("C".into(), Method::Fifo);
    m.accounts.insert("D".into(), Method::Lifo);
    m.accounts.insert("L".into(), Method::Fifo);
    m
}

/// Every account on one method, each in turn, then a method per account.
fn every_method() -> Vec<CostMethods> {
    let mut all: Vec<CostMethods> = Method::ALL.into_iter().map(CostMethods::all).collect();
    all.push(mixed());
    all
}

fn config(methods: impl Into<CostMethods>, shards: usize) -> PipelineConfig {
    PipelineConfig {
        shards,
        methods: methods.into(),
        bases: bases(),
        ..PipelineConfig::default()
    }
}

fn check_every_event(
    methods: impl Into<CostMethods>,
    shards: usize,
    events: &[Event],
) -> Result<(), TestCaseError> {
    let methods = methods.into();
    let mut pipeline = Pipeline::start(config(methods.clone(), shards), Box::new(NullSink));
    for (i, e) in events.iter().enumerate() {
        let _ = pipeline.submit(e);
        let got = normalise(pipeline.snapshot());
        let want = normalise(Reference::replay(methods.clone(), bases(), &events[..=i]).state());
        prop_assert_eq!(got, want, "after event {} ({:?})", i, e);
    }
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 96, ..Config::default() })]

    #[test]
    fn avg_equals_recomputation_after_every_event(events in stream(100)) {
        check_every_event(Method::Avg, 3, &events)?;
    }

    #[test]
    fn fifo_equals_recomputation_after_every_event(events in stream(100)) {
        check_every_event(Method::Fifo, 2, &events)?;
    }

    #[test]
    fn lifo_equals_recomputation_after_every_event(events in stream(100)) {
        check_every_event(Method::Lifo, 1, &events)?;
    }

    #[test]
    fn hifo_equals_recomputation_after_every_event(events in stream(100)) {
        check_every_event(Method::Hifo, 2, &events)?;
    }

    #[test]
    fn a_method_per_account_equals_recomputation_after_every_event(events in stream(100)) {
        check_every_event(mixed(), 3, &events)?;
    }

    #[test]
    fn a_firm_reported_in_euros_equals_recomputation_after_every_event(events in stream(100)) {
        // The USD and JPY books convert into EUR, the EUR ones not at all.
        let cfg = PipelineConfig { reporting_currency: Some("EUR".into()), ..config(mixed(), 2) };
        let mut pipeline = Pipeline::start(cfg, Box::new(NullSink));
        for (i, e) in events.iter().enumerate() {
            let _ = pipeline.submit(e);
            let got = normalise(pipeline.snapshot());
            let want = normalise(Reference::reporting_in(mixed(), bases(), Some("EUR")).replayed(&events[..=i]).state());
            prop_assert_eq!(got, want, "after event {} ({:?})", i, e);
        }
    }

    #[test]
    fn batching_and_sharding_do_not_change_the_result(events in stream(400), shards in 1usize..5, batch in 1usize..64, coalesce in any::<bool>(), emit in any::<bool>()) {
        for method in every_method() {
            let cfg = PipelineConfig { batch_size: batch, coalesce, emit_positions: emit, ..config(method.clone(), shards) };
            let mut pipeline = Pipeline::start(cfg, Box::new(NullSink));
            for e in &events {
                let _ = pipeline.submit(e);
            }
            // The totals-only cut sees the same totals as the full one.
            let totals = pipeline.totals();
            let got = normalise(pipeline.finish());
            let want = normalise(Reference::replay(method, bases(), &events).state());
            prop_assert_eq!(&got, &want);
            let totals = normalise(EngineState { portfolios: totals, ..EngineState::default() }).portfolios;
            prop_assert_eq!(totals, want.portfolios);
        }
    }
}

/// The generated streams do reach the cases that matter: flips, splits, FX
/// moves, unpriced positions turning priced, EOD rollovers, and dividends
/// paid to long, short and unpriced positions.
#[test]
fn generated_streams_cover_flips_splits_fx_rollovers_and_specific_lots() {
    let mut runner = TestRunner::deterministic();
    let (mut flips, mut splits, mut fx, mut priced_later, mut rolled) = (0, 0, 0, 0, 0);
    let (mut paid_long, mut paid_short, mut paid_unpriced) = (0, 0, 0);
    let (mut fx_effects, mut lots_closed, mut lots_refused) = (0, 0, 0);
    for _ in 0..64 {
        let Ok(tree) = stream(100).new_tree(&mut runner) else {
            panic!("strategy failed");
        };
        let events = tree.current();
        let mut r = Reference::new(Method::Avg, bases());
        let mut by_lot = Reference::new(Method::Fifo, bases());
        for e in &events {
            if let (Event::Trade(t), Ok(())) = (e, by_lot.apply(e))
                && !t.close_lots.is_empty()
            {
                lots_closed += 1;
            } else if matches!(e, Event::Trade(t) if !t.close_lots.is_empty()) {
                lots_refused += 1;
            }
            let before = r.state();
            let _ = r.apply(e);
            let after = r.state();
            match e {
                Event::Split(_) => splits += 1,
                Event::Fx(_) => fx += 1,
                _ => {}
            }
            for a in &after.positions {
                if let Some(b) = before
                    .positions
                    .iter()
                    .find(|b| (b.account, b.instrument) == (a.account, a.instrument))
                {
                    if b.qty.signum() * a.qty.signum() < 0 {
                        flips += 1;
                    }
                    if b.base.is_none() && a.base.is_some() {
                        priced_later += 1;
                    }
                    if matches!(e, Event::Dividend(_)) && a.income != b.income {
                        if b.qty.raw() > 0 {
                            paid_long += 1;
                        } else {
                            paid_short += 1;
                        }
                        paid_unpriced += usize::from(a.base.is_none());
                    }
                }
            }
            rolled += after.closed.len() - before.closed.len();
            fx_effects += after
                .positions
                .iter()
                .filter(|p| p.base.is_some_and(|b| b.fx_pnl.0 != 0))
                .count();
        }
        assert!(events.len() > 5);
    }
    assert!(flips > 20, "flips {flips}");
    assert!(splits > 20, "splits {splits}");
    assert!(fx > 50, "fx {fx}");
    assert!(priced_later > 5, "unpriced→priced {priced_later}");
    assert!(rolled > 5, "rollovers {rolled}");
    assert!(
        paid_long > 10 && paid_short > 10,
        "dividends paid {paid_long} long, {paid_short} short"
    );
    assert!(
        paid_unpriced > 0,
        "dividends to unpriced positions {paid_unpriced}"
    );
    assert!(fx_effects > 100, "positions with a currency effect {fx_effects}");
    assert!(
        lots_closed > 20 && lots_refused > 20,
        "close_lots under fifo: {lots_closed} closed, {lots_refused} refused"
    );
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    /// A snapshot image taken mid-stream and restored (with another shard
    /// count) continues exactly as the uninterrupted run.
    #[test]
    fn image_restore_continues_identically(events in stream(300), cut in 0usize..300, from in 1usize..4, to in 1usize..4) {
        let cut = cut.min(events.len());
        for method in [CostMethods::all(Method::Avg), CostMethods::all(Method::Hifo), mixed()] {
            let mut first = Pipeline::start(config(method.clone(), from), Box::new(NullSink));
            for e in &events[..cut] {
                let _ = first.submit(e);
            }
            let image = first.image();
            drop(first);
            let mut second = Pipeline::resume(config(method.clone(), to), Box::new(NullSink), Some(&image));
            for e in &events[cut..] {
                let _ = second.submit(e);
            }
            let got = normalise(second.finish());
            let want = normalise(Reference::replay(method, bases(), &events).state());
            // Closed history before the cut lives in the store, not the image.
            let got_closed = got.closed.len();
            let mut want_tail = want.clone();
            want_tail.closed.retain(|c| got.closed.iter().any(|g| g == c));
            prop_assert_eq!(got_closed, want_tail.closed.len());
            let (mut g, mut w) = (got, want);
            g.closed.clear();
            w.closed.clear();
            prop_assert_eq!(g, w);
        }
    }
}

proptest! {
    #![proptest_config(Config { cases: 48, ..Config::default() })]

    /// The offline replayer (no range bounds, flushes only every `every`
    /// ops or at the end) ends in the state of the live pipeline that
    /// accepted the stream (position seqs included), and both equal the
    /// recomputation.
    #[test]
    fn the_offline_replayer_ends_where_the_live_pipeline_did(events in stream(300), shards in 1usize..4, every in 1usize..40, batch in 1usize..64) {
        for method in every_method() {
            let cfg = PipelineConfig { batch_size: batch, ..config(method.clone(), shards) };
            let mut live = Pipeline::start(cfg.clone(), Box::new(NullSink));
            // Journaled ops carry no cost method (`JournalEvent::seq_op`):
            // the replayer's sequencer sets it from its configuration. This
            // one accepts what the live pipeline does (its `close_lots`
            // checks follow the methods).
            let mut sequencer = Sequencer::new(bases()).with_methods(method.clone());
            let mut replayer = Replayer::flushing_every(cfg, every);
            for e in &events {
                let _ = live.submit(e);
                if let Ok(Some(sop)) = sequencer.sequence(e) {
                    let names = sequencer.take_new_names();
                    let tags = match e {
                        Event::Trade(t) => TradeTags {
                            trade_id: t.id.as_deref(),
                            strategy: t.strategy.as_deref(),
                            close_lots: &t.close_lots,
                            ts: t.ts.0,
                        },
                        _ => TradeTags::default(),
                    };
                    replayer.replay(&names, sop, tags).map_err(|e| TestCaseError::fail(e.to_string()))?;
                }
            }
            // A portfolio's seq is that of the flush that last moved it, so
            // it depends on batching (neither `calc` nor `replay` prints it).
            let sort = |mut s: EngineState| {
                s.closed.sort_by_key(|c| (c.date, c.position.account, c.position.instrument));
                s.portfolios.iter_mut().for_each(|p| p.seq = 0);
                s.books.iter_mut().for_each(|b| b.totals.seq = 0);
                s.firm.seq = 0;
                s
            };
            let (got, want) = (sort(replayer.finish()), sort(live.finish()));
            prop_assert_eq!(&got, &want);
            prop_assert_eq!(normalise(got), normalise(Reference::replay(method, bases(), &events).state()));
        }
    }
}

/// One position held in EUR by a USD account, through random trades
/// (flips included), ticks and EUR/USD moves.
fn eur_stream() -> impl Strategy<Value = Vec<Event>> {
    let step = prop_oneof![
        3 => (any::<bool>(), 1i64..40, 90i64..110).prop_map(|(buy, q, p)| Event::Trade(Trade {
            id: None,
            ts: ts(),
            account: "U".into(),
            instrument: "E".into(),
            side: if buy { Side::Buy } else { Side::Sell },
            qty: Quantity::from_int(q),
            price: Price::from_raw(p * 1_000_000_000 + 250_000_000),
            fee: Fee::ZERO,
            strategy: None,
            close_lots: Vec::new(),
        })),
        2 => (90i64..110).prop_map(|p| Event::Tick(Tick { ts: ts(), instrument: "E".into(), price: Price::from_int(p) })),
        2 => (950i64..1250).prop_map(|r| Event::Fx(Fx { ts: ts(), pair: "EUR/USD".into(), rate: Rate::from_raw(r * 1_000_000 + 7) })),
    ];
    proptest::collection::vec(step, 1..80).prop_map(|steps| {
        let mut all = vec![
            Event::Instrument(InstrumentDef {
                id: "E".into(),
                currency: "EUR".into(),
                multiplier: Rate::from_int(1),
            }),
            Event::Fx(Fx {
                ts: ts(),
                pair: "EUR/USD".into(),
                rate: Rate::parse("1.08").unwrap_or(Rate::from_int(1)),
            }),
        ];
        all.extend(steps);
        all
    })
}

proptest! {
    #![proptest_config(Config { cases: 128, ..Config::default() })]

    /// `total_pnl_base` is the market value in base less the base cash of
    /// every trade at the rate of its moment (what opens pays its cost in
    /// base, what closes receives its proceeds), whatever the method: the
    /// price and currency effects add up to the whole. Computed here from
    /// the events alone, exactly (at 10^-27), against the engine's figure
    /// (10^-18, each conversion rounded once).
    #[test]
    fn total_pnl_base_is_market_value_plus_base_cash_flows(events in eur_stream()) {
        for method in Method::ALL {
            let mut pipeline = Pipeline::start(config(method, 2), Box::new(NullSink));
            let (mut rate, mut qty, mut cash, mut trades) = (0i128, 0i128, 0i128, 0i128);
            for e in &events {
                let _ = pipeline.submit(e);
                match e {
                    Event::Fx(f) => rate = i128::from(f.rate.raw()),
                    Event::Trade(t) => {
                        let signed = i128::from(t.qty.raw() * t.side.sign());
                        cash -= signed * i128::from(t.price.raw()) * rate;
                        qty += signed;
                        trades += 1;
                    }
                    _ => {}
                }
            }
            let state = pipeline.finish();
            let Some(p) = state.positions.iter().find(|p| p.base.is_some()) else {
                prop_assert!(qty == 0 && trades == 0, "no position after {} trades", trades);
                continue;
            };
            let Some(b) = p.base else { continue };
            let exact = i128::from(p.mark.raw()) * qty * rate + cash;
            let got = b.total_pnl().0 * 1_000_000_000;
            let tolerance = 1_000_000_000 * (3 * trades + 4);
            prop_assert!((got - exact).abs() <= tolerance, "{}: total {} vs cash flows {} (×10^-27)", method, got, exact);
        }
    }
}
