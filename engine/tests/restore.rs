//! A snapshot restore and a full replay of the same journal give the same
//! positions, field by field, `seq` (the `journal_seq` clients see)
//! included: a position's seq is the last event that changed it, whatever
//! the batching, and wherever the run restarted.

use std::path::Path;
use std::time::Duration;

use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::state::{EngineState, PositionState};
use kupala_engine::store::Store;
use kupala_engine::{Event, NullSink, Pipeline, PipelineConfig};

/// A deterministic stream in which positions often go flat (quantities of 1
/// or 2) and an EOD every ~150 events rolls them into history; ticks and FX
/// move marks and rates between trades.
fn stream(n: usize) -> Vec<Event> {
    let mut lines = vec![
        r#"{"type":"instrument","id":"SAP","currency":"EUR","multiplier":"1"}"#.to_owned(),
        r#"{"type":"instrument","id":"ES","currency":"USD","multiplier":"50"}"#.to_owned(),
        r#"{"type":"fx","ts":"2026-12-01T09:00:00Z","pair":"EUR/USD","rate":"1.08"}"#.to_owned(),
    ];
    let mut x: u64 = 7;
    let mut rnd = |m: u64| {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (x >> 33) % m
    };
    let mut day = 1;
    for i in 0..n {
        let inst = ["AAPL", "MSFT", "SAP", "ES"][rnd(4) as usize];
        let line = match rnd(150) {
            0..=59 => format!(
                r#"{{"type":"trade","id":"t{i}","ts":"2026-12-01T10:00:00Z","account":"A{}","instrument":"{inst}","side":"{}","qty":"{}","price":"{}.{}"}}"#,
                rnd(3),
                if rnd(2) == 0 { "buy" } else { "sell" },
                1 + rnd(2),
                90 + rnd(20),
                rnd(100)
            ),
            60..=139 => format!(
                r#"{{"type":"tick","ts":"2026-12-01T10:00:01Z","instrument":"{inst}","price":"{}.{}"}}"#,
                90 + rnd(20),
                rnd(100)
            ),
            140..=148 => format!(
                r#"{{"type":"fx","ts":"2026-12-01T10:00:02Z","pair":"EUR/USD","rate":"1.0{}"}}"#,
                50 + rnd(50)
            ),
            _ => {
                day += 1;
                format!(r#"{{"type":"eod","date":"2027-01-{:02}"}}"#, day % 28 + 1)
            }
        };
        lines.push(line);
    }
    lines.iter().filter_map(|l| Event::from_json(l).ok()).collect()
}

fn pipeline(batch_size: usize) -> PipelineConfig {
    PipelineConfig {
        shards: 2,
        batch_size,
        ..PipelineConfig::default()
    }
}

fn store_config(snapshot_every: u64) -> StoreConfig {
    StoreConfig {
        sync: SyncMode::Periodic(Duration::from_millis(1)),
        snapshot_every_events: snapshot_every,
        snapshot_every: None,
        keep_snapshots: 2,
        ..StoreConfig::default()
    }
}

/// Feeds `evs` into the store in `dir` through the durable engine, with a
/// snapshot every `snapshot_every` events; returns the live final state.
fn run(dir: &Path, evs: &[Event], snapshot_every: u64) -> Result<EngineState, Box<dyn std::error::Error>> {
    let (mut engine, _) = Engine::open(
        dir,
        pipeline(64),
        store_config(snapshot_every),
        Box::new(NullSink),
    )?;
    for e in evs {
        engine.submit(e)?;
    }
    Ok(engine.finish())
}

/// The whole journal of `dir` through a fresh in-memory pipeline (what
/// `kupala replay` does), in batches of `batch_size`.
fn full_replay(dir: &Path, batch_size: usize) -> Result<EngineState, Box<dyn std::error::Error>> {
    let store = Store::open(dir)?;
    let mut p = Pipeline::start(pipeline(batch_size), Box::new(NullSink));
    for key in store.journal_keys()? {
        let batch = store.journal_batch(key)?;
        let mut names = batch.names.as_slice();
        for ev in &batch.events {
            p.replay(names, ev.seq_op(), ev.tags())?;
            names = &[];
        }
    }
    Ok(p.finish())
}

/// Every position, keyed, with the fields that differ listed by name.
fn diff(a: &[PositionState], b: &[PositionState]) -> Vec<String> {
    let mut out = Vec::new();
    if a.len() != b.len() {
        out.push(format!("{} positions vs {}", a.len(), b.len()));
    }
    for (x, y) in a.iter().zip(b) {
        let key = (x.account, x.instrument);
        if (y.account, y.instrument) != key {
            out.push(format!("{key:?} vs {:?}", (y.account, y.instrument)));
            continue;
        }
        let fields = [
            ("seq", x.seq != y.seq),
            ("qty", x.qty != y.qty),
            ("avg_cost", x.avg_cost != y.avg_cost),
            ("mark", x.mark != y.mark),
            ("market_value", x.market_value != y.market_value),
            ("realized_pnl", x.realized_pnl != y.realized_pnl),
            ("unrealized_pnl", x.unrealized_pnl != y.unrealized_pnl),
            ("fees", x.fees != y.fees),
            ("net_pnl", x.net_pnl != y.net_pnl),
            ("day_pnl", x.day_pnl != y.day_pnl),
            ("base", x.base != y.base),
            ("currency", x.currency != y.currency),
            ("base_currency", x.base_currency != y.base_currency),
        ];
        for (name, differs) in fields {
            if differs {
                out.push(format!("{key:?} {name}: {x:?} vs {y:?}"));
            }
        }
    }
    out
}

#[test]
fn journal_seq_is_the_same_after_a_snapshot_restore_and_a_full_replay()
-> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(4000);
    let dir = tempfile::tempdir()?;
    // Two runs with snapshots mid-run, a restart from a snapshot between.
    run(dir.path(), &evs[..1700], 300)?;
    let live = run(dir.path(), &evs[1700..], 300)?;
    // Restart: the final snapshot alone, no journal tail.
    let (engine, recovery) = Engine::open(dir.path(), pipeline(64), store_config(0), Box::new(NullSink))?;
    assert_eq!(recovery.replayed, 0, "{recovery:?}");
    let restored = engine.finish();
    assert!(restored.positions.len() > 5, "a meaningful book: {restored:?}");

    for batch_size in [1, 7, 1024] {
        let replayed = full_replay(dir.path(), batch_size)?;
        let d = diff(&restored.positions, &replayed.positions);
        assert!(
            d.is_empty(),
            "restored vs full replay (batch {batch_size}):\n{}",
            d.join("\n")
        );
        let d = diff(&live.positions, &replayed.positions);
        assert!(
            d.is_empty(),
            "live vs full replay (batch {batch_size}):\n{}",
            d.join("\n")
        );
        assert_eq!(restored.portfolios, replayed.portfolios, "batch {batch_size}");
        assert_eq!(restored.seq, replayed.seq);
    }
    Ok(())
}

#[test]
fn an_unreadable_snapshot_is_skipped_with_a_warning() -> Result<(), Box<dyn std::error::Error>> {
    let evs = stream(3000);
    let dir = tempfile::tempdir()?;
    let live = run(dir.path(), &evs, 700)?;
    let tables = Store::open(dir.path())?.flush_snapshots_to_table()?;
    let table = std::fs::read_dir(&tables)?
        .flatten()
        .map(|e| e.path())
        .max_by_key(|p| std::fs::metadata(p).map_or(0, |m| m.len()))
        .ok_or("no snapshot table")?;
    let orig = std::fs::read(&table)?;
    // Flips in the data blocks (the table's last bytes hold its trailer,
    // whose damage fjall refuses to open at all).
    for percent in [10, 50, 90] {
        let mut bytes = orig.clone();
        bytes[orig.len() * percent / 100] ^= 0x5a;
        std::fs::write(&table, &bytes)?;
        let (engine, recovery) = Engine::open(dir.path(), pipeline(64), store_config(0), Box::new(NullSink))?;
        let state = engine.finish();
        assert!(
            recovery
                .warnings
                .iter()
                .any(|w| w.contains("snapshot") && w.contains("unreadable")),
            "{percent}%: {recovery:?}"
        );
        assert_eq!(
            state.positions, live.positions,
            "{percent}%: the journal rebuilt the state"
        );
        assert_eq!(state.portfolios, live.portfolios, "{percent}%");
        std::fs::write(&table, &orig)?;
    }
    Ok(())
}

/// A snapshot from before books (no book table, no firm amounts, every
/// position and total of an account's default book, numbered as the
/// account) restores into default books, and the firm's amounts so far
/// are its books' own (all in the reporting currency): the run continues
/// exactly as an uninterrupted one.
#[test]
fn an_image_from_before_books_restores_into_default_books_and_the_firm() {
    let evs = stream(600);
    let cut = 380;
    let mut live = Pipeline::start(pipeline(16), Box::new(NullSink));
    for e in &evs[..cut] {
        let _ = live.submit(e);
    }
    let mut image = live.image();
    assert!(image.firm.is_some() && !image.sequencer.books.is_empty());
    image.sequencer.books.clear();
    image.sequencer.books_known = false;
    image.sequencer.strategies.clear();
    image.firm = None;
    for p in &mut image.books.positions {
        p.book = p.account;
    }
    for p in &mut image.portfolios {
        p.book = p.account;
    }
    let mut resumed = Pipeline::resume(pipeline(16), Box::new(NullSink), Some(&image));
    for e in &evs[cut..] {
        let _ = live.submit(e);
        let _ = resumed.submit(e);
    }
    let unseq = |mut s: EngineState| {
        s.portfolios.iter_mut().for_each(|p| p.seq = 0);
        s.books.iter_mut().for_each(|b| b.totals.seq = 0);
        s.firm.seq = 0;
        s
    };
    let (want, got) = (unseq(live.finish()), unseq(resumed.finish()));
    assert!(
        want.firm.realized_pnl.0 != 0 && want.firm.fees.0 == 0,
        "{:?}",
        want.firm
    );
    assert_eq!(got.firm, want.firm);
    assert_eq!(got, want);
}
