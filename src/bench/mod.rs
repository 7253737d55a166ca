//! `kupala bench`: end-to-end figures on the standard workload
//! (docs/benchmarks.md, "The workload"), each beside a baseline measured in
//! the same run on the same data, printed as a table and written as JSON
//! (`{"scenario": {"name": .., ...}}`).

mod history;
mod ingest;
mod ml;
mod naive;
mod pnl;
pub mod reference;
mod scenarios;
mod ws;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::bail;
use hdrhistogram::Histogram;
use kupala_engine::state::{PortfolioState, PositionDelta};
use kupala_engine::{DeltaSink, clock};
use serde_json::{Value, json};

/// Which scenarios to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    /// Ticks through the sharded engine with the journal on, every-tick and
    /// coalesced, at max throughput and at fixed offered loads.
    Engine,
    /// Journal append events/s per sync mode.
    Journal,
    /// Replay of a stored journal, events/s.
    Replay,
    /// Snapshot write and recovery time for many positions.
    Recovery,
    /// Tick→delta latency at a fixed load, idle vs while the ML sidecar runs.
    Ml,
    /// WebSocket fan-out: deltas/s to N subscriber connections and
    /// tick→client latency, beside a trivial broadcast server.
    Ws,
    /// TCP ingest into the journaled engine: sustained ticks/s, and
    /// conflation at twice that offered rate.
    Ingest,
    /// The engine with the P&L features (strategies, EUR-base accounts)
    /// beside the same run without them.
    Pnl,
    /// The journaled engine with the P&L history off and on, on ticks
    /// stamped as a busy feed (a mark every 2,000 ticks).
    History,
    /// Everything above.
    All,
}

/// Options of a run.
#[derive(Clone, Debug)]
pub struct BenchOptions {
    /// Scenario to run.
    pub scenario: Scenario,
    /// Small sizes: the whole run in under a minute on 2 cores.
    pub quick: bool,
    /// A small workload of the standard shape (seconds): for the harness's
    /// own test, not for published figures.
    pub tiny: bool,
    /// Where to write the JSON report.
    pub json: Option<PathBuf>,
    /// Shard count (default: available cores).
    pub shards: Option<usize>,
    /// Show progress on stderr.
    pub progress: bool,
}

/// Latency percentiles in microseconds.
pub(crate) fn percentiles(h: &Histogram<u64>) -> Value {
    let us = |ns: u64| (ns as f64 / 1000.0 * 100.0).round() / 100.0;
    json!({
        "p50": us(h.value_at_quantile(0.50)),
        "p99": us(h.value_at_quantile(0.99)),
        "p999": us(h.value_at_quantile(0.999)),
        "max": us(h.max()),
        "count": h.len(),
    })
}

/// A histogram of nanoseconds from 1 ns to 60 s, 3 significant digits.
pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable_histogram()))
}

#[allow(clippy::panic, reason = "a 3-digit histogram always builds")]
fn unreachable_histogram() -> Histogram<u64> {
    panic!("hdrhistogram refused 3 significant digits")
}

/// A sink that records tick→delta latency of every stamped output.
#[derive(Clone)]
pub(crate) struct LatencySink {
    pub(crate) hist: Arc<Mutex<Histogram<u64>>>,
}

impl LatencySink {
    pub(crate) fn new() -> Self {
        Self {
            hist: Arc::new(Mutex::new(histogram())),
        }
    }

    pub(crate) fn take(&self) -> Histogram<u64> {
        self.hist
            .lock()
            .map(|mut h| std::mem::replace(&mut *h, histogram()))
            .unwrap_or_else(|_| histogram())
    }
}

impl DeltaSink for LatencySink {
    fn publish(&mut self, _: u64, _: &[PositionDelta], _: &[PortfolioState]) {}

    fn wants_totals(&self) -> bool {
        false
    }

    fn publish_stamped(&mut self, _: u64, t_in: u64, _: &[PositionDelta], _: &[PortfolioState]) {
        if t_in != 0
            && let Ok(mut h) = self.hist.lock()
        {
            h.saturating_record(clock::now_ns().saturating_sub(t_in).max(1));
        }
    }
}

/// Runs the chosen scenarios; returns the JSON report.
pub fn run(opts: &BenchOptions) -> anyhow::Result<Value> {
    let all = opts.scenario == Scenario::All;
    let mut report: BTreeMap<String, Value> = BTreeMap::new();
    let dir = tempfile::tempdir()?;
    let ctx = scenarios::Context::new(opts, dir.path());
    if all || opts.scenario == Scenario::Engine {
        for (k, v) in scenarios::engine(&ctx)? {
            report.insert(k, v);
        }
    }
    if all || opts.scenario == Scenario::Journal || opts.scenario == Scenario::Replay {
        let (journal, replay) = scenarios::journal_and_replay(&ctx)?;
        if all || opts.scenario == Scenario::Journal {
            report.insert("journal".into(), journal);
        }
        if all || opts.scenario == Scenario::Replay {
            report.insert("replay".into(), replay);
        }
    }
    if all || opts.scenario == Scenario::Recovery {
        report.insert("recovery".into(), scenarios::recovery(&ctx)?);
    }
    if all || opts.scenario == Scenario::Ml {
        report.insert("ml".into(), ml::run(opts, dir.path())?);
    }
    if all || opts.scenario == Scenario::Ws {
        report.extend(ws::ws(&ctx)?);
    }
    if all || opts.scenario == Scenario::Ingest {
        report.extend(ingest::ingest(&ctx)?);
    }
    if all || opts.scenario == Scenario::Pnl {
        report.insert("pnl_features".into(), pnl::pnl(&ctx)?);
    }
    if all || opts.scenario == Scenario::History {
        report.insert("history".into(), history::history(&ctx)?);
    }
    if report.is_empty() {
        bail!("no scenario ran");
    }
    let value = Value::Object(report.into_iter().collect());
    if let Some(path) = &opts.json {
        std::fs::write(path, serde_json::to_string_pretty(&value)?)?;
    }
    Ok(value)
}

/// Renders the report as a table: one line per scenario and figure.
#[must_use]
pub fn table(report: &Value) -> String {
    let mut out = String::new();
    if let Value::Object(scenarios) = report {
        for (name, v) in scenarios {
            out.push_str(&format!("{name}\n"));
            if let Value::Object(fields) = v {
                for (k, f) in fields {
                    out.push_str(&format!("  {k:<32} {f}\n"));
                }
            }
        }
    }
    out
}
