//! Commands over a store: `calc --data` (persist as it goes, resuming a file
//! where it stopped), `replay` (a backtest through a fresh engine), `inspect`
//! and `eod`.

use std::io::{BufRead, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};
use kupala_engine::durable::{Engine, StoreConfig};
use kupala_engine::ids::Names;
use kupala_engine::pipeline::Replayer;
use kupala_engine::store::Store;
use kupala_engine::store::acked::read_acked;
use kupala_engine::store::records::PositionRecord;
use kupala_engine::time::{Date, Timestamp};
use kupala_engine::view::{PositionView, StateView};
use kupala_engine::{NullSink, PipelineConfig};
use kupala_feeds::{FeedError, JsonlSource};
use serde_json::{Value, json};

use crate::calc::{CalcError, CalcReport};

/// How `calc --data` reports durability.
#[derive(Debug, Clone, Copy)]
pub struct Acks {
    /// Sync and print `durable SEQ LINE` after every this many events.
    pub every: u64,
}

/// Runs a file into the store in `dir`. Lines up to the position recorded
/// for `source_id` by an earlier run are skipped (exactly-once resume); the
/// position is journaled atomically with the events.
pub fn calc_with_store<R: BufRead>(
    mut source: JsonlSource<R>,
    source_id: &str,
    dir: &Path,
    pipeline: PipelineConfig,
    store: StoreConfig,
    skip_bad: bool,
    acks: Option<Acks>,
) -> Result<CalcReport, CalcError> {
    let fail = |e: &dyn std::fmt::Display| CalcError(e.to_string());
    let (mut engine, recovery) =
        Engine::open(dir, pipeline, store, Box::new(NullSink)).map_err(|e| fail(&e))?;
    for w in &recovery.warnings {
        tracing::warn!("{w}");
    }
    let resume = engine
        .store()
        .cursor(source_id)
        .map_err(|e| fail(&e))?
        .unwrap_or(0);
    let mut skipped = Vec::new();
    let (mut events, mut duplicates, mut since_ack) = (0u64, 0u64, 0u64);
    let mut out = std::io::stdout().lock();
    let marks = engine.watermarks();
    // A failed journal write (a full disk) applies nothing more: stop, and
    // never print a state that lacks accepted events.
    let failed = |line: u64| {
        let reason = marks.as_ref()?.failure()?;
        let durable = marks.as_ref().map_or(0, |m| m.durable());
        Some(CalcError(format!(
            "the store failed ({reason}) by line {line}: nothing after seq {durable} is stored; fix the cause and run the same command again, it resumes after the last stored line"
        )))
    };
    while let Some(item) = source.next() {
        let line = source.line();
        if line <= resume {
            continue;
        }
        if let Some(e) = failed(line) {
            return Err(e);
        }
        // The cursor travels with the journal batch that holds this line's
        // event, so it must say "done up to this line" before the event is
        // submitted: a batch sent inside `submit` (full, or cut by a
        // snapshot) then never carries an earlier line with a later event.
        engine.pipeline().set_cursor(source_id, line);
        let error = match item {
            Ok(event) => match engine.submit(&event) {
                Ok(Some(_)) => {
                    events += 1;
                    None
                }
                Ok(None) => {
                    duplicates += 1;
                    None
                }
                Err(e) => Some(format!("line {line}: {e}")),
            },
            Err(e @ FeedError::Io { .. }) => return Err(fail(&e)),
            Err(e) => Some(e.to_string()),
        };
        if let Some(error) = error {
            if !skip_bad {
                // A rerun must read the refused line again (once fixed).
                engine.pipeline().set_cursor(source_id, line - 1);
                let _ = engine.sync(Duration::from_secs(60));
                return Err(CalcError(error));
            }
            skipped.push(error);
        }
        since_ack += 1;
        if let Some(a) = acks
            && since_ack >= a.every
        {
            since_ack = 0;
            if let Some(seq) = engine.sync(Duration::from_secs(60)) {
                let _ = writeln!(out, "durable {seq} {line}");
                let _ = out.flush();
            }
        }
    }
    let _ = engine.sync(Duration::from_secs(60));
    if let Some(e) = failed(source.line()) {
        return Err(e);
    }
    let names = engine.pipeline().names().clone();
    let state = engine.finish();
    Ok(CalcReport {
        view: StateView::new(&state, &names),
        events,
        duplicates,
        skipped,
    })
}

/// How fast `replay` goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as possible.
    Max,
    /// Event time scaled by this factor (1.0 = real time).
    Times(f64),
}

impl std::str::FromStr for Speed {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s == "max" {
            return Ok(Self::Max);
        }
        let n = s.strip_suffix('x').unwrap_or(s);
        match n.parse::<f64>() {
            Ok(f) if f > 0.0 && f.is_finite() => Ok(Self::Times(f)),
            _ => Err(format!(
                "speed {s:?} must be max, 1x or a positive factor such as 10"
            )),
        }
    }
}

/// What `replay` does.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    /// Pacing starts at the first event at or after this time (events
    /// before it still build the state, at full speed).
    pub from: Option<Timestamp>,
    /// Stop at the first event after this time.
    pub to: Option<Timestamp>,
    /// Pacing.
    pub speed: Speed,
    /// Draw a progress bar on stderr.
    pub progress: bool,
}

/// Replays the journal of `dir` through a fresh in-memory engine (same
/// sequencer, shards and aggregator as live, run as a [`Replayer`]: no range
/// bounds, lazy flushes) and returns its final state. Another `--method`
/// than the live run's is the what-if backtest.
pub fn replay(dir: &Path, config: PipelineConfig, opts: &ReplayOptions) -> anyhow::Result<StateView> {
    let store = open_existing(dir)?;
    let keys = store.journal_keys()?;
    let end = journal_end(&store, &keys)?.unwrap_or(0);
    if let Some(acked) = read_acked(dir)?
        && end < acked
    {
        bail!(
            "the journal ends at seq {end}, but seq {acked} was acknowledged as durable: events {} to {acked} are lost (the store was damaged); replay would miss them. `kupala accept-loss --data {}` accepts the loss",
            end + 1,
            dir.display()
        );
    }
    if let Some(&first) = keys.first()
        && first != 1
    {
        bail!("the journal starts at seq {first} (older batches were pruned); replay needs it from seq 1");
    }
    let total = total_events(&store, &keys)?;
    let bar = progress_bar(opts.progress, total);
    let mut pipeline = Replayer::start(config);
    let mut pacer = Pacer::new(opts);
    'outer: for key in keys {
        let batch = store.journal_batch(key)?;
        let mut names = batch.names.as_slice();
        for ev in &batch.events {
            if opts.to.is_some_and(|to| ev.ts > to.0 && ev.ts != 0) {
                break 'outer;
            }
            pacer.wait(ev.ts, &mut pipeline);
            pipeline.replay(names, ev.seq_op(), ev.tags())?;
            names = &[];
        }
        // Per batch, not per event: the bar reads the clock on each call.
        bar.inc(batch.events.len() as u64);
    }
    bar.finish_and_clear();
    let names = pipeline.names().clone();
    let state = pipeline.finish();
    Ok(StateView::new(&state, &names))
}

/// Paces replay to event time.
struct Pacer {
    speed: Speed,
    from: i64,
    start: Option<(i64, Instant)>,
}

impl Pacer {
    fn new(opts: &ReplayOptions) -> Self {
        Self {
            speed: opts.speed,
            from: opts.from.map_or(i64::MIN, |t| t.0),
            start: None,
        }
    }

    fn wait(&mut self, ts: i64, pipeline: &mut Replayer) {
        let Speed::Times(factor) = self.speed else { return };
        if ts == 0 || ts < self.from {
            return;
        }
        let (t0, wall0) = *self.start.get_or_insert((ts, Instant::now()));
        #[allow(clippy::cast_precision_loss, reason = "pacing only, not P&L")]
        let due = Duration::from_secs_f64(((ts - t0).max(0) as f64 / 1e9) / factor);
        let elapsed = wall0.elapsed();
        if due > elapsed {
            pipeline.flush();
            std::thread::sleep(due - elapsed);
        }
    }
}

fn progress_bar(show: bool, total: u64) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} events {per_sec} eta {eta}") {
        bar.set_style(style);
    }
    bar
}

fn total_events(store: &Store, keys: &[u64]) -> anyhow::Result<u64> {
    let Some(&last_key) = keys.last() else {
        return Ok(0);
    };
    let last = store.journal_batch(last_key)?.last_seq().unwrap_or(0);
    Ok(last)
}

fn open_existing(dir: &Path) -> anyhow::Result<Store> {
    if !dir.join(kupala_engine::store::MARKER).exists() {
        bail!("{} holds no kupala store", dir.display());
    }
    Store::open(dir).with_context(|| format!("opening {}", dir.display()))
}

/// The store in `dir` through a private copy (`Store::open_read_only`):
/// its `path` and `disk_space` are the original's.
fn open_read_only(dir: &Path) -> anyhow::Result<kupala_engine::store::ReadOnlyStore> {
    Store::open_read_only(dir).with_context(|| format!("reading {}", dir.display()))
}

/// The last seq in the journal (`None`: empty).
fn journal_end(store: &Store, keys: &[u64]) -> anyhow::Result<Option<u64>> {
    Ok(match keys.last() {
        Some(&k) => store.journal_batch(k)?.last_seq(),
        None => None,
    })
}

/// `kupala accept-loss`: recovers the store in `dir` accepting that
/// acknowledged events are missing, lowers its acknowledged high-water mark
/// to what was recovered, and reports the range lost (`lost: null` when
/// nothing was).
pub fn accept_loss(dir: &Path, pipeline: PipelineConfig, mut store: StoreConfig) -> anyhow::Result<Value> {
    if !dir.join(kupala_engine::store::MARKER).exists() {
        bail!("{} holds no kupala store", dir.display());
    }
    store.accept_loss = true;
    let (engine, recovery) = Engine::open(dir, pipeline, store, Box::new(NullSink))
        .with_context(|| format!("opening the store in {}", dir.display()))?;
    for w in &recovery.warnings {
        tracing::warn!("{w}");
    }
    drop(engine.finish());
    Ok(json!({
        "path": dir.display().to_string(),
        "recovered_seq": recovery.last_seq,
        "acknowledged_seq": recovery.acknowledged,
        "lost": recovery.lost.map(|(first, last)| json!({"first": first, "last": last, "events": last - first + 1})),
    }))
}

/// A summary of a store: events, seq range, snapshots, EOD dates, disk use.
/// Read-only: it reads a private copy of the store (fjall has no read-only
/// open, and opening the store itself rewrites its log), so nothing in `dir`
/// changes, and a store a running server holds can be inspected.
pub fn inspect(dir: &Path) -> anyhow::Result<Value> {
    let store = open_read_only(dir)?;
    let keys = store.journal_keys()?;
    let first = keys.first().copied();
    let last = journal_end(&store, &keys)?;
    let acked = read_acked(dir)?;
    let lost = acked
        .filter(|&a| a > last.unwrap_or(0))
        .map(|a| json!({"first": last.unwrap_or(0) + 1, "last": a, "events": a - last.unwrap_or(0)}));
    let events = match (first, last) {
        (Some(f), Some(l)) => l - f + 1,
        _ => 0,
    };
    let dates: Vec<String> = store.eod_dates()?.iter().map(ToString::to_string).collect();
    Ok(json!({
        "path": dir.display().to_string(),
        "format": kupala_engine::store::FORMAT_VERSION,
        "events": events,
        "journal_batches": keys.len(),
        "seq_range": [first, last],
        "acknowledged_seq": acked,
        "lost_acknowledged": lost,
        "snapshots": store.snapshot_seqs()?,
        "eod_dates": dates,
        "closed_positions": store.closed(None)?.len(),
        "bytes_on_disk": store.disk_space(),
    }))
}

/// A day's EOD positions (and rebalancing proposals) as JSON.
pub fn eod(dir: &Path, date: Date) -> anyhow::Result<Value> {
    let store = open_existing(dir)?;
    let names = store.names()?;
    let views = |recs: Vec<PositionRecord>, names: &Names| -> Vec<PositionView> {
        // The records name their strategies: their books are numbered in
        // a copy of the names.
        let mut books = names.clone();
        recs.iter()
            .map(|r| {
                let state = r.state(&mut books);
                PositionView::new(&state, &books)
            })
            .collect()
    };
    let positions = views(store.eod(date)?, &names);
    let closed = views(store.closed(Some(date))?, &names);
    let proposals: Vec<Value> = store
        .proposals(date)?
        .iter()
        .map(|p| {
            json!({
                "account": p.account,
                "instrument": p.instrument,
                "qty": kupala_engine::num::Quantity::from_raw(p.qty),
                "price": kupala_engine::num::Price::from_raw(p.price),
                "value_base": kupala_engine::num::Notional(p.value_base).to_money(),
                "weight_now": kupala_engine::num::Rate::from_raw(p.weight_now),
                "weight_target": kupala_engine::num::Rate::from_raw(p.weight_target),
            })
        })
        .collect();
    if positions.is_empty() && !store.eod_dates()?.contains(&date) {
        bail!("no EOD recorded for {date}");
    }
    Ok(json!({ "date": date.to_string(), "positions": positions, "closed": closed, "proposals": proposals }))
}
