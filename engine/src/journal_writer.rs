//! The journal writer: one thread between the sequencer and the shards when
//! a store is attached. It appends batches to the journal (group commit:
//! whatever is queued is written in one atomic write), makes them durable per
//! the sync mode, and only then routes their ops to the shards. So nothing a
//! shard computes, and nothing published, precedes the append; and an ack
//! waits on the durable watermark.
//!
//! fjall writes happen here (and on the snapshot thread), never on shard
//! threads or tokio workers.

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::messages::{Cut, CutKind};
use crate::op::SeqOp;
use crate::router::Router;
use crate::store::Store;
use crate::store::acked::AckMark;
use crate::store::journal::JournalBatch;

/// When appended journal batches are fsynced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// Every group commit is fsynced before its events are acknowledged.
    Always,
    /// fsync at most this long after an append; acks wait for it.
    Periodic(Duration),
}

/// How far the journal got: appended (in the store, maybe not on disk) and
/// durable (fsynced). Waiters block on a condvar.
#[derive(Debug, Default)]
pub struct Watermarks {
    appended: AtomicU64,
    durable: AtomicU64,
    failed: AtomicU64,
    failure: Mutex<Option<String>>,
    lock: Mutex<()>,
    cv: Condvar,
}

impl Watermarks {
    /// The highest seq appended to the journal.
    #[must_use]
    pub fn appended(&self) -> u64 {
        self.appended.load(Ordering::Acquire)
    }

    /// The highest seq durable on disk.
    #[must_use]
    pub fn durable(&self) -> u64 {
        self.durable.load(Ordering::Acquire)
    }

    /// True once a journal write failed: nothing after it is acknowledged.
    #[must_use]
    pub fn failed(&self) -> bool {
        self.failed.load(Ordering::Acquire) != 0
    }

    /// Why the journal failed, once it has (the first error).
    #[must_use]
    pub fn failure(&self) -> Option<String> {
        if !self.failed() {
            return None;
        }
        self.failure.lock().ok().and_then(|f| f.clone())
    }

    /// Records the first journal failure: from now on nothing more becomes
    /// durable, and waiters are woken to answer.
    fn fail(&self, reason: String) {
        if let Ok(mut f) = self.failure.lock()
            && f.is_none()
        {
            *f = Some(reason);
        }
        self.failed.store(1, Ordering::Release);
        self.set(0, 0);
    }

    /// Starts both marks at `seq` (what recovery found in the journal).
    pub(crate) fn reset(&self, seq: u64) {
        self.appended.store(seq, Ordering::Release);
        self.durable.store(seq, Ordering::Release);
    }

    fn set(&self, appended: u64, durable: u64) {
        self.appended.fetch_max(appended, Ordering::AcqRel);
        self.durable.fetch_max(durable, Ordering::AcqRel);
        let _guard = self.lock.lock();
        self.cv.notify_all();
    }

    /// Waits until `seq` is durable; false on timeout or a failed journal.
    pub fn wait_durable(&self, seq: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let Ok(mut guard) = self.lock.lock() else {
            return false;
        };
        while self.durable() < seq && !self.failed() {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            match self.cv.wait_timeout(guard, deadline - now) {
                Ok((g, _)) => guard = g,
                Err(_) => return false,
            }
        }
        self.durable() >= seq
    }
}

/// A message to the journal writer.
pub(crate) enum JournalMsg {
    /// Append, then route; with when the batch's first op entered.
    Append(JournalBatch, Vec<SeqOp>, u64),
    /// Already in the journal (recovery): route only.
    Route(Vec<SeqOp>),
    /// Flush the router and send a barrier.
    Barrier(Sender<Cut>, CutKind),
    /// fsync now and report the durable seq.
    Sync(Sender<u64>),
}

pub(crate) struct JournalWriter {
    pub(crate) store: Arc<Store>,
    pub(crate) router: Router,
    pub(crate) sync: SyncMode,
    pub(crate) marks: Arc<Watermarks>,
    /// The keeper of the acknowledged high-water mark: advanced after each
    /// fsync, on its own thread, before the durable watermark (which acks
    /// wait on) moves.
    pub(crate) acked: MarkKeeper,
    pub(crate) max_group: usize,
}

impl JournalWriter {
    /// Runs until the sequencer drops its sender; then flushes and syncs.
    pub(crate) fn run(mut self, rx: &Receiver<JournalMsg>) {
        let mut last_sync = Instant::now();
        let mut unsynced = false;
        loop {
            let wait = match self.sync {
                SyncMode::Periodic(d) if unsynced => d.saturating_sub(last_sync.elapsed()),
                _ => Duration::from_secs(3600),
            };
            let first = match rx.recv_timeout(wait) {
                Ok(m) => m,
                Err(RecvTimeoutError::Timeout) => {
                    self.sync_now();
                    (last_sync, unsynced) = (Instant::now(), false);
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => break,
            };
            let mut group = vec![first];
            while group.len() < self.max_group {
                match rx.try_recv() {
                    Ok(m) => group.push(m),
                    Err(_) => break,
                }
            }
            unsynced |= self.handle(group);
            let due = match self.sync {
                SyncMode::Always => true,
                SyncMode::Periodic(d) => last_sync.elapsed() >= d,
            };
            if unsynced && due {
                self.sync_now();
                (last_sync, unsynced) = (Instant::now(), false);
            }
        }
        self.router.flush();
        self.sync_now();
        self.router.close();
        self.acked.close();
    }

    /// Appends every batch of the group in one write, then routes; returns
    /// whether anything was appended.
    fn handle(&mut self, group: Vec<JournalMsg>) -> bool {
        let batches: Vec<&JournalBatch> = group
            .iter()
            .filter_map(|m| match m {
                JournalMsg::Append(b, ..) => Some(b),
                _ => None,
            })
            .collect();
        let appended = !batches.is_empty();
        // After a failure nothing is appended (fjall is poisoned, and the
        // outcome of what follows could not be known either).
        let mut ok = !self.marks.failed();
        if appended && ok {
            let last = batches.iter().filter_map(|b| b.last_seq()).max().unwrap_or(0);
            if let Err(e) = self.store.append(batches) {
                // Nothing more can be made durable: stop acknowledging, and
                // do not apply what is not in the journal.
                tracing::error!("journal append failed: {e}");
                ok = false;
                self.marks.fail(format!("journal append failed: {e}"));
            } else {
                self.marks.set(last, self.marks.durable());
            }
        }
        for msg in group {
            match msg {
                JournalMsg::Append(_, ops, t_in) if ok => {
                    ops.into_iter().for_each(|o| self.router.route(o, t_in))
                }
                JournalMsg::Append(..) => {}
                JournalMsg::Route(ops) => ops.into_iter().for_each(|o| self.router.route(o, 0)),
                JournalMsg::Barrier(reply, kind) => self.router.barrier(&reply, kind),
                JournalMsg::Sync(reply) => {
                    self.sync_now();
                    let _ = reply.send(self.marks.durable());
                }
            }
        }
        self.router.flush();
        appended
    }

    /// fsyncs the store, then hands the appended seq to the mark keeper,
    /// which records it in the acknowledged mark and only then moves the
    /// durable watermark: an ack is never sent for a seq the mark does not
    /// cover, and the journal goes on appending while the mark is fsynced.
    fn sync_now(&mut self) {
        if self.marks.failed() {
            return;
        }
        let appended = self.marks.appended();
        let started = Instant::now();
        match self.store.sync() {
            Ok(()) => {
                self.store.stats().fsynced(started.elapsed());
                self.acked.advance_to(appended);
            }
            Err(e) => {
                let reason = format!("journal fsync failed: {e}");
                tracing::error!("{reason}");
                self.marks.fail(reason);
            }
        }
    }
}

/// The thread that keeps the acknowledged high-water mark (`kupala-acked`):
/// given the highest seq the journal has fsynced, it writes and fsyncs the
/// mark, then moves the durable watermark. Its own thread, so the journal's
/// appends overlap the mark's fsync; asking never blocks (a newer seq
/// replaces one not yet written).
pub(crate) struct MarkKeeper {
    shared: Arc<(Mutex<KeeperState>, Condvar)>,
    thread: Option<std::thread::JoinHandle<()>>,
}

#[derive(Default)]
struct KeeperState {
    /// The highest seq fsynced in the journal and not yet in the mark.
    target: u64,
    closed: bool,
}

impl MarkKeeper {
    /// Starts the keeper of `mark`, moving `marks`' durable watermark.
    pub(crate) fn start(mark: AckMark, marks: Arc<Watermarks>) -> std::io::Result<Self> {
        let shared = Arc::new((Mutex::new(KeeperState::default()), Condvar::new()));
        let theirs = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("kupala-acked".into())
            .spawn(move || keep_mark(mark, &theirs, &marks))?;
        Ok(Self {
            shared,
            thread: Some(thread),
        })
    }

    /// Asks for every seq up to `seq` to be recorded (it is fsynced).
    fn advance_to(&self, seq: u64) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut state) = lock.lock() {
            state.target = state.target.max(seq);
            cv.notify_one();
        }
    }

    /// Records what was asked, then stops the thread.
    fn close(&mut self) {
        let (lock, cv) = &*self.shared;
        if let Ok(mut state) = lock.lock() {
            state.closed = true;
            cv.notify_one();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for MarkKeeper {
    fn drop(&mut self) {
        self.close();
    }
}

fn keep_mark(mut mark: AckMark, shared: &(Mutex<KeeperState>, Condvar), marks: &Watermarks) {
    let (lock, cv) = shared;
    loop {
        let (target, closed) = {
            let Ok(mut state) = lock.lock() else { return };
            while state.target <= mark.seq() && !state.closed {
                state = match cv.wait(state) {
                    Ok(s) => s,
                    Err(_) => return,
                };
            }
            (state.target, state.closed)
        };
        if target > mark.seq() {
            match mark.advance(target) {
                Ok(()) => marks.set(target, target),
                Err(e) => {
                    let reason = format!("recording the acknowledged seq failed: {e}");
                    tracing::error!("{reason}");
                    marks.fail(reason);
                    return;
                }
            }
        }
        if closed {
            return;
        }
    }
}
