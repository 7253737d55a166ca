//! The ingest thread (`kupala-ingest`): the one owner of the
//! [`Engine`], fed by a bounded channel from WebSocket submits, the demo feed
//! and the EOD timer. fjall writes happen on the engine's own threads
//! (journal, snapshots, EOD sink), never on tokio workers.
//!
//! A submit is all or nothing: the whole batch is checked
//! (`Pipeline::check`) before any event is sequenced. Its `ack` is sent only
//! once the journal's durable watermark covers the batch's last seq: a
//! second thread (`kupala-acks`) waits on the watermark (blocking, off the
//! tokio workers and off the ingest thread, which goes on sequencing). So an
//! ack means "fsynced" in either `store.sync` mode: with `always` each group
//! commit is fsynced; with `periodic` the ack waits for the next periodic
//! fsync (at most `sync_interval_ms`).
//!
//! Commands are drained in groups: everything queued is sequenced, then the
//! pipeline is flushed once (one journal batch, one group commit).

use std::sync::Arc;
use std::thread::JoinHandle;

use tokio::sync::{mpsc, oneshot};

use kupala_engine::Event;
use kupala_engine::durable::Engine;
use kupala_engine::ids::AccountId;
use kupala_engine::journal_writer::Watermarks;
use kupala_engine::state::EngineState;

use kupala_engine::shard_depths::ShardDepths;

use crate::error::ApiError;
use crate::hub::Hub;
use crate::ingest_acks::{AckJob, acker};
use crate::ingest_progress::{Progress, RunningGuard};
use crate::metrics::{Metrics, Rejection, add};
use crate::protocol::ErrorCode;

pub use crate::ingest_acks::{ACK_TIMEOUT, SubmitResult};
/// Commands handled between two pipeline flushes.
const MAX_GROUP: usize = 1024;

/// A command for the ingest thread.
#[derive(Debug)]
pub enum Command {
    /// Sequence a batch; reply (after durability) when `reply` is set.
    Submit {
        /// The events, applied all or nothing.
        events: Vec<Event>,
        /// Where the answer goes; `None` for feeds (errors are logged).
        reply: Option<oneshot::Sender<SubmitResult>>,
    },
    /// Sequence each event on its own: one the engine refuses (a check
    /// failure) is counted, logged and skipped, the others are applied. For
    /// the live-feed queue, whose events were already decoded and accepted.
    Feed {
        /// The events, in order.
        events: Vec<Event>,
    },
    /// The listed positions of these accounts now (after every command
    /// queued before it), for the hub's first view of accounts it starts
    /// to want.
    Positions {
        /// The accounts.
        accounts: Vec<AccountId>,
        /// Receives the positions (and the seq of the cut).
        reply: oneshot::Sender<EngineState>,
    },
    /// Drain, finish the engine (sync, final snapshot) and stop.
    Shutdown {
        /// Receives the final state.
        reply: oneshot::Sender<EngineState>,
    },
}

/// A cheap handle to the ingest thread.
#[derive(Clone, Debug)]
pub struct IngestHandle {
    tx: mpsc::Sender<Command>,
    marks: Option<Arc<Watermarks>>,
    progress: Arc<Progress>,
    shards: Arc<ShardDepths>,
}

impl IngestHandle {
    /// Queues a submit (waiting for room in the queue); the receiver gets
    /// the answer once the events are durable.
    pub async fn submit(&self, events: Vec<Event>) -> Result<oneshot::Receiver<SubmitResult>, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Submit {
                events,
                reply: Some(tx),
            })
            .await
            .map_err(|_| ApiError::IngestGone)?;
        Ok(rx)
    }

    /// The listed positions of `accounts`, taken after every command
    /// queued before this one.
    pub async fn positions_of(&self, accounts: Vec<AccountId>) -> Result<EngineState, ApiError> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Command::Positions { accounts, reply: tx })
            .await
            .map_err(|_| ApiError::IngestGone)?;
        rx.await.map_err(|_| ApiError::IngestGone)
    }

    /// Queues events from a feed thread (blocking while the queue is full);
    /// false once the ingest thread is gone. Not for async contexts.
    pub fn feed_blocking(&self, events: Vec<Event>) -> bool {
        self.tx
            .blocking_send(Command::Submit { events, reply: None })
            .is_ok()
    }

    /// Queues events to be applied one by one (see [`Command::Feed`]),
    /// blocking while the queue is full; false once the ingest thread is
    /// gone. Not for async contexts.
    pub fn feed_each_blocking(&self, events: Vec<Event>) -> bool {
        self.tx.blocking_send(Command::Feed { events }).is_ok()
    }

    /// Commands waiting in the queue.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    /// The journal's durable seq.
    #[must_use]
    pub fn durable(&self) -> u64 {
        self.marks.as_ref().map_or(0, |m| m.durable())
    }

    /// Why the store takes no more writes (a failed journal append or
    /// fsync), once it has failed: the server is then not ready.
    #[must_use]
    pub fn store_failure(&self) -> Option<String> {
        self.marks.as_ref().and_then(|m| m.failure())
    }

    /// True while the ingest thread runs (from just after recovery until
    /// it stops).
    #[must_use]
    pub fn running(&self) -> bool {
        self.progress.running()
    }

    /// The last seq the engine accepted (sequenced), as of the last
    /// group of commands handled.
    #[must_use]
    pub fn accepted(&self) -> u64 {
        self.progress.accepted()
    }

    /// Batches waiting in each shard's queue.
    #[must_use]
    pub fn shard_depths(&self) -> Vec<u64> {
        self.shards.read()
    }
}

/// The running ingest thread.
#[derive(Debug)]
pub struct Ingest {
    handle: IngestHandle,
    thread: Option<JoinHandle<()>>,
}

impl Ingest {
    /// Moves the engine onto its thread; `queue` bounds the command channel.
    pub fn start(
        mut engine: Engine,
        hub: Arc<Hub>,
        metrics: Arc<Metrics>,
        queue: usize,
    ) -> Result<Self, ApiError> {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let marks = engine.watermarks();
        let progress = Arc::new(Progress::new(engine.pipeline().last_seq()));
        let handle = IngestHandle {
            tx,
            marks: marks.clone(),
            progress: Arc::clone(&progress),
            shards: engine.pipeline().shard_depths(),
        };
        let (ack_tx, ack_rx) = crossbeam_channel::bounded::<AckJob>(queue.max(1));
        let ack_metrics = Arc::clone(&metrics);
        let acker = std::thread::Builder::new()
            .name("kupala-acks".into())
            .spawn(move || acker(&ack_rx, marks.as_deref(), &ack_metrics))
            .map_err(|source| ApiError::Thread {
                name: "kupala-acks",
                source,
            })?;
        let thread = std::thread::Builder::new()
            .name("kupala-ingest".into())
            .spawn(move || {
                let mut w = Worker {
                    marks: engine.watermarks(),
                    engine,
                    hub,
                    metrics,
                    acks: Vec::new(),
                    feed_refused: 0,
                    progress,
                };
                // Not running from the moment the loop ends, or unwinds.
                let running = RunningGuard::start(Arc::clone(&w.progress));
                let reply = w.run(rx, &ack_tx);
                drop(running);
                // A snapshot at the last seq even when nothing new came
                // since recovery, so the next start replays no journal
                // (not after a journal failure: the store takes no writes).
                if w.engine.pipeline().last_seq() > 0 && w.store_failure().is_none() {
                    w.engine.snapshot();
                }
                let state = w.engine.finish();
                drop(ack_tx);
                let _ = acker.join();
                if let Some(reply) = reply {
                    let _ = reply.send(state);
                }
            })
            .map_err(|source| ApiError::Thread {
                name: "kupala-ingest",
                source,
            })?;
        Ok(Self {
            handle,
            thread: Some(thread),
        })
    }

    /// A handle for submitting.
    #[must_use]
    pub fn handle(&self) -> IngestHandle {
        self.handle.clone()
    }

    /// Drains the queue, syncs the journal, writes a final snapshot, stops
    /// the engine; the final state. Blocks: call it off the async workers.
    pub fn shutdown(mut self) -> Option<EngineState> {
        let (tx, rx) = oneshot::channel();
        let sent = self
            .handle
            .tx
            .blocking_send(Command::Shutdown { reply: tx })
            .is_ok();
        let state = if sent { rx.blocking_recv().ok() } else { None };
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        state
    }
}

struct Worker {
    engine: Engine,
    marks: Option<Arc<Watermarks>>,
    hub: Arc<Hub>,
    metrics: Arc<Metrics>,
    acks: Vec<AckJob>,
    feed_refused: u64,
    progress: Arc<Progress>,
}

impl Worker {
    fn run(
        &mut self,
        mut rx: mpsc::Receiver<Command>,
        ack_tx: &crossbeam_channel::Sender<AckJob>,
    ) -> Option<oneshot::Sender<EngineState>> {
        let mut stop = None;
        while stop.is_none() {
            let Some(first) = rx.blocking_recv() else { break };
            let mut next = Some(first);
            let mut handled = 0;
            while let Some(cmd) = next.take() {
                match cmd {
                    Command::Submit { events, reply } => self.submit(&events, reply),
                    Command::Feed { events } => self.feed(&events),
                    Command::Positions { accounts, reply } => {
                        let _ = reply.send(self.engine.positions_of(&accounts));
                    }
                    Command::Shutdown { reply } => {
                        stop = Some(reply);
                        break;
                    }
                }
                handled += 1;
                if handled < MAX_GROUP {
                    next = rx.try_recv().ok();
                }
            }
            self.flush(ack_tx);
        }
        // Whatever was queued before the shutdown is still applied and acked.
        rx.close();
        while let Ok(cmd) = rx.try_recv() {
            match cmd {
                Command::Submit { events, reply } => self.submit(&events, reply),
                Command::Feed { events } => self.feed(&events),
                Command::Positions { accounts, reply } => {
                    let _ = reply.send(self.engine.positions_of(&accounts));
                }
                Command::Shutdown { .. } => {}
            }
        }
        self.flush(ack_tx);
        stop
    }

    fn flush(&mut self, ack_tx: &crossbeam_channel::Sender<AckJob>) {
        self.engine.pipeline().flush();
        self.progress.set_accepted(self.engine.pipeline().last_seq());
        for job in self.acks.drain(..) {
            let _ = ack_tx.send(job);
        }
    }

    /// Why the journal can take no more writes, once it failed.
    fn store_failure(&self) -> Option<String> {
        self.marks.as_ref().and_then(|m| m.failure())
    }

    fn feed(&mut self, events: &[Event]) {
        if let Some(reason) = self.store_failure() {
            self.metrics.reject(Rejection::StoreFailed, events.len());
            let before = self.feed_refused;
            self.feed_refused += events.len() as u64;
            // Logged each time the count passes a power of two.
            if before.checked_next_power_of_two() != self.feed_refused.checked_next_power_of_two() {
                tracing::warn!(
                    "feed events refused: the store is not writable ({reason}); {} so far",
                    self.feed_refused
                );
            }
            return;
        }
        for ev in events {
            let applied = match self.engine.pipeline().check(std::slice::from_ref(ev)) {
                Ok(()) => self.engine.submit(ev).map_err(|e| e.to_string()),
                Err((_, e)) => Err(e.to_string()),
            };
            match applied {
                Ok(Some(seq)) => {
                    self.metrics.event_in(ev);
                    if let Event::Tick(t) = ev {
                        self.hub.tick(t, seq);
                    }
                }
                Ok(None) => add(&self.metrics.duplicates, 1),
                Err(e) => {
                    self.feed_refused += 1;
                    self.metrics.reject(Rejection::Invalid, 1);
                    // Logged at 1, 2, 4, 8... so a bad feed cannot flood the log.
                    if self.feed_refused.is_power_of_two() {
                        tracing::warn!(
                            "feed {} event refused: {e} ({} so far)",
                            ev.kind(),
                            self.feed_refused
                        );
                    }
                }
            }
        }
    }

    fn submit(&mut self, events: &[Event], reply: Option<oneshot::Sender<SubmitResult>>) {
        let refuse = |reply: Option<oneshot::Sender<SubmitResult>>, code, msg: String| match reply {
            Some(r) => {
                let _ = r.send(Err((code, msg)));
            }
            None => tracing::warn!("feed batch refused: {msg}"),
        };
        if let Some(reason) = self.store_failure() {
            self.metrics.reject(Rejection::StoreFailed, events.len());
            let msg = format!("the store is not writable ({reason}); nothing was applied");
            refuse(reply, ErrorCode::Unavailable, msg);
            return;
        }
        if let Err((i, e)) = self.engine.pipeline().check(events) {
            self.metrics.reject(Rejection::Invalid, events.len());
            refuse(reply, ErrorCode::BadRequest, format!("line {}: {e}", i + 1));
            return;
        }
        let seqs = match self.engine.submit_all(events) {
            Ok(seqs) => seqs,
            Err((i, e)) => {
                // `check` passed, so this is a bug; say what was applied.
                let msg = format!("line {}: {e} (the {i} events before it were applied)", i + 1);
                refuse(reply, ErrorCode::Internal, msg);
                return;
            }
        };
        for (ev, seq) in events.iter().zip(&seqs) {
            match seq {
                Some(s) => {
                    self.metrics.event_in(ev);
                    if let Event::Tick(t) = ev {
                        self.hub.tick(t, *s);
                    }
                }
                None => add(&self.metrics.duplicates, 1),
            }
        }
        if let Some(reply) = reply {
            // A batch of repeats still waits for the originals to be durable.
            let last = seqs
                .iter()
                .flatten()
                .copied()
                .max()
                .unwrap_or_else(|| self.engine.pipeline().last_seq());
            self.acks.push((last, seqs, reply));
        }
    }
}
