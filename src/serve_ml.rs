//! The ML sidecar inside `kupala serve`: `kupala_ml::Worker` behind the
//! api crate's [`Analyzer`] trait, the EOD trigger and the bridge thread.
//!
//! - The worker runs on its own lowest-priority threads (`kupala-ml`,
//!   `kupala-ml-compute`) and reads the store the engine writes.
//! - EOD trigger: [`eod_tap`] wraps the hub's `DeltaSink`. The aggregator
//!   calls its `eod` after the store sink has written the day's EOD
//!   positions; the tap remembers the date and sends it on at the next
//!   `publish` (the same shard output's closed positions are written by
//!   then), with `try_send` so the engine's thread never waits. EODs replayed
//!   at recovery (seq ≤ the recovered seq) are ignored: they were analysed
//!   when they happened.
//! - Bridge (`kupala-ml-bridge`, a plain thread, mostly asleep): relays the
//!   worker's job events to [`Analysis::job_event`] (with the result when a
//!   job is done) and EOD dates to `Worker::on_eod`.
//! - Shutdown ([`Ml::stop`], before the engine finishes): the worker is
//!   dropped (running jobs are cancelled, its thread joined), which ends
//!   the bridge.

use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::thread::JoinHandle;

use anyhow::Context as _;
use crossbeam_channel::{Receiver, Sender, bounded, never, select};
use serde_json::{Map, Value};

use kupala_api::analysis::{Analysis, Analyzer, JobId, Refusal};
use kupala_api::protocol::ErrorCode;
use kupala_engine::DeltaSink;
use kupala_engine::state::{
    BookChanges, ClosedPosition, FirmState, PortfolioState, PositionDelta, PositionState,
};
use kupala_engine::store::Store;
use kupala_engine::time::Date;
use kupala_ml::{AnalyzeRequest, JobEvent, JobStatus, Worker};

use crate::config::ml::MlSection;

/// EODs waiting for the bridge; more are dropped with a warning.
const EOD_QUEUE: usize = 64;

/// An applied EOD: its date and journal seq.
pub type EodApplied = (Date, u64);

/// The worker, shared by the sessions and the bridge until shutdown.
#[derive(Debug)]
pub struct MlService {
    worker: RwLock<Option<Worker>>,
}

impl MlService {
    fn worker(&self) -> RwLockReadGuard<'_, Option<Worker>> {
        self.worker.read().unwrap_or_else(PoisonError::into_inner)
    }
}

fn stopped() -> Refusal {
    (ErrorCode::Unavailable, "the ML sidecar has stopped".to_owned())
}

/// Checks what serde cannot: the ranges of an `analyze` request.
fn check(r: &AnalyzeRequest) -> Result<(), String> {
    if r.folds.is_some_and(|f| !(1..=50).contains(&f)) {
        return Err("folds must be 1 to 50".into());
    }
    if r.bar_seconds == Some(0) || r.max_bars == Some(0) {
        return Err("bar_seconds and max_bars must be > 0".into());
    }
    if r.models.as_ref().is_some_and(Vec::is_empty) {
        return Err("models is empty".into());
    }
    Ok(())
}

impl Analyzer for MlService {
    fn submit(&self, params: Map<String, Value>) -> Result<JobId, Refusal> {
        let bad = |e: String| (ErrorCode::BadRequest, format!("analyze: {e}"));
        let request: AnalyzeRequest =
            serde_json::from_value(Value::Object(params)).map_err(|e| bad(e.to_string()))?;
        check(&request).map_err(bad)?;
        self.worker()
            .as_ref()
            .map(|w| w.submit(request))
            .ok_or_else(stopped)
    }

    fn status(&self, job: JobId) -> Option<Value> {
        let status = self.worker().as_ref()?.status(job)?;
        serde_json::to_value(JobEvent { job, status }).ok()
    }

    fn cancel(&self, job: JobId) -> bool {
        self.worker().as_ref().is_some_and(|w| w.cancel(job))
    }

    fn result(&self, job: JobId) -> Result<Option<Value>, Refusal> {
        let internal = |e: String| (ErrorCode::Internal, format!("analysis result: {e}"));
        let bytes = match self.worker().as_ref() {
            Some(w) => w.result(job).map_err(|e| internal(e.to_string()))?,
            None => return Err(stopped()),
        };
        bytes
            .map(|b| serde_json::from_slice(&b).map_err(|e| internal(e.to_string())))
            .transpose()
    }
}

/// The running sidecar.
#[derive(Debug)]
pub struct Ml {
    service: Arc<MlService>,
    /// What the WebSocket sessions use.
    pub analysis: Arc<Analysis>,
    bridge: Option<JoinHandle<()>>,
}

/// Starts the worker on `store` and the bridge. `eods` come from
/// [`eod_tap`]; those at or before `recovered_seq` are ignored.
pub fn start(
    cfg: &MlSection,
    store: Arc<Store>,
    eods: Receiver<EodApplied>,
    recovered_seq: u64,
) -> anyhow::Result<Ml> {
    let latest = store
        .analysis("latest")
        .context("reading the latest analysis")?
        .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
    let worker = Worker::spawn(store, cfg.worker_config()).context("starting the ML worker")?;
    let events = worker.subscribe();
    let service = Arc::new(MlService {
        worker: RwLock::new(Some(worker)),
    });
    let analysis = Analysis::new(Arc::clone(&service) as Arc<dyn Analyzer>, latest);
    let (s, a) = (Arc::clone(&service), Arc::clone(&analysis));
    let bridge = std::thread::Builder::new()
        .name("kupala-ml-bridge".into())
        .spawn(move || bridge(&s, &a, &events, eods, recovered_seq))
        .context("starting thread kupala-ml-bridge")?;
    Ok(Ml {
        service,
        analysis,
        bridge: Some(bridge),
    })
}

impl Ml {
    /// Stops the worker (cancelling running jobs; nothing half-written)
    /// and the bridge. Blocking.
    pub fn stop(mut self) {
        let worker = self
            .service
            .worker
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        drop(worker);
        if let Some(b) = self.bridge.take() {
            let _ = b.join();
        }
    }
}

fn bridge(
    service: &MlService,
    analysis: &Analysis,
    events: &Receiver<JobEvent>,
    mut eods: Receiver<EodApplied>,
    recovered_seq: u64,
) {
    loop {
        select! {
            recv(events) -> ev => match ev {
                Ok(ev) => relay(service, analysis, &ev),
                Err(_) => return, // the worker stopped
            },
            recv(eods) -> eod => match eod {
                Ok((date, seq)) if seq > recovered_seq => {
                    if let Some(job) = service.worker().as_ref().and_then(|w| w.on_eod(date)) {
                        tracing::info!("EOD {date}: analysis job {job} queued");
                    }
                }
                Ok(_) => {}
                Err(_) => eods = never(),
            },
        }
    }
}

fn relay(service: &MlService, analysis: &Analysis, ev: &JobEvent) {
    let Ok(status) = serde_json::to_value(ev) else {
        return;
    };
    let result = if ev.status == JobStatus::Done {
        match service.result(ev.job) {
            Ok(r) => r,
            Err((_, e)) => {
                tracing::error!("{e}");
                None
            }
        }
    } else {
        None
    };
    analysis.job_event(&status, result);
}

/// Wraps the hub's sink so applied EODs reach the ML bridge (see the module
/// docs); the receiver goes to [`start`].
pub fn eod_tap(inner: Box<dyn DeltaSink>) -> (Box<dyn DeltaSink>, Receiver<EodApplied>) {
    let (tx, rx) = bounded(EOD_QUEUE);
    let tap = EodTap {
        inner,
        pending: Vec::new(),
        tx,
    };
    (Box::new(tap), rx)
}

struct EodTap {
    inner: Box<dyn DeltaSink>,
    pending: Vec<EodApplied>,
    tx: Sender<EodApplied>,
}

impl EodTap {
    fn fire(&mut self) {
        for (date, seq) in self.pending.drain(..) {
            if let Err(crossbeam_channel::TrySendError::Full(_)) = self.tx.try_send((date, seq)) {
                tracing::warn!("EOD {date}: the ML sidecar is behind; no analysis for it");
            }
        }
    }
}

impl DeltaSink for EodTap {
    fn publish(&mut self, seq: u64, positions: &[PositionDelta], portfolios: &[PortfolioState]) {
        self.inner.publish(seq, positions, portfolios);
        self.fire();
    }

    fn publish_stamped(&mut self, seq: u64, t_in: u64, p: &[PositionDelta], f: &[PortfolioState]) {
        self.inner.publish_stamped(seq, t_in, p, f);
        self.fire();
    }

    fn wants_totals(&self) -> bool {
        self.inner.wants_totals()
    }

    fn eod(&mut self, date: Date, seq: u64, positions: &[PositionState]) {
        self.inner.eod(date, seq, positions);
        self.pending.push((date, seq));
    }

    fn closed(&mut self, closed: &[ClosedPosition]) {
        self.inner.closed(closed);
    }

    fn books(&mut self, seq: u64, books: BookChanges<'_>) {
        self.inner.books(seq, books);
    }

    fn firm(&mut self, firm: &FirmState) {
        self.inner.firm(firm);
    }

    fn history(&mut self, mark: &kupala_engine::history::HistoryMark) {
        self.inner.history(mark);
    }

    fn complete(&mut self, seq: u64) {
        self.inner.complete(seq);
    }
}
