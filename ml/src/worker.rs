//! The sidecar worker `kupala serve` runs: a job queue served by one thread
//! of the lowest priority (Linux `SCHED_IDLE`, else nice 19), never a shard
//! or tokio thread. Jobs read the store (journal bars, EOD history), run
//! [`analyze`](crate::analyze), and write the JSON result to the store's
//! `analysis` keyspace under `job/<id>` and `latest`.
//!
//! Calls from any thread (including async tasks) only touch an in-memory
//! table and a channel: they never block on an analysis. Cancellation is
//! cooperative (checked between folds and models); a cancelled job writes
//! nothing. Progress goes to every [`Worker::subscribe`] channel (bounded,
//! never blocking the worker: a full subscriber misses updates, not the end).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded, unbounded};
use kupala_engine::store::Store;
use kupala_engine::time::Date;

use crate::history;
pub use crate::jobs::{
    AnalyzeRequest, JobEvent, JobId, JobResult, JobStatus, Trigger, WorkerConfig,
    lower_current_thread_priority,
};
use crate::report::{Inputs, Report, analyze};
use crate::{Control, MlError};

struct Entry {
    status: JobStatus,
    cancel: Arc<AtomicBool>,
    result: Option<Arc<Vec<u8>>>,
}

struct Job {
    id: JobId,
    request: AnalyzeRequest,
    trigger: Trigger,
    cancel: Arc<AtomicBool>,
}

struct Shared {
    store: Arc<Store>,
    config: WorkerConfig,
    jobs: Mutex<BTreeMap<JobId, Entry>>,
    changed: Condvar,
    subscribers: Mutex<Vec<Sender<JobEvent>>>,
    next_id: AtomicU64,
    priority: Mutex<String>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Sets a status, wakes waiters, tells subscribers.
    fn set(&self, jobs: &mut BTreeMap<JobId, Entry>, id: JobId, status: JobStatus) {
        if let Some(e) = jobs.get_mut(&id) {
            e.status = status.clone();
        }
        self.changed.notify_all();
        let event = JobEvent { job: id, status };
        lock(&self.subscribers)
            .retain(|s| !matches!(s.try_send(event.clone()), Err(TrySendError::Disconnected(_))));
    }

    fn forget_old(&self, jobs: &mut BTreeMap<JobId, Entry>) {
        let finished: Vec<JobId> = jobs
            .iter()
            .filter(|(_, e)| e.status.is_final())
            .map(|(k, _)| *k)
            .collect();
        for id in finished
            .iter()
            .take(finished.len().saturating_sub(self.config.keep_jobs))
        {
            jobs.remove(id);
        }
    }
}

/// The ML sidecar.
pub struct Worker {
    shared: Arc<Shared>,
    tx: Option<Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Worker")
            .field("priority", &self.priority())
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// Starts the worker thread (named `kupala-ml`) and its one-thread
    /// compute pool (`kupala-ml-compute`, where linfa's parallel loops run).
    pub fn spawn(store: Arc<Store>, config: WorkerConfig) -> Result<Self, MlError> {
        let next = store
            .analysis("next_job")?
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(1);
        let shared = Arc::new(Shared {
            store,
            config,
            jobs: Mutex::new(BTreeMap::new()),
            changed: Condvar::new(),
            subscribers: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(next.max(1)),
            priority: Mutex::new("normal".to_owned()),
        });
        let (tx, rx) = unbounded::<Job>();
        let worker_shared = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kupala-ml".into())
            .spawn(move || run(&worker_shared, &rx))
            .map_err(|e| MlError::BadRequest(format!("starting the ML worker thread: {e}")))?;
        Ok(Self {
            shared,
            tx: Some(tx),
            thread: Some(thread),
        })
    }

    /// Queues an analysis; returns at once.
    pub fn submit(&self, request: AnalyzeRequest) -> JobId {
        self.enqueue(request, Trigger::Request)
    }

    /// The EOD trigger: queues an analysis of the store after the EOD of
    /// `date`, unless `on_eod` is off.
    pub fn on_eod(&self, date: Date) -> Option<JobId> {
        self.shared
            .config
            .on_eod
            .then(|| self.enqueue(AnalyzeRequest::default(), Trigger::Eod { date }))
    }

    fn enqueue(&self, request: AnalyzeRequest, trigger: Trigger) -> JobId {
        let id = self.shared.next_id.fetch_add(1, Ordering::Relaxed);
        let cancel = Arc::new(AtomicBool::new(false));
        let mut jobs = lock(&self.shared.jobs);
        let queued = jobs.values().filter(|e| e.status == JobStatus::Queued).count();
        jobs.insert(
            id,
            Entry {
                status: JobStatus::Queued,
                cancel: Arc::clone(&cancel),
                result: None,
            },
        );
        let job = Job {
            id,
            request,
            trigger,
            cancel,
        };
        let refused = if queued >= self.shared.config.max_queued {
            Some(format!("busy: {queued} analyses already queued"))
        } else {
            match &self.tx {
                Some(tx) => tx.send(job).err().map(|_| "the ML worker has stopped".to_owned()),
                None => Some("the ML worker has stopped".to_owned()),
            }
        };
        match refused {
            Some(reason) => self.shared.set(&mut jobs, id, JobStatus::Failed { reason }),
            None => self.shared.set(&mut jobs, id, JobStatus::Queued),
        }
        self.shared.forget_old(&mut jobs);
        id
    }

    /// A job's status (`None`: unknown, or forgotten long ago).
    #[must_use]
    pub fn status(&self, id: JobId) -> Option<JobStatus> {
        lock(&self.shared.jobs).get(&id).map(|e| e.status.clone())
    }

    /// Asks a job to stop. A queued job is cancelled at once; a running one
    /// at its next check (between folds and models), writing nothing.
    /// Returns false when the job is unknown or already finished.
    pub fn cancel(&self, id: JobId) -> bool {
        let mut jobs = lock(&self.shared.jobs);
        let Some(e) = jobs.get(&id) else { return false };
        if e.status.is_final() {
            return false;
        }
        e.cancel.store(true, Ordering::Relaxed);
        if e.status == JobStatus::Queued {
            self.shared.set(&mut jobs, id, JobStatus::Cancelled);
        }
        true
    }

    /// A finished job's result (the JSON stored under `job/<id>`).
    pub fn result(&self, id: JobId) -> Result<Option<Arc<Vec<u8>>>, MlError> {
        if let Some(r) = lock(&self.shared.jobs).get(&id).and_then(|e| e.result.clone()) {
            return Ok(Some(r));
        }
        Ok(self.shared.store.analysis(&format!("job/{id}"))?.map(Arc::new))
    }

    /// A channel of status changes of every job (progress included).
    #[must_use]
    pub fn subscribe(&self) -> Receiver<JobEvent> {
        let (tx, rx) = bounded(1024);
        lock(&self.shared.subscribers).push(tx);
        rx
    }

    /// Blocks until the job is final or `timeout` passes; its last status.
    /// (For tests and batch use; never call it from an async task.)
    #[must_use]
    pub fn wait(&self, id: JobId, timeout: Duration) -> Option<JobStatus> {
        let deadline = Instant::now() + timeout;
        let mut jobs = lock(&self.shared.jobs);
        loop {
            let status = jobs.get(&id).map(|e| e.status.clone());
            let left = deadline.saturating_duration_since(Instant::now());
            if status.as_ref().is_none_or(JobStatus::is_final) || left.is_zero() {
                return status;
            }
            jobs = self
                .shared
                .changed
                .wait_timeout(jobs, left)
                .map_or_else(|p| p.into_inner().0, |(g, _)| g);
        }
    }

    /// The priority the worker's thread runs at (`SCHED_IDLE`, `nice 19`, or
    /// `normal` when lowering failed or is off).
    #[must_use]
    pub fn priority(&self) -> String {
        lock(&self.shared.priority).clone()
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        for e in lock(&self.shared.jobs).values() {
            e.cancel.store(true, Ordering::Relaxed);
        }
        self.tx = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn run(shared: &Arc<Shared>, rx: &Receiver<Job>) {
    let low = shared.config.lowest_priority;
    if low {
        let got = lower_current_thread_priority().unwrap_or("normal");
        *lock(&shared.priority) = got.to_owned();
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .thread_name(|_| "kupala-ml-compute".to_owned())
        .start_handler(move |_| {
            if low {
                let _ = lower_current_thread_priority();
            }
        })
        .build()
        .ok();
    for job in rx {
        if job.cancel.load(Ordering::Relaxed) {
            continue;
        }
        {
            let mut jobs = lock(&shared.jobs);
            let running = JobStatus::Running {
                progress: 0.0,
                stage: "reading history".to_owned(),
            };
            shared.set(&mut jobs, job.id, running);
        }
        let work = || execute(shared, &job);
        let outcome = match &pool {
            Some(p) => p.install(work),
            None => work(),
        };
        finish(shared, &job, outcome);
    }
}

fn execute(shared: &Arc<Shared>, job: &Job) -> Result<Report, MlError> {
    let mut cfg = shared.config.analyze.clone();
    let mut hist = shared.config.history.clone();
    let r = &job.request;
    hist.bar_seconds = r.bar_seconds.unwrap_or(hist.bar_seconds);
    hist.max_bars = r.max_bars.unwrap_or(hist.max_bars);
    hist.instruments = r.instruments.clone().or(hist.instruments);
    cfg.benchmark = r.benchmark.clone().or(cfg.benchmark);
    cfg.folds = r.folds.unwrap_or(cfg.folds);
    cfg.models = r.models.clone().unwrap_or(cfg.models);
    if cfg.folds == 0 || cfg.folds > 50 {
        return Err(MlError::BadRequest("folds must be 1 to 50".to_owned()));
    }
    let last = Mutex::new((-1.0f64, String::new()));
    let progress = |fraction: f64, stage: &str| {
        let mut l = lock(&last);
        let kind = stage.split(':').next().unwrap_or(stage);
        if fraction - l.0 >= 0.01 || kind != l.1 || fraction >= 1.0 {
            *l = (fraction, kind.to_owned());
            let mut jobs = lock(&shared.jobs);
            let running = JobStatus::Running {
                progress: fraction,
                stage: stage.to_owned(),
            };
            shared.set(&mut jobs, job.id, running);
        }
    };
    let ctl = Control::new(Some(&job.cancel), Some(&progress));
    let inputs = match &r.series {
        Some(series) => Inputs {
            series: series.clone(),
            ..Inputs::default()
        },
        None => history::inputs(&shared.store, &hist, &ctl)?,
    };
    analyze(inputs, &cfg, &ctl)
}

fn finish(shared: &Arc<Shared>, job: &Job, outcome: Result<Report, MlError>) {
    let mut jobs = lock(&shared.jobs);
    let status = match outcome {
        // Checked under the table lock that `cancel` also takes: a job
        // cancelled before this point never writes.
        Ok(_) | Err(MlError::Cancelled) if job.cancel.load(Ordering::Relaxed) => JobStatus::Cancelled,
        Err(MlError::Cancelled) => JobStatus::Cancelled,
        Err(e) => JobStatus::Failed {
            reason: e.to_string(),
        },
        Ok(report) => {
            let result = JobResult {
                job: job.id,
                trigger: job.trigger,
                report: &report,
            };
            match serde_json::to_vec(&result)
                .map_err(|e| e.to_string())
                .and_then(|bytes| {
                    let store = &shared.store;
                    let write = |k: &str, v: &[u8]| store.put_analysis(k, v).map_err(|e| e.to_string());
                    write(&format!("job/{}", job.id), &bytes)?;
                    write("latest", &bytes)?;
                    write("next_job", (job.id + 1).to_string().as_bytes())?;
                    Ok(bytes)
                }) {
                Ok(bytes) => {
                    if let Some(e) = jobs.get_mut(&job.id) {
                        e.result = Some(Arc::new(bytes));
                    }
                    JobStatus::Done
                }
                Err(reason) => JobStatus::Failed {
                    reason: format!("writing the result: {reason}"),
                },
            }
        }
    };
    shared.set(&mut jobs, job.id, status);
    shared.forget_old(&mut jobs);
}
