//! The P&L-history scenario: the standard workload, journaled, with its
//! ticks restamped as a busy feed (2,000 ticks per second of event time,
//! so a mark every 2,000 ticks), the history off and on in the same
//! process. Each run is timed until `finish` returns, which waits for the
//! history writer (a snapshot waits for the marks before it), so the
//! figure includes every point written.

use std::time::Instant;

use kupala_engine::NullSink;
use kupala_engine::durable::Engine;
use kupala_engine::event::Event;
use kupala_engine::history::HistoryConfig;
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::time::Timestamp;
use serde_json::{Value, json};

use super::scenarios::{Context, rate, what};

/// Ticks per second of event time.
const TICKS_PER_SECOND: i64 = 2_000;

/// Ticks/s with the history off and on, and the marks the run placed.
pub(crate) fn history(ctx: &Context) -> anyhow::Result<Value> {
    let w = ctx.workload(None);
    let mut ticks: Vec<Event> = w.ticks(ctx.ticks()).collect();
    let start = Timestamp::parse("2026-12-01T14:30:00Z").map_err(anyhow::Error::msg)?;
    for (k, e) in ticks.iter_mut().enumerate() {
        let k = i64::try_from(k)?;
        e.restamp(Timestamp(start.0 + k * 1_000_000_000 / TICKS_PER_SECOND));
    }
    let mut opening = w.opening_trades();
    opening.iter_mut().for_each(|e| e.restamp(start));
    let tick_count = ticks.iter().filter(|e| matches!(e, Event::Tick(_))).count() as u64;
    let mut out = serde_json::Map::new();
    out.insert("name".into(), json!("history"));
    let mut rates = Vec::new();
    for (variant, history) in [("off", None), ("on", Some(HistoryConfig::default()))] {
        ctx.say(&format!("history {variant}: {tick_count} ticks"));
        let mut pipeline = ctx.pipeline(true);
        pipeline.history = history;
        let dir = ctx.dir.join(format!("history-{variant}"));
        let store = Context::store(SyncMode::Periodic(std::time::Duration::from_millis(5)));
        let (mut engine, _) = Engine::open(&dir, pipeline, store, Box::new(NullSink))?;
        for e in &opening {
            engine.submit(e)?;
        }
        let _ = engine.state();
        let t0 = Instant::now();
        for e in &ticks {
            engine.submit(e)?;
        }
        engine.finish();
        let r = rate(tick_count, t0.elapsed());
        out.insert(format!("{variant}_ticks_per_sec"), json!(r));
        rates.push(r);
        let _ = std::fs::remove_dir_all(&dir);
    }
    let ratio = rates[1] / rates[0].max(1.0);
    out.insert("ratio".into(), json!((ratio * 1000.0).round() / 1000.0));
    out.insert(
        "marks".into(),
        json!(tick_count / TICKS_PER_SECOND.unsigned_abs()),
    );
    out.insert("ticks_per_event_second".into(), json!(TICKS_PER_SECOND));
    out.insert(
        "what".into(),
        what(&w, tick_count, ctx.shards(true), "periodic 5 ms"),
    );
    Ok(Value::Object(out))
}
