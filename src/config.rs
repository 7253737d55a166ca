//! Configuration: TOML into serde structs (unknown keys refused), with the
//! defaults taken from `config/default.toml` itself so the file stays true.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, bail};
use kupala_engine::{BaseCurrencies, Method, PipelineConfig};
use serde::Deserialize;

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
}

/// `[engine]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Shard count; 0 = available cores.
    pub shards: usize,
    /// Cost method.
    pub method: Method,
    /// Default base currency.
    pub base_currency: String,
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
    /// The account's base currency.
    pub base_currency: String,
}

impl Config {
    /// The defaults of `config/default.toml`.
    pub fn default_config() -> anyhow::Result<Self> {
        Self::parse(DEFAULT_TOML).context("built-in config/default.toml")
    }

    /// Reads a file over the defaults: keys it omits keep their default.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Self> {
        let Some(path) = path else {
            return Self::default_config();
        };
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let mut base: toml::Table = toml::from_str(DEFAULT_TOML)?;
        let over: toml::Table =
            toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        merge(&mut base, over);
        let text = toml::to_string(&base)?;
        Self::parse(&text).with_context(|| format!("in {}", path.display()))
    }

    fn parse(text: &str) -> anyhow::Result<Self> {
        let c: Self = toml::from_str(text)?;
        c.validate()?;
        Ok(c)
    }

    /// Reports every problem at once.
    pub fn validate(&self) -> anyhow::Result<()> {
        let mut problems = Vec::new();
        let code_ok = |c: &str| (2..=8).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_alphanumeric());
        if !code_ok(&self.engine.base_currency) {
            problems.push(format!(
                "engine.base_currency {:?} is not a currency code",
                self.engine.base_currency
            ));
        }
        for (name, a) in &self.accounts {
            if !code_ok(&a.base_currency) {
                problems.push(format!(
                    "accounts.{name}.base_currency {:?} is not a currency code",
                    a.base_currency
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
            shards: if e.shards == 0 { defaults.shards } else { e.shards },
            method: e.method,
            bases: BaseCurrencies {
                default: Some(e.base_currency.clone()),
                accounts: self
                    .accounts
                    .iter()
                    .map(|(k, v)| (k.clone(), v.base_currency.clone()))
                    .collect(),
            },
            queue_batches: e.queue_batches,
            batch_size: e.batch_size,
            max_pending: e.max_pending,
            coalesce: e.coalesce,
            conflate_ticks: e.conflate_ticks,
            emit_positions: defaults.emit_positions,
        }
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
