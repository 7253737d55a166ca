//! Specific lots (`close_lots`): a closing trade names the opening trades
//! whose lots it closes, in order, then the account's method closes the
//! rest. Hand-computed values, the refusals (each naming the lot), the
//! batch check, and a restart from a snapshot and from the journal.

use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::ledger::CostMethods;
use kupala_engine::num::{Money, Notional};
use kupala_engine::state::EngineState;
use kupala_engine::{Event, Method, NullSink, Pipeline, PipelineConfig};

fn ev(line: &str) -> Event {
    match Event::from_json(line) {
        Ok(e) => e,
        Err(e) => panic!("bad test event {line}: {e}"),
    }
}

fn trade(id: &str, side: &str, qty: u32, price: u32, extra: &str) -> Event {
    let id = if id.is_empty() {
        String::new()
    } else {
        format!(r#""id":"{id}","#)
    };
    ev(&format!(
        r#"{{"type":"trade",{id}"ts":"2026-12-01T10:00:00Z","account":"F1","instrument":"AAPL","side":"{side}","qty":"{qty}","price":"{price}"{extra}}}"#
    ))
}

/// F1 on fifo, every other account on avg, two shards.
fn config() -> PipelineConfig {
    let mut methods = CostMethods::all(Method::Avg);
    methods.accounts.insert("F1".into(), Method::Fifo);
    PipelineConfig {
        shards: 2,
        methods,
        ..PipelineConfig::default()
    }
}

/// Three lots of 10 AAPL bought at 100, 110 and 120.
fn opening() -> Vec<Event> {
    vec![
        trade("t-1", "buy", 10, 100, ""),
        trade("t-2", "buy", 10, 110, ""),
        trade("t-3", "buy", 10, 120, ""),
    ]
}

fn realized(s: &EngineState) -> Money {
    let total = s
        .positions
        .iter()
        .map(|p| p.realized_pnl)
        .fold(Notional(0), |a, b| a + b);
    total.to_money()
}

fn money(n: i64) -> Money {
    Money::from_int(n)
}

#[test]
fn named_lots_close_first_then_the_method_takes_the_rest() {
    let mut p = Pipeline::start(config(), Box::new(NullSink));
    for e in opening() {
        assert!(p.submit(&e).is_ok());
    }
    // Sell 15 @ 130 naming t-3 then t-1: 10 of t-3 (10 × 10 = 100), then
    // 5 of t-1 (5 × 30 = 150).
    let sell = trade("s-1", "sell", 15, 130, r#","close_lots":["t-3","t-1"]"#);
    assert!(p.submit(&sell).is_ok());
    let s = p.snapshot();
    assert_eq!(realized(&s), money(250));
    // Left: 5 of t-1 @ 100 and 10 of t-2 @ 110, cost 1,600 for 15.
    assert_eq!(s.positions[0].avg_cost.to_string(), "106.666666667");
    // A sale without close_lots goes by fifo: 5 of t-1 (150), 5 of t-2 (100).
    assert!(p.submit(&trade("s-2", "sell", 10, 130, "")).is_ok());
    let s = p.snapshot();
    assert_eq!(realized(&s), money(500));
    assert_eq!(s.positions[0].avg_cost.to_string(), "110");
    // A partial close leaves the rest of the lot open under its name.
    assert!(
        p.submit(&trade("s-3", "sell", 2, 140, r#","close_lots":["t-2"]"#))
            .is_ok()
    );
    assert!(
        p.submit(&trade("s-4", "sell", 3, 140, r#","close_lots":["t-2"]"#))
            .is_ok()
    );
    let s = p.snapshot();
    assert_eq!(realized(&s), money(500 + 5 * 30));
    assert_eq!(s.positions[0].qty.to_string(), "0");
    p.finish();
}

#[test]
fn unknown_closed_and_misplaced_lots_are_refused_naming_them() {
    let mut p = Pipeline::start(config(), Box::new(NullSink));
    for e in opening() {
        assert!(p.submit(&e).is_ok());
    }
    let other = ev(
        r#"{"type":"trade","id":"m-1","ts":"2026-12-01T10:00:00Z","account":"F1","instrument":"MSFT","side":"buy","qty":"5","price":"300"}"#,
    );
    assert!(p.submit(&other).is_ok());
    assert!(
        p.submit(&trade("s-1", "sell", 10, 130, r#","close_lots":["t-3"]"#))
            .is_ok()
    );
    let refused = |p: &mut Pipeline, e: Event| match p.submit(&e) {
        Ok(seq) => panic!("accepted at {seq:?}: {e:?}"),
        Err(err) => err.to_string(),
    };
    let closed = refused(&mut p, trade("s-2", "sell", 1, 130, r#","close_lots":["t-3"]"#));
    assert!(
        closed.contains(r#"lot "t-3""#) && closed.contains("not open"),
        "{closed}"
    );
    let unknown = refused(&mut p, trade("s-3", "sell", 1, 130, r#","close_lots":["nope"]"#));
    assert!(unknown.contains(r#"lot "nope""#), "{unknown}");
    // A lot of another instrument is not this position's.
    let misplaced = refused(&mut p, trade("s-4", "sell", 1, 130, r#","close_lots":["m-1"]"#));
    assert!(misplaced.contains(r#"lot "m-1""#), "{misplaced}");
    // A buy adds to the long position: it closes nothing.
    let adding = refused(&mut p, trade("s-5", "buy", 1, 130, r#","close_lots":["t-1"]"#));
    assert!(adding.contains("does not reduce"), "{adding}");
    // Avg pools its lots: there is nothing to name.
    let avg = ev(
        r#"{"type":"trade","id":"v-2","ts":"2026-12-01T10:00:00Z","account":"V1","instrument":"AAPL","side":"sell","qty":"1","price":"130","close_lots":["v-1"]}"#,
    );
    let pooled = refused(&mut p, avg);
    assert!(pooled.contains(r#"account "V1" uses avg"#), "{pooled}");
    // None of the refused trades moved anything, and their ids stay free.
    let s = p.snapshot();
    assert_eq!(realized(&s), money(100));
    assert!(
        p.submit(&trade("s-2", "sell", 1, 130, r#","close_lots":["t-1"]"#))
            .is_ok()
    );
    assert_eq!(realized(&p.snapshot()), money(130));
    p.finish();
}

#[test]
fn a_batch_sees_the_lots_its_earlier_trades_open_and_close() {
    let mut p = Pipeline::start(config(), Box::new(NullSink));
    let mut batch = opening();
    batch.push(trade("s-1", "sell", 10, 130, r#","close_lots":["t-2"]"#));
    assert!(
        p.check(&batch).is_ok(),
        "a lot opened earlier in the batch can be named"
    );
    batch.push(trade("s-2", "sell", 1, 130, r#","close_lots":["t-2"]"#));
    match p.check(&batch) {
        Ok(()) => panic!("t-2 is closed by the batch's fourth trade"),
        Err((i, e)) => {
            assert_eq!(i, 4);
            assert!(e.to_string().contains(r#"lot "t-2""#), "{e}");
        }
    }
    // The check changed nothing: the first four go in as a group.
    batch.pop();
    assert!(p.submit_atomic(&batch).is_ok());
    assert_eq!(realized(&p.snapshot()), money(200));
    p.finish();
}

#[test]
fn decoding_refuses_a_malformed_close_lots() {
    let bad = |extra: &str| {
        let line = format!(
            r#"{{"type":"trade","ts":"2026-12-01T10:00:00Z","account":"F1","instrument":"AAPL","side":"sell","qty":"1","price":"1"{extra}}}"#
        );
        match Event::from_json(&line) {
            Ok(e) => panic!("accepted {e:?}"),
            Err(e) => e.to_string(),
        }
    };
    assert!(bad(r#","close_lots":[]"#).contains("names no lot"));
    assert!(bad(r#","close_lots":["a","a"]"#).contains(r#"names lot "a" twice"#));
    assert!(bad(r#","close_lots":"t-1""#).contains("close_lots"));
    assert!(bad(r#","close_lots":null"#).contains("close_lots"));
    assert!(bad(r#","close_lots":[""]"#).contains("close_lots"));
    let tick =
        r#"{"type":"tick","ts":"2026-12-01T10:00:00Z","instrument":"AAPL","price":"1","close_lots":["a"]}"#;
    assert!(Event::from_json(tick).is_err());
    let many: Vec<String> = (0..1_001).map(|i| format!("\"l{i}\"")).collect();
    assert!(bad(&format!(r#","close_lots":[{}]"#, many.join(","))).contains("at most 1000"));
}

fn store_config(snapshot_every: u64) -> StoreConfig {
    StoreConfig {
        sync: SyncMode::Always,
        snapshot_every_events: snapshot_every,
        snapshot_every: None,
        ..StoreConfig::default()
    }
}

#[test]
fn lot_names_survive_a_restart_from_a_snapshot_and_from_the_journal() -> Result<(), Box<dyn std::error::Error>>
{
    let g1 = ev(
        r#"{"type":"trade","ts":"2026-12-01T10:00:00Z","account":"G1","instrument":"AAPL","side":"buy","qty":"1","price":"100"}"#,
    );
    // Reopened with G1 on another method, the final snapshot is skipped
    // (its lots were built under avg) and the journal replayed.
    for from_journal in [false, true] {
        let dir = tempfile::tempdir()?;
        {
            let (mut engine, _) = Engine::open(dir.path(), config(), store_config(0), Box::new(NullSink))?;
            engine.submit(&g1)?;
            for e in opening() {
                engine.submit(&e)?;
            }
            engine.submit(&trade("s-1", "sell", 5, 130, r#","close_lots":["t-2"]"#))?;
            drop(engine.finish());
        }
        let mut reopened = config();
        if from_journal {
            reopened.methods.accounts.insert("G1".into(), Method::Lifo);
        }
        let (mut engine, rec) = Engine::open(dir.path(), reopened, store_config(0), Box::new(NullSink))?;
        assert_eq!(rec.snapshot.is_none(), from_journal, "{rec:?}");
        // t-2 has 5 left under its name; t-3 is whole.
        engine.submit(&trade("s-2", "sell", 15, 140, r#","close_lots":["t-3","t-2"]"#))?;
        let refused = engine.submit(&trade("s-3", "sell", 1, 140, r#","close_lots":["t-2"]"#));
        assert!(refused.is_err(), "t-2 is closed");
        let s = engine.finish();
        // 5 × 20 before; then 10 × 20 (t-3) + 5 × 30 (t-2); t-1 is left.
        let f1: Vec<_> = s.positions.iter().filter(|p| p.account.0 == 1).collect();
        let total = f1.iter().map(|p| p.realized_pnl).fold(Notional(0), |a, b| a + b);
        assert_eq!(
            total.to_money(),
            money(100 + 200 + 150),
            "from the journal: {from_journal}"
        );
        assert_eq!(f1[0].avg_cost.to_string(), "100");
    }
    Ok(())
}
