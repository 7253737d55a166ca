//! kupala's ML sidecar (`kupala-ml`): what PyCaret did in a Lambda, in Rust
//! with linfa, in seconds, off the hot path.
//!
//! - [`series`]: price series, the one place fixed-point prices become `f64`;
//! - [`features`]: lagged returns, volatility, momentum, a mean-reversion
//!   oscillator, volume z-score, strictly without look-ahead;
//! - [`files`]: price files through the `kupala-feeds` adapters;
//! - [`models`], [`baselines`], [`cv`], [`compare`]: six linfa models and
//!   three naive baselines through walk-forward cross-validation, a
//!   leaderboard, the best model and its next-period forecasts;
//! - [`cluster`]: instruments clustered by return profile (KMeans, DBSCAN);
//! - [`analytics`], [`accounts`]: return, volatility, Sharpe, Sortino, max
//!   drawdown, Calmar, beta, per instrument and per account (EOD history);
//! - [`report`]: [`analyze`], the whole analysis as one JSON-able [`Report`];
//! - [`history`]: price and account history read from the store;
//! - [`worker`], [`jobs`]: the [`Worker`] `kupala serve` runs, with jobs,
//!   progress, cancellation and results in the store's `analysis` keyspace.

#![deny(missing_docs)]
#![deny(clippy::unwrap_used)]

pub mod accounts;
pub mod analytics;
pub mod baselines;
pub mod cluster;
pub mod compare;
pub mod cv;
pub mod features;
pub mod files;
pub mod history;
pub mod jobs;
pub mod models;
pub mod report;
pub mod series;
pub mod worker;

use std::sync::atomic::{AtomicBool, Ordering};

pub use report::{AnalyzeConfig, Inputs, Report, analyze};
pub use series::{PriceSeries, SeriesBuilder};
pub use worker::{AnalyzeRequest, JobEvent, JobId, JobStatus, Worker, WorkerConfig};

/// Why an analysis did not produce a report.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MlError {
    /// The job was cancelled (checked between folds and models).
    #[error("cancelled")]
    Cancelled,
    /// Nothing to analyse.
    #[error("no data: {0}")]
    NoData(String),
    /// The request cannot be carried out.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// Reading or writing the store failed.
    #[error(transparent)]
    Store(#[from] kupala_engine::store::StoreError),
    /// Reading a price file failed.
    #[error("{0}")]
    Source(String),
}

/// The callback [`Control`] reports progress to: `(fraction 0..=1, stage)`.
pub type ProgressFn<'a> = &'a (dyn Fn(f64, &str) + Sync);

/// Cancellation and progress for a running analysis.
#[derive(Clone, Copy, Default)]
pub struct Control<'a> {
    cancel: Option<&'a AtomicBool>,
    progress: Option<ProgressFn<'a>>,
}

impl std::fmt::Debug for Control<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Control")
            .field("cancelled", &self.cancel.map(|c| c.load(Ordering::Relaxed)))
            .finish_non_exhaustive()
    }
}

impl<'a> Control<'a> {
    /// No cancellation, no progress.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            cancel: None,
            progress: None,
        }
    }

    /// A control that stops when `cancel` is set and reports to `progress`.
    #[must_use]
    pub const fn new(cancel: Option<&'a AtomicBool>, progress: Option<ProgressFn<'a>>) -> Self {
        Self { cancel, progress }
    }

    /// `Err(Cancelled)` once cancellation was asked for.
    pub fn checkpoint(&self) -> Result<(), MlError> {
        match self.cancel {
            Some(c) if c.load(Ordering::Relaxed) => Err(MlError::Cancelled),
            _ => Ok(()),
        }
    }

    /// Reports progress (fraction clamped to 0..=1).
    pub fn report(&self, fraction: f64, stage: &str) {
        if let Some(p) = self.progress {
            p(fraction.clamp(0.0, 1.0), stage);
        }
    }
}
