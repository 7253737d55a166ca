//! Checked-in stores of the current on-disk format (`fixtures/store-v3`, and
//! `fixtures/store-v3-torn` whose last journal batch is cut short), and two
//! of the formats before (`fixtures/store-v1`, `fixtures/store-v2`), which
//! must be refused. A change
//! of the record layout, the framing or fjall's files makes these fail, so a
//! format change cannot pass silently: bump `FORMAT_VERSION` and regenerate
//! with `KUPALA_REGENERATE_FIXTURES=1 cargo test -p kupala-engine --test fixture`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::reference::Reference;
use kupala_engine::state::EngineState;
use kupala_engine::store::{FORMAT_VERSION, Store};
use kupala_engine::{BaseCurrencies, Event, Method, NullSink, PipelineConfig};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn events() -> Vec<Event> {
    let text = std::fs::read_to_string(fixtures().join("store.jsonl")).unwrap_or_default();
    text.lines().filter_map(|l| Event::from_json(l).ok()).collect()
}

fn config() -> StoreConfig {
    StoreConfig {
        sync: SyncMode::Always,
        snapshot_every_events: 12,
        snapshot_every: None,
        ..StoreConfig::default()
    }
}

fn pipeline() -> PipelineConfig {
    PipelineConfig {
        shards: 2,
        ..PipelineConfig::default()
    }
}

fn comparable(mut s: EngineState) -> EngineState {
    s.seq = 0;
    s.positions.iter_mut().for_each(|p| p.seq = 0);
    s.portfolios.iter_mut().for_each(|p| p.seq = 0);
    s.books.iter_mut().for_each(|b| b.totals.seq = 0);
    s.firm.seq = 0;
    s.closed.clear();
    s
}

/// Copies a fixture to a temporary directory (opening may write).
fn copy(name: &str) -> Result<tempfile::TempDir, Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    copy_dir(&fixtures().join(name), &dir.path().join("s"))?;
    Ok(dir)
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

#[test]
fn the_checked_in_store_opens_and_recovers_the_same_books() -> Result<(), Box<dyn std::error::Error>> {
    let evs = events();
    assert_eq!(evs.len(), 20);
    let dir = copy("store-v3")?;
    let store = Store::open(&dir.path().join("s"))?;
    assert_eq!(store.journal_keys()?.first(), Some(&1));
    assert_eq!(store.snapshot_seqs()?, vec![12, 20]);
    let batch = store.journal_batch(1)?;
    assert_eq!(batch.events[0].seq, 1);
    let names = store.names()?;
    let replayed: Vec<Event> = store
        .journal_keys()?
        .into_iter()
        .filter_map(|k| store.journal_batch(k).ok())
        .flat_map(|b| b.events.into_iter())
        .map(|e| e.event(&names))
        .collect();
    assert_eq!(replayed.len(), evs.len());
    assert_eq!(replayed[11], evs[11], "the journal decodes to the events written");
    drop(store);
    let (engine, rec) = Engine::open(&dir.path().join("s"), pipeline(), config(), Box::new(NullSink))?;
    // Its snapshots predate the FX attribution (no base costs) and its
    // journal is whole: it is rebuilt from the journal, exactly.
    assert_eq!((rec.snapshot, rec.replayed, rec.last_seq), (None, 20, 20));
    assert!(
        rec.warnings
            .iter()
            .any(|w| w.contains("snapshot 20 predates the FX attribution")),
        "{:?}",
        rec.warnings
    );
    let want = comparable(Reference::replay(Method::Avg, BaseCurrencies::default(), &evs).state());
    assert_eq!(comparable(engine.finish()), want);
    Ok(())
}

#[test]
fn the_torn_fixture_recovers_to_its_last_whole_batch() -> Result<(), Box<dyn std::error::Error>> {
    let evs = events();
    let dir = copy("store-v3-torn")?;
    let (engine, rec) = Engine::open(&dir.path().join("s"), pipeline(), config(), Box::new(NullSink))?;
    assert!(
        rec.warnings
            .iter()
            .any(|w| w.contains("journal tail damaged from seq 20")),
        "{:?}",
        rec.warnings
    );
    assert_eq!(rec.last_seq, 19);
    let want = comparable(Reference::replay(Method::Avg, BaseCurrencies::default(), &evs[..19]).state());
    assert_eq!(comparable(engine.finish()), want);
    Ok(())
}

#[test]
fn marker_states_the_format() -> Result<(), Box<dyn std::error::Error>> {
    let text = std::fs::read_to_string(fixtures().join("store-v3").join("KUPALA_STORE"))?;
    assert_eq!(text.trim(), format!("kupala store format {FORMAT_VERSION}"));
    Ok(())
}

#[test]
fn stores_of_the_formats_before_are_refused_untouched() -> Result<(), Box<dyn std::error::Error>> {
    for old in [1, 2] {
        let dir = copy(&format!("store-v{old}"))?;
        let path = dir.path().join("s");
        let before = std::fs::read(path.join("KUPALA_STORE"))?;
        let err = Store::open(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains(&format!("format {old}")) && err.contains(&format!("reads format {FORMAT_VERSION}")),
            "{err}"
        );
        let refused = Engine::open(&path, pipeline(), config(), Box::new(NullSink)).err();
        assert!(refused.is_some(), "the engine opened a format-{old} store");
        assert_eq!(std::fs::read(path.join("KUPALA_STORE"))?, before);
    }
    Ok(())
}

/// Writes the fixtures again (only with KUPALA_REGENERATE_FIXTURES=1).
#[test]
fn regenerate_fixtures() -> Result<(), Box<dyn std::error::Error>> {
    if std::env::var_os("KUPALA_REGENERATE_FIXTURES").is_none() {
        return Ok(());
    }
    let evs = events();
    for (name, torn) in [("store-v3", false), ("store-v3-torn", true)] {
        let path = fixtures().join(name);
        let _ = std::fs::remove_dir_all(&path);
        let (mut engine, _) = Engine::open(&path, pipeline(), config(), Box::new(NullSink))?;
        for (i, e) in evs.iter().enumerate() {
            let _ = engine.submit(e);
            if torn && i == evs.len() - 2 {
                let _ = engine.sync(Duration::from_secs(10));
            }
        }
        if torn {
            let _ = engine.sync(Duration::from_secs(10));
            drop(engine);
            let store = Store::open(&path)?;
            let last = store.journal_keys()?.last().copied().unwrap_or(0);
            store.put_raw_journal(last, b"\x02\xde\xad\xbe\xef\x00")?;
            drop(store);
            // A torn last write was never fsynced, so never acknowledged:
            // the mark stays at the batch before it.
            kupala_engine::store::acked::AckMark::open(&path, last - 1)?;
        } else {
            engine.finish();
        }
    }
    Ok(())
}
