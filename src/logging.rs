//! Where every crate's `tracing` events go: stderr, as text lines (with a
//! timestamp and level; coloured only on a terminal) or as JSON objects,
//! one per line, for a log collector. The level comes from `--log-level`,
//! else `RUST_LOG` (which also takes per-module directives such as
//! `kupala_engine=debug`), else `info`.

use std::io::IsTerminal;

use anyhow::Context;
use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// `2026-12-02T13:52:57.123456Z  INFO listening on ...`
    #[default]
    Text,
    /// `{"timestamp":"...","level":"INFO","fields":{"message":"..."}}`
    Json,
}

/// Installs the process's subscriber; `level` is a filter such as `info`,
/// `warn` or `kupala_engine=debug,info`.
pub fn init(level: Option<&str>, format: LogFormat) -> anyhow::Result<()> {
    let filter = match level {
        Some(l) => EnvFilter::try_new(l).with_context(|| format!("--log-level {l:?}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false);
    let installed = match format {
        LogFormat::Text => builder.with_ansi(std::io::stderr().is_terminal()).try_init(),
        LogFormat::Json => builder.json().with_ansi(false).try_init(),
    };
    installed.map_err(|e| anyhow::anyhow!("installing the logger: {e}"))
}
