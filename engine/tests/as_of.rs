//! As-of reads from the store: the nearest snapshot at or before a seq
//! plus the journal up to it equal a from-scratch recomputation of the
//! events up to it; a time resolves as `replay --to` reads it; a point
//! beyond the journal, too far from a snapshot, or pruned away is refused.

use kupala_engine::as_of::{AsOf, AsOfError, state_as_of};
use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::reference::Reference;
use kupala_engine::state::EngineState;
use kupala_engine::store::Store;
use kupala_engine::time::Timestamp;
use kupala_engine::{BaseCurrencies, Event, Method, NullSink, PipelineConfig};

/// 3 accounts, a EUR instrument, ticks, FX and a dividend; event `i`
/// (from 0) is stamped `i` minutes after 10:00, so seq `i + 1` is too.
fn events(n: usize) -> Vec<Event> {
    let mut out = vec![
        r#"{"type":"instrument","id":"SAP","currency":"EUR","multiplier":"1"}"#.to_owned(),
        r#"{"type":"fx","ts":"2026-12-01T10:01:00Z","pair":"EUR/USD","rate":"1.08"}"#.to_owned(),
    ];
    for i in 2..n {
        let ts = format!("2026-12-01T{:02}:{:02}:00Z", 10 + i / 60, i % 60);
        let inst = ["AAPL", "SAP", "MSFT"][i % 3];
        out.push(match i % 7 {
            0 | 3 => format!(
                r#"{{"type":"trade","ts":"{ts}","account":"A{}","instrument":"{inst}","side":"{}","qty":"{}","price":"{}"}}"#,
                i % 3,
                if i % 2 == 0 { "buy" } else { "sell" },
                1 + i % 9,
                95 + i % 11
            ),
            5 => format!(r#"{{"type":"fx","ts":"{ts}","pair":"EUR/USD","rate":"1.{:02}"}}"#, i % 30),
            6 if i % 5 == 0 => format!(r#"{{"type":"dividend","ts":"{ts}","instrument":"{inst}","amount":"0.5"}}"#),
            _ => format!(r#"{{"type":"tick","ts":"{ts}","instrument":"{inst}","price":"{}"}}"#, 90 + i % 17),
        });
    }
    out.iter().filter_map(|l| Event::from_json(l).ok()).collect()
}

fn config() -> PipelineConfig {
    PipelineConfig {
        shards: 2,
        emit_positions: false,
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

/// Without seqs and closed history (the as-of state holds only what its
/// replay closed).
fn comparable(mut s: EngineState) -> EngineState {
    s.seq = 0;
    s.positions.iter_mut().for_each(|p| p.seq = 0);
    s.portfolios.iter_mut().for_each(|p| p.seq = 0);
    s.books.iter_mut().for_each(|b| b.totals.seq = 0);
    s.firm.seq = 0;
    s.closed.clear();
    s
}

fn want(evs: &[Event]) -> EngineState {
    comparable(Reference::replay(Method::Avg, BaseCurrencies::default(), evs).state())
}

fn written(
    dir: &std::path::Path,
    evs: &[Event],
    snapshot_every: u64,
) -> Result<Store, Box<dyn std::error::Error>> {
    let (mut engine, _) = Engine::open(dir, config(), store_config(snapshot_every), Box::new(NullSink))?;
    for e in evs {
        assert!(engine.submit(e).is_ok_and(|s| s.is_some()), "{e:?} accepted");
    }
    drop(engine.finish());
    Ok(Store::open(dir)?)
}

#[test]
fn a_seq_reads_the_nearest_snapshot_then_the_journal() -> Result<(), Box<dyn std::error::Error>> {
    let evs = events(400);
    let dir = tempfile::tempdir()?;
    let store = written(dir.path(), &evs, 150)?;
    for (seq, snapshot) in [
        (0, None),
        (1, None),
        (149, None),
        (150, Some(150)),
        (220, Some(150)),
        (400, Some(400)),
    ] {
        let got = state_as_of(&store, config(), AsOf::Seq(seq), u64::MAX)?;
        assert_eq!((got.seq, got.snapshot), (seq, snapshot), "seq {seq}");
        assert_eq!(got.replayed, seq - snapshot.unwrap_or(0));
        assert_eq!(comparable(got.state), want(&evs[..seq as usize]), "seq {seq}");
    }
    Ok(())
}

#[test]
fn a_time_reads_up_to_the_first_event_stamped_after_it() -> Result<(), Box<dyn std::error::Error>> {
    let evs = events(300);
    let dir = tempfile::tempdir()?;
    let store = written(dir.path(), &evs, 100)?;
    // Event i is stamped i minutes after 10:00: 12:00:30 takes events 0 to
    // 120, seq 121.
    let ts = Timestamp::parse("2026-12-01T12:00:30Z")?;
    let got = state_as_of(&store, config(), AsOf::Ts(ts), u64::MAX)?;
    assert_eq!((got.seq, got.snapshot), (121, Some(100)));
    assert_eq!(comparable(got.state), want(&evs[..121]));
    let before = Timestamp::parse("2026-12-01T09:00:00Z")?;
    assert_eq!(
        state_as_of(&store, config(), AsOf::Ts(before), u64::MAX)?.seq,
        1,
        "only the definition"
    );
    let after = Timestamp::parse("2027-01-01T00:00:00Z")?;
    assert_eq!(state_as_of(&store, config(), AsOf::Ts(after), u64::MAX)?.seq, 300);
    Ok(())
}

#[test]
fn beyond_too_far_and_pruned_are_refused_by_name() -> Result<(), Box<dyn std::error::Error>> {
    let evs = events(300);
    let dir = tempfile::tempdir()?;
    let store = written(dir.path(), &evs, 100)?;
    let err = |at, max| {
        state_as_of(&store, config(), at, max)
            .err()
            .map(|e| e.to_string())
    };
    assert_eq!(
        err(AsOf::Seq(301), u64::MAX),
        Some("seq 301 is beyond the journal, which ends at seq 300".into())
    );
    let far = state_as_of(&store, config(), AsOf::Seq(250), 40);
    assert!(
        matches!(
            far,
            Err(AsOfError::TooFar {
                needed: 50,
                from: 200,
                limit: 40
            })
        ),
        "{far:?}"
    );
    assert!(
        state_as_of(&store, config(), AsOf::Seq(230), 40).is_ok(),
        "30 after the snapshot at 200"
    );
    store.prune_journal_before(200)?;
    let first = store.first_journal_seq()?.unwrap_or(0);
    assert!(first > 1 && first <= 201, "pruned to {first}");
    let pruned = err(AsOf::Seq(50), u64::MAX).unwrap_or_default();
    assert!(
        pruned.starts_with(&format!("the journal was pruned: it starts at seq {first}")),
        "{pruned}"
    );
    // Snapshots at or after the pruned part still answer.
    let got = state_as_of(&store, config(), AsOf::Seq(260), u64::MAX)?;
    assert_eq!(comparable(got.state), want(&evs[..260]));
    Ok(())
}
