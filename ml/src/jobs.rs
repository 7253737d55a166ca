//! The worker's vocabulary: job ids, statuses and events, requests,
//! settings, what a result holds, and the thread-priority call.

use kupala_engine::time::Date;
use serde::{Deserialize, Serialize};

use crate::history::HistoryConfig;
use crate::models::ModelKind;
use crate::report::{AnalyzeConfig, Report};
use crate::series::PriceSeries;

/// A job's id (unique within the store: the counter is persisted).
pub type JobId = u64;

/// Where a job is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum JobStatus {
    /// Waiting for the worker.
    Queued,
    /// Being computed.
    Running {
        /// Fraction done, 0..=1.
        progress: f64,
        /// What it is doing.
        stage: String,
    },
    /// Finished; the result is in the store.
    Done,
    /// Stopped by an error.
    Failed {
        /// Why.
        reason: String,
    },
    /// Cancelled; nothing was written.
    Cancelled,
}

impl JobStatus {
    /// True for done, failed and cancelled.
    #[must_use]
    pub const fn is_final(&self) -> bool {
        matches!(self, Self::Done | Self::Failed { .. } | Self::Cancelled)
    }
}

/// A status change, as sent to subscribers.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct JobEvent {
    /// The job.
    pub job: JobId,
    /// Its new status.
    #[serde(flatten)]
    pub status: JobStatus,
}

/// What to analyse: the fields of a WS `{"op":"analyze", ...}` request,
/// each overriding the worker's configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// Bar length in seconds for journal prices.
    pub bar_seconds: Option<u64>,
    /// Newest bars kept per instrument.
    pub max_bars: Option<usize>,
    /// Only these instruments.
    pub instruments: Option<Vec<String>>,
    /// Benchmark instrument for betas.
    pub benchmark: Option<String>,
    /// Walk-forward folds.
    pub folds: Option<usize>,
    /// Models to compare.
    pub models: Option<Vec<ModelKind>>,
    /// Series to analyse instead of the journal (files, tests).
    #[serde(skip)]
    pub series: Option<Vec<PriceSeries>>,
}

/// Worker settings (`[ml]` in the config).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Analysis defaults.
    pub analyze: AnalyzeConfig,
    /// Journal sampling defaults.
    pub history: HistoryConfig,
    /// Run an analysis after each EOD ([`Worker::on_eod`]).
    pub on_eod: bool,
    /// Lower the worker's threads to the lowest priority.
    pub lowest_priority: bool,
    /// Jobs that may wait; more are refused (failed at once).
    pub max_queued: usize,
    /// Finished jobs remembered in memory (results stay in the store).
    pub keep_jobs: usize,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            analyze: AnalyzeConfig::default(),
            history: HistoryConfig::default(),
            on_eod: true,
            lowest_priority: true,
            max_queued: 16,
            keep_jobs: 256,
        }
    }
}

/// What started a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// A request (WS or API).
    Request,
    /// An EOD.
    Eod {
        /// The business date.
        date: Date,
    },
}

/// The JSON stored under `job/<id>` and `latest`.
#[derive(Debug, Serialize)]
pub struct JobResult<'a> {
    /// The job.
    pub job: JobId,
    /// What started it.
    pub trigger: Trigger,
    /// The analysis.
    #[serde(flatten)]
    pub report: &'a Report,
}

/// Lowers the calling thread to the lowest priority: `SCHED_IDLE` on Linux
/// (runs only when a core would otherwise idle), else nice 19. Returns what
/// was applied. Safe code: `thread-priority` wraps the system calls.
pub fn lower_current_thread_priority() -> Result<&'static str, String> {
    use thread_priority::{ThreadPriority, set_current_thread_priority};
    #[cfg(target_os = "linux")]
    {
        use thread_priority::{
            NormalThreadSchedulePolicy, ThreadSchedulePolicy, set_thread_priority_and_policy,
            thread_native_id,
        };
        let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
        if set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle).is_ok() {
            return Ok("SCHED_IDLE");
        }
    }
    set_current_thread_priority(ThreadPriority::Min)
        .map(|()| "nice 19")
        .map_err(|e| format!("{e:?}"))
}
