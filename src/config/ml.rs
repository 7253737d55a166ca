//! `[ml]`: the ML sidecar `kupala serve` runs (crate `kupala-ml`).

use kupala_ml::WorkerConfig;
use kupala_ml::history::HistoryConfig;
use kupala_ml::report::AnalyzeConfig;
use serde::Deserialize;

/// `[ml]` with `[ml.analyze]` and `[ml.history]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MlSection {
    /// Run the worker inside `kupala serve`.
    pub enabled: bool,
    /// Queue an analysis after each EOD the engine applies.
    pub on_eod: bool,
    /// Run the worker's threads at the lowest priority (SCHED_IDLE / nice 19).
    pub lowest_priority: bool,
    /// Jobs that may wait; more are refused (the job fails with `busy`).
    pub max_queued: usize,
    /// Finished jobs whose status is remembered in memory.
    pub keep_jobs: usize,
    /// Analysis defaults (an `analyze` request overrides some).
    #[serde(default)]
    pub analyze: AnalyzeConfig,
    /// How prices are read from the journal.
    #[serde(default)]
    pub history: HistoryConfig,
}

impl MlSection {
    /// The worker's settings.
    #[must_use]
    pub fn worker_config(&self) -> WorkerConfig {
        WorkerConfig {
            analyze: self.analyze.clone(),
            history: self.history.clone(),
            on_eod: self.on_eod,
            lowest_priority: self.lowest_priority,
            max_queued: self.max_queued,
            keep_jobs: self.keep_jobs,
        }
    }

    /// Adds this section's problems to `out`.
    pub fn validate(&self, out: &mut Vec<String>) {
        let a = &self.analyze;
        if a.folds == 0 || a.folds > 50 {
            out.push("ml.analyze.folds must be 1 to 50".into());
        }
        for (key, v) in [
            ("ml.max_queued", self.max_queued),
            ("ml.analyze.max_rows", a.max_rows),
            ("ml.analyze.max_instruments", a.max_instruments),
            ("ml.history.max_bars", self.history.max_bars),
        ] {
            if v == 0 {
                out.push(format!("{key} must be > 0"));
            }
        }
        if self.history.bar_seconds == 0 {
            out.push("ml.history.bar_seconds must be > 0".into());
        }
        if a.models.is_empty() {
            out.push("ml.analyze.models is empty".into());
        }
    }
}
