//! The durable engine: persistence, recovery with and without snapshots,
//! torn-tail repair, corruption in the middle, EOD records across a restart,
//! rebalancing proposals.

use std::path::Path;
use std::time::Duration;

use kupala_engine::durable::{Engine, EngineError, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::ledger::CostMethods;
use kupala_engine::num::{Money, Quantity, Rate};
use kupala_engine::rebalance::Targets;
use kupala_engine::reference::Reference;
use kupala_engine::state::EngineState;
use kupala_engine::store::Store;
use kupala_engine::time::Date;
use kupala_engine::{BaseCurrencies, Event, Method, NullSink, PipelineConfig};

fn events(lines: &str) -> Vec<Event> {
    lines
        .lines()
        .filter(|l| !l.trim().is_empty())
        .filter_map(|l| Event::from_json(l.trim()).ok())
        .collect()
}

/// A deterministic stream: 3 accounts, 4 instruments (USD, EUR), fx, eods.
fn stream(n: usize) -> Vec<Event> {
    let mut out = events(
        r#"{"type":"instrument","id":"SAP","currency":"EUR","multiplier":"1"}
           {"type":"fx","ts":"2026-12-01T09:00:00Z","pair":"EUR/USD","rate":"1.08"}"#,
    );
    let mut x: u64 = 42;
    let mut rnd = |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    for i in 0..n {
        let inst = ["AAPL", "MSFT", "SAP", "ES"][rnd(4) as usize];
        let line = match rnd(20) {
            0..=7 => format!(
                r#"{{"type":"trade","id":"t{i}","ts":"2026-12-01T10:00:00Z","account":"A{}","instrument":"{inst}","side":"{}","qty":"{}","price":"{}.{}"}}"#,
                rnd(3),
                if rnd(2) == 0 { "buy" } else { "sell" },
                1 + rnd(50),
                90 + rnd(20),
                rnd(100)
            ),
            8..=17 => format!(
                r#"{{"type":"tick","ts":"2026-12-01T10:00:01Z","instrument":"{inst}","price":"{}.{}"}}"#,
                90 + rnd(20),
                rnd(100)
            ),
            18 => format!(
                r#"{{"type":"fx","ts":"2026-12-01T10:00:02Z","pair":"EUR/USD","rate":"1.0{}"}}"#,
                50 + rnd(50)
            ),
            _ => format!(r#"{{"type":"eod","date":"2026-12-{:02}"}}"#, 1 + i % 28),
        };
        out.extend(events(&line));
    }
    out
}

fn pipeline() -> PipelineConfig {
    PipelineConfig {
        shards: 2,
        ..PipelineConfig::default()
    }
}

fn store_config(snapshot_every: u64) -> StoreConfig {
    StoreConfig {
        sync: SyncMode::Always,
        snapshot_every_events: snapshot_every,
        snapshot_every: None,
        ..StoreConfig::default()
    }
}

/// Positions and totals without `seq` fields and closed history, which
/// depend on where a run started.
fn comparable(mut s: EngineState) -> EngineState {
    s.seq = 0;
    s.positions.iter_mut().for_each(|p| p.seq = 0);
    s.portfolios.iter_mut().for_each(|p| p.seq = 0);
    s.books.iter_mut().for_each(|b| b.totals.seq = 0);
    s.firm.seq = 0;
    s.closed.clear();
    s
}

fn run(dir: &Path, evs: &[Event], snapshot_every: u64) -> Result<EngineState, EngineError> {
    let (mut engine, _) = Engine::open(dir, pipeline(), store_config(snapshot_every), Box::new(NullSink))?;
    for e in evs {
        let _ = engine.submit(e);
    }
    Ok(engine.finish())
}

fn reopen(
    dir: &Path,
    snapshot_every: u64,
) -> Result<(EngineState, kupala_engine::durable::Recovery), EngineError> {
    let (engine, recovery) = Engine::open(dir, pipeline(), store_config(snapshot_every), Box::new(NullSink))?;
    Ok((engine.finish(), recovery))
}

fn expected(evs: &[Event]) -> EngineState {
    comparable(Reference::replay(Method::Avg, BaseCurrencies::default(), evs).state())
}

#[test]
fn recovers_from_the_journal_alone_and_from_snapshots() -> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(3000);
    for snapshot_every in [0, 700] {
        let dir = tempfile::tempdir()?;
        let live = run(dir.path(), &evs, snapshot_every)?;
        assert_eq!(comparable(live), expected(&evs));
        let (recovered, rec) = reopen(dir.path(), snapshot_every)?;
        assert_eq!(
            comparable(recovered),
            expected(&evs),
            "snapshot_every {snapshot_every}"
        );
        assert_eq!(rec.last_seq, evs.len() as u64);
        if snapshot_every == 0 {
            assert_eq!(
                (rec.snapshot, rec.replayed),
                (Some(evs.len() as u64), 0),
                "finish writes a snapshot"
            );
        }
    }
    Ok(())
}

#[test]
fn a_changed_cost_method_for_one_account_skips_the_snapshot() -> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(2000);
    let methods = |a1: Method| {
        let mut m = CostMethods::all(Method::Avg);
        m.accounts.insert("A0".into(), Method::Fifo);
        m.accounts.insert("A1".into(), a1);
        m
    };
    let open = |dir: &Path, m: CostMethods| {
        let config = PipelineConfig {
            methods: m,
            ..pipeline()
        };
        Engine::open(dir, config, store_config(0), Box::new(NullSink))
    };
    let dir = tempfile::tempdir()?;
    let (mut engine, _) = open(dir.path(), methods(Method::Lifo))?;
    for e in &evs {
        let _ = engine.submit(e);
    }
    let live = comparable(engine.finish());
    let want = |a1| comparable(Reference::replay(methods(a1), BaseCurrencies::default(), &evs).state());
    assert_eq!(live, want(Method::Lifo));
    assert_ne!(
        want(Method::Lifo),
        want(Method::Hifo),
        "the stream tells the methods apart"
    );
    // The same methods: the snapshot written at the end is used.
    let (engine, rec) = open(dir.path(), methods(Method::Lifo))?;
    assert_eq!(rec.snapshot, Some(evs.len() as u64));
    assert_eq!(comparable(engine.finish()), want(Method::Lifo));
    // A1 moves to hifo: its lots were built under lifo, so the snapshot is
    // skipped and the journal replayed under the new method.
    let (engine, rec) = open(dir.path(), methods(Method::Hifo))?;
    assert_eq!((rec.snapshot, rec.replayed), (None, evs.len() as u64));
    assert!(
        rec.warnings
            .iter()
            .any(|w| w.contains("another cost method for account \"A1\"")),
        "{:?}",
        rec.warnings
    );
    assert_eq!(comparable(engine.finish()), want(Method::Hifo));
    Ok(())
}

#[test]
fn continues_after_a_restart_mid_stream() -> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(2000);
    let dir = tempfile::tempdir()?;
    for chunk in evs.chunks(450) {
        let (mut engine, _) = Engine::open(dir.path(), pipeline(), store_config(300), Box::new(NullSink))?;
        for e in chunk {
            let _ = engine.submit(e);
        }
        // drop without finish: only what the journal holds survives
        let _ = engine.sync(Duration::from_secs(10));
        drop(engine);
    }
    let (state, _) = reopen(dir.path(), 300)?;
    assert_eq!(comparable(state), expected(&evs));
    Ok(())
}

#[test]
fn a_torn_tail_is_cut_back_with_a_warning() -> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(500);
    let dir = tempfile::tempdir()?;
    journal_all(dir.path(), &evs)?;
    let store = Store::open(dir.path())?;
    let whole = journal_end(&store)?;
    // A torn write past everything acknowledged: the batch after the last.
    store.put_raw_journal(whole + 1, b"\x02\x00\x00\x00\x00torn")?;
    drop(store);
    let (state, rec) = reopen(dir.path(), 0)?;
    assert_eq!(rec.last_seq, whole, "recovered to the last whole batch");
    assert!(
        rec.warnings
            .iter()
            .any(|w| w.contains("journal tail damaged") && w.contains("checksum")),
        "{:?}",
        rec.warnings
    );
    assert_eq!(comparable(state), expected(&evs[..usize::try_from(whole)?]));
    Ok(())
}

#[test]
fn damage_to_an_acknowledged_tail_refuses_to_start_until_accepted() -> Result<(), Box<dyn std::error::Error>>
{
    let evs = stream(500);
    let dir = tempfile::tempdir()?;
    journal_all(dir.path(), &evs)?;
    let store = Store::open(dir.path())?;
    let acked = journal_end(&store)?;
    let Some(&last) = store.journal_keys()?.last() else {
        panic!("no journal")
    };
    store.put_raw_journal(last, b"\x02\x00\x00\x00\x00torn")?;
    drop(store);
    match reopen(dir.path(), 0) {
        Err(EngineError::LostAcknowledged {
            recovered,
            acknowledged,
            damage: Some(damage),
        }) => {
            assert_eq!((recovered, acknowledged), (last - 1, acked));
            assert!(damage.contains(&format!("batch {last}")), "{damage}");
        }
        other => panic!("expected a refusal, got {:?}", other.map(|(_, r)| r)),
    }
    let store = Store::open(dir.path())?;
    assert_eq!(
        store.journal_keys()?.last(),
        Some(&last),
        "the refusal cut nothing"
    );
    drop(store);
    let config = StoreConfig {
        accept_loss: true,
        ..store_config(0)
    };
    let (engine, rec) = Engine::open(dir.path(), pipeline(), config, Box::new(NullSink))?;
    let state = engine.finish();
    assert_eq!(rec.lost, Some((last, acked)));
    assert_eq!(rec.last_seq, last - 1);
    assert_eq!(comparable(state), expected(&evs[..usize::try_from(last - 1)?]));
    let (_, rec) = reopen(dir.path(), 0)?;
    assert_eq!(
        (rec.last_seq, rec.lost),
        (last - 1, None),
        "accepted once, starts since"
    );
    Ok(())
}

/// Journals every event, syncing every 100 (each sync an acknowledgement).
fn journal_all(dir: &Path, evs: &[Event]) -> Result<(), Box<dyn std::error::Error>> {
    let (mut engine, _) = Engine::open(dir, pipeline(), store_config(0), Box::new(NullSink))?;
    for e in evs {
        let _ = engine.submit(e);
        if engine.pipeline().last_seq() % 100 == 0 {
            let _ = engine.sync(Duration::from_secs(10));
        }
    }
    let _ = engine.sync(Duration::from_secs(10));
    Ok(())
}

/// The last seq in a store's journal.
fn journal_end(store: &Store) -> Result<u64, Box<dyn std::error::Error>> {
    let last = *store.journal_keys()?.last().ok_or("no journal")?;
    Ok(store.journal_batch(last)?.last_seq().ok_or("empty batch")?)
}

#[test]
fn damage_in_the_middle_refuses_to_start() -> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(400);
    let dir = tempfile::tempdir()?;
    let (mut engine, _) = Engine::open(dir.path(), pipeline(), store_config(0), Box::new(NullSink))?;
    for e in &evs {
        let _ = engine.submit(e);
        let _ = engine.sync(Duration::from_secs(10));
    }
    drop(engine);
    let store = Store::open(dir.path())?;
    let keys = store.journal_keys()?;
    assert!(keys.len() > 10, "one batch per sync");
    store.put_raw_journal(keys[3], b"garbage")?;
    drop(store);
    let err = Engine::open(dir.path(), pipeline(), store_config(0), Box::new(NullSink)).err();
    let msg = err.map(|e| e.to_string()).unwrap_or_default();
    assert!(msg.contains("refusing to skip events in the middle"), "{msg}");
    Ok(())
}

#[test]
fn eod_records_and_day_pnl_survive_a_restart() -> Result<(), Box<dyn std::error::Error>> {
    let day1 = events(
        r#"{"type":"trade","id":"1","ts":"2026-12-01T10:00:00Z","account":"A1","instrument":"X","side":"buy","qty":"10","price":"100"}
           {"type":"trade","id":"2","ts":"2026-12-01T10:00:00Z","account":"A1","instrument":"Y","side":"buy","qty":"5","price":"20"}
           {"type":"trade","id":"3","ts":"2026-12-01T11:00:00Z","account":"A1","instrument":"Y","side":"sell","qty":"5","price":"22"}
           {"type":"tick","ts":"2026-12-01T16:00:00Z","instrument":"X","price":"104"}
           {"type":"eod","date":"2026-12-01"}
           {"type":"tick","ts":"2026-12-02T10:00:00Z","instrument":"X","price":"103"}"#,
    );
    let dir = tempfile::tempdir()?;
    run(dir.path(), &day1, 0)?;
    let (state, _) = reopen(dir.path(), 0)?;
    // X: net at EOD = 40, now 30 → day -10; Y rolled into history (realized 10).
    let x = &state.positions[0];
    assert_eq!(
        (state.positions.len(), x.day_pnl.to_money()),
        (1, Money::from_int(-10))
    );
    assert_eq!(state.portfolios[0].realized_pnl.to_money(), Money::from_int(10));
    assert_eq!(state.portfolios[0].day_pnl.to_money(), Money::from_int(-10));
    let store = Store::open(dir.path())?;
    let date = Date::parse("2026-12-01")?;
    assert_eq!(store.eod_dates()?, vec![date]);
    let eod = store.eod(date)?;
    assert_eq!(eod.len(), 2, "X and the flat Y as of the EOD");
    let mut names = store.names()?;
    assert_eq!(eod[0].state(&mut names).day_pnl.to_money(), Money::from_int(40));
    let closed = store.closed(Some(date))?;
    assert_eq!(
        (closed.len(), closed[0].state(&mut names).realized_pnl.to_money()),
        (1, Money::from_int(10))
    );
    let instrument = closed[0].state(&mut names).instrument;
    assert_eq!(names.instrument(instrument), "Y");
    Ok(())
}

#[test]
fn eod_proposes_rebalancing_trades_it_does_not_apply() -> Result<(), Box<dyn std::error::Error>> {
    // A1 holds AAPL 100 @ 200 and MSFT 50 @ 400: NAV 40,000, weights 50/50.
    // Targets 25% AAPL / 75% MSFT: AAPL 10,000 → sell 50; MSFT 30,000 →
    // buy 25, rounded down to the lot of 10 → 20 (8,000). IBM is untargeted
    // and unheld: nothing. min_trade 5,000 keeps both.
    let evs = events(
        r#"{"type":"trade","ts":"2026-12-01T10:00:00Z","account":"A1","instrument":"AAPL","side":"buy","qty":"100","price":"200"}
           {"type":"trade","ts":"2026-12-01T10:00:00Z","account":"A1","instrument":"MSFT","side":"buy","qty":"50","price":"400"}
           {"type":"eod","date":"2026-12-01"}"#,
    );
    let targets = Targets {
        accounts: vec![(
            "A1".into(),
            vec![
                ("AAPL".into(), Rate::parse("0.25")?),
                ("MSFT".into(), Rate::parse("0.75")?),
                ("IBM".into(), Rate::parse("0")?),
            ],
        )],
        min_trade: Money::from_int(5000),
        lot: Quantity::from_int(10),
    };
    let dir = tempfile::tempdir()?;
    let config = StoreConfig {
        targets,
        ..store_config(0)
    };
    let (mut engine, _) = Engine::open(dir.path(), pipeline(), config, Box::new(NullSink))?;
    for e in &evs {
        let _ = engine.submit(e);
    }
    let state = engine.finish();
    assert_eq!(state.positions.len(), 2, "proposals are not applied");
    let store = Store::open(dir.path())?;
    let props = store.proposals(Date::parse("2026-12-01")?)?;
    let got: Vec<(String, String, String)> = props
        .iter()
        .map(|p| {
            (
                p.instrument.clone(),
                Quantity::from_raw(p.qty).to_string(),
                Money::from_raw(p.value_base / 1_000_000_000).to_string(),
            )
        })
        .collect();
    assert_eq!(
        got,
        vec![
            ("AAPL".into(), "-50".into(), "-10000".into()),
            ("MSFT".into(), "20".into(), "8000".into())
        ]
    );
    assert_eq!(props[1].weight_now, 500_000_000);
    Ok(())
}
