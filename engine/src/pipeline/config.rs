//! How a pipeline is built (its configuration and the measured shard-count
//! default) and what it counts.

use std::sync::Arc;

use crate::history::HistoryConfig;
use crate::interest::Interest;
use crate::ledger::{CostMethods, Method};
use crate::sequencer::BaseCurrencies;

/// How the pipeline is built.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Number of shards (worker threads); at least 1.
    pub shards: usize,
    /// The cost method of every account.
    pub methods: CostMethods,
    /// Account base currencies.
    pub bases: BaseCurrencies,
    /// Capacity of each shard's channel, in batches.
    pub queue_batches: usize,
    /// Events per batch before it is sent.
    pub batch_size: usize,
    /// Events a shard's pending batch may hold before the sequencer blocks.
    pub max_pending: usize,
    /// Flush (reprice and send deltas) once per batch instead of per event.
    pub coalesce: bool,
    /// Drop superseded ticks from a pending batch when the shard is behind.
    pub conflate_ticks: bool,
    /// Produce per-position deltas (off when only totals are wanted).
    pub emit_positions: bool,
    /// Whose position deltas to produce (default: every account's).
    pub interest: Arc<Interest>,
    /// The currency of the firm's totals (`None`: USD).
    pub reporting_currency: Option<String>,
    /// Sample the P&L history (`None`: no marks, the batch default).
    pub history: Option<HistoryConfig>,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            shards: default_shards(true),
            methods: CostMethods::all(Method::Avg),
            bases: BaseCurrencies::default(),
            queue_batches: 64,
            batch_size: 1024,
            max_pending: 64 * 1024,
            coalesce: true,
            conflate_ticks: true,
            emit_positions: true,
            interest: Arc::new(Interest::default()),
            reporting_currency: None,
            history: None,
        }
    }
}

/// Counters of what the pipeline did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Events accepted and sequenced.
    pub sequenced: u64,
    /// Repeated trade ids ignored.
    pub duplicates: u64,
    /// Ticks dropped because a later tick superseded them while a shard lagged.
    pub conflated_ticks: u64,
    /// Times the sequencer had to wait for a full shard queue.
    pub blocked_sends: u64,
}

/// The shard count used when none is configured, chosen by measurement
/// (`docs/architecture.md`, "Threads"): every shard applies every op, so a
/// coalescing engine, whose flushes are cheap, gains more from leaving a
/// core to the sequencer and the journal than from a second shard (one
/// shard: 2.9 M ticks/s against 1.8–2.0 M with two, on 2 cores), while an
/// every-tick engine is bound by the tick loop, which shards split (two:
/// 217–236 k ticks/s against 126 k with one).
#[must_use]
pub fn default_shards(coalesce: bool) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    if coalesce {
        cores.saturating_sub(1).max(1)
    } else {
        cores
    }
}
