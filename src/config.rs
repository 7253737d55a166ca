//! Configuration: TOML into serde structs (unknown keys refused), with the
//! defaults taken from `config/default.toml` itself so the file stays true.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use kupala_engine::durable::StoreConfig;
use kupala_engine::history::HistoryConfig;
use kupala_engine::journal_writer::SyncMode;
use kupala_engine::ledger::CostMethods;
use kupala_engine::num::{Money, Quantity, Rate};
use kupala_engine::rebalance::Targets;
use kupala_engine::{BaseCurrencies, Method, PipelineConfig};
use serde::Deserialize;
use std::time::Duration;

mod env;
pub mod ml;
pub mod server;

pub use server::{AuthSection, DemoSection, ServerSection};

/// The shipped defaults, documented key by key.
pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The whole configuration file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Engine settings.
    pub engine: EngineConfig,
    /// Per-account settings.
    #[serde(default)]
    pub accounts: BTreeMap<String, AccountConfig>,
    /// Store settings.
    pub store: StoreSection,
    /// EOD schedule.
    pub eod: EodSection,
    /// The P&L history.
    pub history: HistorySection,
    /// Rebalancing targets.
    pub rebalance: RebalanceSection,
    /// `kupala serve`'s listener and limits.
    pub server: ServerSection,
    /// `kupala serve`'s tokens.
    pub auth: AuthSection,
    /// `kupala serve`'s synthetic market.
    pub demo: DemoSection,
    /// `kupala serve`'s file and live feeds.
    pub feeds: crate::file_feeds::FeedsSection,
    /// `kupala serve`'s ML sidecar.
    pub ml: ml::MlSection,
}

/// `[store]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreSection {
    /// "always" or "periodic".
    pub sync: String,
    /// Periodic fsync bound.
    pub sync_interval_ms: u64,
    /// Snapshot every N events (0 = off).
    pub snapshot_every_events: u64,
    /// Snapshot every N seconds (0 = off).
    pub snapshot_every_secs: u64,
    /// Snapshots kept.
    pub keep_snapshots: usize,
    /// Prune the journal behind the oldest snapshot.
    pub prune_journal: bool,
}

/// `[eod]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EodSection {
    /// `kupala serve` journals an EOD event at each occurrence.
    pub enabled: bool,
    /// Local time of day, `HH:MM`.
    pub time: String,
    /// IANA time zone.
    pub timezone: String,
}

/// `[history]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistorySection {
    /// Sample the P&L history (where a store keeps it).
    pub enabled: bool,
    /// The fine bucket, in ms of event time.
    pub resolution_ms: u64,
    /// How long fine points are kept, in seconds.
    pub retention_secs: u64,
    /// The coarse bucket, in seconds.
    pub coarse_secs: u64,
    /// How long coarse points are kept, in seconds.
    pub coarse_retention_secs: u64,
}

impl HistorySection {
    /// The engine's history settings (`None` when disabled).
    #[must_use]
    pub fn config(&self) -> Option<HistoryConfig> {
        let ns = |v: u64, unit: i64| i64::try_from(v).unwrap_or(i64::MAX).saturating_mul(unit);
        self.enabled.then(|| HistoryConfig {
            resolution_ns: ns(self.resolution_ms, 1_000_000),
            coarse_ns: ns(self.coarse_secs, 1_000_000_000),
            retention_ns: ns(self.retention_secs, 1_000_000_000),
            coarse_retention_ns: ns(self.coarse_retention_secs, 1_000_000_000),
        })
    }
}

/// `[rebalance]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RebalanceSection {
    /// Smallest proposed trade (base currency).
    pub min_trade: String,
    /// Lot size.
    pub lot: String,
    /// account → instrument → weight.
    #[serde(default)]
    pub targets: BTreeMap<String, BTreeMap<String, String>>,
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Shard count; 0 = available cores.
    pub shards: usize,
    /// Cost method of accounts that do not choose one.
    pub method: Method,
    /// Default base currency.
    pub base_currency: String,
    /// The currency of the firm's totals.
    pub reporting_currency: String,
    /// Events per batch.
    pub batch_size: usize,
    /// Shard queue capacity in batches.
    pub queue_batches: usize,
    /// Pending events per lagging shard before the sender blocks.
    pub max_pending: usize,
    /// Publish once per batch rather than per event.
    pub coalesce: bool,
    /// Drop superseded ticks when a shard lags.
    pub conflate_ticks: bool,
}

/// `[accounts.NAME]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountConfig {
    /// The account's base currency (default `[engine] base_currency`).
    pub base_currency: Option<String>,
    /// The account's cost method (default `[engine] method`).
    pub method: Option<Method>,
}

impl Config {
    /// The defaults of `config/default.toml`.
    pub fn default_config() -> anyhow::Result<Self> {
        Self::parse(DEFAULT_TOML).context("built-in config/default.toml")
    }

    /// Reads a file over the defaults: keys it omits keep their default.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        Self::load_with_env(path, std::iter::empty())
    }

    /// [`load`](Self::load), then the `KUPALA_SECTION__KEY` overrides among
    /// `vars` (see `config/env.rs`): `kupala serve` passes the process
    /// environment.
    pub fn load_with_env(
        path: Option<&Path>,
        vars: impl IntoIterator<Item = (String, String)>,
    ) -> anyhow::Result<Self> {
        let mut base: toml::Table = toml::from_str(DEFAULT_TOML)?;
        if let Some(path) = path {
            let text =
                std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let over: toml::Table =
                toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            merge(&mut base, over);
        }
        env::apply(&mut base, vars)?;
        let text = toml::to_string(&base)?;
        let at = path.map_or_else(|| "the built-in defaults".to_owned(), |p| p.display().to_string());
        Self::parse(&text).with_context(|| format!("in {at}"))
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let c: Self = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// Reports every problem at once.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        for f in &self.feeds.files {
            f.validate(&mut problems);
        }
        self.feeds.live().validate(&mut problems);
        let code_ok = |c: &str| (2..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric());
        if !code_ok(&self.engine.base_currency) {
            problems.push(format!(
                "engine.base_currency {:?} is not a currency code",
                self.engine.base_currency
            ));
        }
        if !code_ok(&self.engine.reporting_currency) {
            problems.push(format!(
                "engine.reporting_currency {:?} is not a currency code",
                self.engine.reporting_currency
            ));
        }
        for (name, a) in &self.accounts {
            if let Some(code) = a.base_currency.as_deref().filter(|c| !code_ok(c)) {
                problems.push(format!(
                    "accounts.{name}.base_currency {code:?} is not a currency code"
                ));
            }
        }
        for (key, v) in [
            ("batch_size", self.engine.batch_size),
            ("queue_batches", self.engine.queue_batches),
            ("max_pending", self.engine.max_pending),
        ] {
            if v == 0 {
                problems.push(format!("engine.{key} must be > 0"));
            }
        }
        match self.store.sync.as_str() {
            "always" | "periodic" => {}
            other => problems.push(format!("store.sync {other:?} must be \"always\" or \"periodic\"")),
        }
        if self.store.sync == "periodic" && self.store.sync_interval_ms == 0 {
            problems.push("store.sync_interval_ms must be > 0 with periodic sync".into());
        }
        if let Err(e) = kupala_engine::schedule::EodSchedule::new(&self.eod.time, &self.eod.timezone) {
            problems.push(format!("eod: {e}"));
        }
        if let Err(e) = self.targets() {
            problems.push(e);
        }
        if let Some(h) = self.history.config() {
            problems.extend(h.problems().into_iter().map(|p| format!("history: {p}")));
        }
        self.server.validate(&mut problems);
        self.demo.validate(&mut problems);
        self.ml.validate(&mut problems);
        if problems.is_empty() {
            Ok(())
        } else {
            bail!("invalid configuration:\n  {}", problems.join("\n  "))
        }
    }

    /// The pipeline settings this configuration describes.
    #[must_use]
    pub fn pipeline(&self) -> PipelineConfig {
        let e = &self.engine;
        let defaults = PipelineConfig::default();
        PipelineConfig {
            shards: if e.shards == 0 {
                kupala_engine::default_shards(e.coalesce)
            } else {
                e.shards
            },
            methods: CostMethods {
                default: e.method,
                accounts: self
                    .accounts
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.method?)))
                    .collect(),
            },
            bases: BaseCurrencies {
                default: Some(e.base_currency.clone()),
                accounts: self
                    .accounts
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.base_currency.clone()?)))
                    .collect(),
            },
            queue_batches: e.queue_batches,
            batch_size: e.batch_size,
            max_pending: e.max_pending,
            coalesce: e.coalesce,
            conflate_ticks: e.conflate_ticks,
            emit_positions: defaults.emit_positions,
            interest: defaults.interest,
            reporting_currency: Some(e.reporting_currency.clone()),
            history: self.history.config(),
        }
    }
}

impl Config {
    /// The store settings this configuration describes.
    #[must_use]
    pub fn store_config(&self) -> StoreConfig {
        let s = &self.store;
        StoreConfig {
            sync: if s.sync == "always" {
                SyncMode::Always
            } else {
                SyncMode::Periodic(Duration::from_millis(s.sync_interval_ms.max(1)))
            },
            snapshot_every_events: s.snapshot_every_events,
            snapshot_every: (s.snapshot_every_secs > 0).then(|| Duration::from_secs(s.snapshot_every_secs)),
            keep_snapshots: s.keep_snapshots.max(1),
            prune_journal: s.prune_journal,
            targets: self.targets().unwrap_or_default(),
            accept_loss: false,
        }
    }

    /// The rebalancing targets, parsed.
    pub fn targets(&self) -> Result<Targets, String> {
        let r = &self.rebalance;
        let min_trade = Money::parse(&r.min_trade).map_err(|e| format!("rebalance.min_trade: {e}"))?;
        let lot = Quantity::parse(&r.lot).map_err(|e| format!("rebalance.lot: {e}"))?;
        let mut accounts = Vec::new();
        for (account, weights) in &r.targets {
            let mut w = Vec::new();
            for (inst, weight) in weights {
                let rate =
                    Rate::parse(weight).map_err(|e| format!("rebalance.targets.{account}.{inst}: {e}"))?;
                w.push((inst.clone(), rate));
            }
            accounts.push((account.clone(), w));
        }
        Ok(Targets {
            accounts,
            min_trade,
            lot,
        })
    }
}

fn merge(base: &mut toml::Table, over: toml::Table) {
    for (k, v) in over {
        match (base.get_mut(&k), v) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(k, v);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_parse_and_overrides_merge() {
        let c = Config::default_config();
        assert!(c.is_ok(), "{c:?}");
        let dir = tempfile::tempdir();
        let Ok(dir) = dir else { return };
        let path = dir.path().join("k.toml");
        let written = std::fs::write(
            &path,
            "[engine]\nmethod = \"fifo\"\n[accounts.B7]\nbase_currency = \"EUR\"\n",
        );
        assert!(written.is_ok());
        let c = Config::load(Some(&path)).ok();
        assert_eq!(c.as_ref().map(|c| c.engine.method), Some(Method::Fifo));
        assert_eq!(c.as_ref().map(|c| c.engine.batch_size), Some(1024));
        assert_eq!(
            c.map(|c| c.pipeline().bases.accounts.get("B7").cloned()),
            Some(Some("EUR".into()))
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused() {
        let dir = tempfile::tempdir();
        let Ok(dir) = dir else { return };
        let path = dir.path().join("k.toml");
        let _ = std::fs::write(&path, "[engine]\nshardz = 3\n");
        let err = Config::load(Some(&path)).err().map(|e| format!("{e:#}"));
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("unknown field `shardz`")),
            "{err:?}"
        );
        let _ = std::fs::write(&path, "[engine]\nbatch_size = 0\nbase_currency = \"?\"\n");
        let err = Config::load(Some(&path))
            .err()
            .map(|e| format!("{e:#}"))
            .unwrap_or_default();
        assert!(
            err.contains("batch_size must be > 0") && err.contains("base_currency"),
            "{err}"
        );
    }
}
