//! The ingest queue between many producers (TCP connections, the
//! refresher, file feeds, WebSocket `feed` submits) and the one thread that
//! owns the engine.
//!
//! # Backpressure contract
//!
//! - **Bounded**: at most [`QueueConfig::capacity`] events wait.
//! - **Ticks conflate**: a tick for an instrument that already has a tick
//!   waiting *replaces* it, whatever the depth, without taking room or
//!   waiting. The replacement keeps the position of the tick it replaces
//!   (so the freshest price is delivered as early as the oldest one would
//!   have been). A tick is only replaceable until a later event *about the
//!   same instrument* (trade, split, instrument definition) or any `eod` is
//!   queued behind it: from then on it is sealed, and the next tick for that
//!   instrument takes a new slot at the end. So the last tick before each
//!   trade, split or EOD is never lost, and ticks never move across an EOD
//!   or across an event of their own instrument. FX events do not seal
//!   (an FX rate and an instrument's price are independent inputs).
//! - **Nothing else is dropped**: trades, FX, EOD, splits, instrument
//!   definitions (and ticks that cannot conflate) need a free slot. When the
//!   queue is full the producer waits up to [`QueueConfig::max_wait`], then
//!   gets the event back in a [`Refused`] whose message it can relay to its
//!   sender (`busy: engine behind, trade not accepted`). Once accepted, an
//!   event is delivered exactly once.
//! - **Order**: the consumer drains in arrival order (the order in which
//!   producers got the lock), except that a conflated tick sits where the
//!   tick it replaced was. Per instrument, ticks, trades, splits and EODs
//!   keep their arrival order.
//!
//! [`QueueStats`] counts what was enqueued, by type, what conflated, what
//! was refused, and the depth.

use std::collections::{HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use kupala_engine::Event;

mod types;
pub use types::{KindCounts, Pushed, QueueStats, RefuseReason, Refused};

/// Size and patience of an [`IngestQueue`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Most events waiting at once (at least 1).
    pub capacity: usize,
    /// How long a producer waits for room before its event is refused.
    pub max_wait: Duration,
}

impl Default for QueueConfig {
    /// 65,536 events; a producer waits up to 1 s.
    fn default() -> Self {
        Self {
            capacity: 1 << 16,
            max_wait: Duration::from_secs(1),
        }
    }
}

/// The bounded, conflating queue (see the module documentation). Share it
/// in an `Arc`: every method takes `&self`.
#[derive(Debug)]
pub struct IngestQueue {
    config: QueueConfig,
    state: Mutex<State>,
    /// Signalled when events arrive or the queue closes (the consumer).
    not_empty: Condvar,
    /// Signalled when room appears or the queue closes (producers).
    not_full: Condvar,
}

#[derive(Debug, Default)]
struct State {
    slots: VecDeque<Event>,
    /// Absolute index of `slots[0]`.
    head: u64,
    /// Absolute index just past the last EOD queued: ticks before it are sealed.
    barrier: u64,
    /// Instrument → absolute index of its last queued tick ([`SEALED`] once a
    /// trade, split or definition of it was queued). An entry is only
    /// replaceable while `index >= max(head, barrier)`; entries are kept
    /// when consumed, so a busy instrument costs no allocation per tick,
    /// and purged when the map outgrows the queue (see [`State::purge`]).
    open_ticks: HashMap<String, u64>,
    closed: bool,
    consumer_waiting: bool,
    producers_waiting: usize,
    stats: QueueStats,
}

/// The index of an instrument whose last tick is sealed.
const SEALED: u64 = u64::MAX;

enum Place {
    Done(Pushed),
    Full(Event),
}

impl State {
    fn place(&mut self, event: Event, capacity: usize) -> Place {
        let floor = self.head.max(self.barrier);
        if let Event::Tick(t) = &event
            && let Some(&at) = self.open_ticks.get(t.instrument.as_str())
            && at != SEALED
            && at >= floor
            && let Some(slot) = usize::try_from(at - self.head)
                .ok()
                .and_then(|i| self.slots.get_mut(i))
        {
            *slot = event;
            self.stats.enqueued.tick += 1;
            self.stats.conflated += 1;
            return Place::Done(Pushed::Conflated);
        }
        if self.slots.len() >= capacity {
            return Place::Full(event);
        }
        let at = self.head + self.slots.len() as u64;
        match &event {
            Event::Tick(t) => match self.open_ticks.get_mut(t.instrument.as_str()) {
                Some(index) => *index = at,
                None => {
                    self.open_ticks.insert(t.instrument.clone(), at);
                    self.purge(capacity);
                }
            },
            Event::Eod(_) => self.barrier = at + 1,
            Event::Fx(_) => {}
            // A dividend does not depend on the mark, but the price drops
            // by it when it goes ex: a tick on each side stays.
            Event::Trade(_) | Event::Split(_) | Event::Dividend(_) | Event::Instrument(_) => {
                if let Some(index) = event.instrument().and_then(|i| self.open_ticks.get_mut(i)) {
                    *index = SEALED;
                }
            }
        }
        self.stats.enqueued.add(&event);
        self.slots.push_back(event);
        self.stats.depth = self.slots.len();
        self.stats.max_depth = self.stats.max_depth.max(self.slots.len());
        Place::Done(Pushed::Queued)
    }

    /// Drops the entries that can no longer conflate once the map holds
    /// far more instruments than the queue can (names from the network
    /// must not grow it without bound); amortized O(1).
    fn purge(&mut self, capacity: usize) {
        if self.open_ticks.len() > 2 * capacity + 4096 {
            let floor = self.head.max(self.barrier);
            self.open_ticks.retain(|_, at| *at != SEALED && *at >= floor);
        }
    }

    fn pop(&mut self) -> Option<Event> {
        let event = self.slots.pop_front()?;
        self.head += 1;
        self.stats.dequeued += 1;
        self.stats.depth = self.slots.len();
        Some(event)
    }
}

impl IngestQueue {
    /// An empty, open queue.
    #[must_use]
    pub fn new(config: QueueConfig) -> Self {
        Self {
            config: QueueConfig {
                capacity: config.capacity.max(1),
                ..config
            },
            state: Mutex::new(State::default()),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// The configuration in force.
    #[must_use]
    pub const fn config(&self) -> QueueConfig {
        self.config
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing panics while the lock is held; recover the state if it did.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Pushes one event, waiting up to [`QueueConfig::max_wait`] for room.
    pub fn push(&self, event: Event) -> Result<Pushed, Refused> {
        self.push_within(event, self.config.max_wait)
    }

    /// Pushes one event without waiting: a full queue refuses at once
    /// (a tick that can conflate still conflates).
    pub fn try_push(&self, event: Event) -> Result<Pushed, Refused> {
        self.push_within(event, Duration::ZERO)
    }

    /// Pushes one event, waiting up to `wait` for room.
    pub fn push_within(&self, event: Event, wait: Duration) -> Result<Pushed, Refused> {
        let mut batch = Batch {
            wait,
            deadline: None,
            queued: false,
        };
        let (mut state, result) = self.place_one(self.lock(), event, &mut batch);
        if let Err(r) = &result {
            state.stats.refused.add(&r.event);
        }
        if batch.queued && state.consumer_waiting {
            self.not_empty.notify_one();
        }
        result
    }

    /// Pushes a batch under one lock, in order, each event waiting for room
    /// as [`push`](Self::push) does; the wait bound is shared by the batch
    /// (once it has run out, events that need room are refused at once).
    /// Each refused event is handed to `refused` with its tag `T` (a line
    /// number, say); returns how many were accepted.
    pub fn push_all<T>(
        &self,
        events: impl IntoIterator<Item = (T, Event)>,
        refused: impl FnMut(T, Refused),
    ) -> usize {
        self.push_all_within(events, self.config.max_wait, refused)
    }

    /// [`push_all`](Self::push_all) with a wait bound of `wait`.
    pub fn push_all_within<T>(
        &self,
        events: impl IntoIterator<Item = (T, Event)>,
        wait: Duration,
        refused: impl FnMut(T, Refused),
    ) -> usize {
        self.push_all_counted(events, wait, refused).0
    }

    /// [`push_all_within`](Self::push_all_within), also saying how many of
    /// the accepted events were ticks that replaced a waiting tick:
    /// `(accepted, conflated)`.
    pub fn push_all_counted<T>(
        &self,
        events: impl IntoIterator<Item = (T, Event)>,
        wait: Duration,
        mut refused: impl FnMut(T, Refused),
    ) -> (usize, usize) {
        let mut conflated = 0;
        let mut batch = Batch {
            wait,
            deadline: None,
            queued: false,
        };
        let mut accepted = 0;
        let mut state = self.lock();
        for (tag, event) in events {
            let result;
            (state, result) = self.place_one(state, event, &mut batch);
            match result {
                Ok(how) => {
                    accepted += 1;
                    conflated += usize::from(how == Pushed::Conflated);
                }
                Err(r) => {
                    state.stats.refused.add(&r.event);
                    refused(tag, r);
                }
            }
        }
        if batch.queued && state.consumer_waiting {
            self.not_empty.notify_one();
        }
        (accepted, conflated)
    }

    /// The wait bound producers get by default.
    #[must_use]
    pub const fn max_wait(&self) -> Duration {
        self.config.max_wait
    }

    /// Places `event`, waiting for room until the batch's deadline.
    fn place_one<'a>(
        &'a self,
        mut state: MutexGuard<'a, State>,
        mut event: Event,
        batch: &mut Batch,
    ) -> (MutexGuard<'a, State>, Result<Pushed, Refused>) {
        let mut waited = false;
        loop {
            if state.closed {
                let reason = RefuseReason::Closed;
                return (
                    state,
                    Err(Refused {
                        event: Box::new(event),
                        reason,
                    }),
                );
            }
            match state.place(event, self.config.capacity) {
                Place::Done(how) => {
                    batch.queued |= how == Pushed::Queued;
                    return (state, Ok(how));
                }
                Place::Full(back) => event = back,
            }
            let now = Instant::now();
            let end = *batch.deadline.get_or_insert_with(|| after(now, batch.wait));
            if now >= end {
                let reason = RefuseReason::Busy;
                return (
                    state,
                    Err(Refused {
                        event: Box::new(event),
                        reason,
                    }),
                );
            }
            if !waited {
                waited = true;
                state.stats.waited += 1;
            }
            if batch.queued && state.consumer_waiting {
                self.not_empty.notify_one();
            }
            state.producers_waiting += 1;
            state = self
                .not_full
                .wait_timeout(state, end - now)
                .map_or_else(|e| e.into_inner().0, |(s, _)| s);
            state.producers_waiting -= 1;
        }
    }

    /// Moves up to `max` waiting events (at least 1) to the end of `out`, in
    /// queue order, waiting up to `timeout` (forever for `None`) for the
    /// first. `Some(n)`: `n` events moved (0 when the wait timed out);
    /// `None`: the queue is closed and empty, nothing more will come.
    pub fn pop_batch(&self, out: &mut Vec<Event>, max: usize, timeout: Option<Duration>) -> Option<usize> {
        let deadline = timeout.map(|t| after(Instant::now(), t));
        let mut state = self.lock();
        while state.slots.is_empty() {
            if state.closed {
                return None;
            }
            state.consumer_waiting = true;
            state = match deadline {
                None => self.not_empty.wait(state).unwrap_or_else(PoisonError::into_inner),
                Some(end) => {
                    let now = Instant::now();
                    if now >= end {
                        state.consumer_waiting = false;
                        return Some(0);
                    }
                    self.not_empty
                        .wait_timeout(state, end - now)
                        .map_or_else(|e| e.into_inner().0, |(s, _)| s)
                }
            };
            state.consumer_waiting = false;
        }
        let mut n = 0;
        while n < max.max(1) {
            let Some(event) = state.pop() else { break };
            out.push(event);
            n += 1;
        }
        if state.producers_waiting > 0 {
            self.not_full.notify_all();
        }
        Some(n)
    }

    /// [`pop_batch`](Self::pop_batch) without waiting: `Some(0)` when empty.
    pub fn try_pop_batch(&self, out: &mut Vec<Event>, max: usize) -> Option<usize> {
        self.pop_batch(out, max, Some(Duration::ZERO))
    }

    /// Closes the queue: producers (and those waiting) are refused with
    /// [`RefuseReason::Closed`]; the consumer still drains what is queued,
    /// then [`pop_batch`](Self::pop_batch) returns `None`.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        drop(state);
        self.not_empty.notify_all();
        self.not_full.notify_all();
    }

    /// True once [`close`](Self::close) was called.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Events waiting now.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.lock().slots.len()
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> QueueStats {
        self.lock().stats
    }
}

/// The wait bound shared by the events of one push.
struct Batch {
    wait: Duration,
    deadline: Option<Instant>,
    /// Whether any event of the batch took a slot (the consumer may need waking).
    queued: bool,
}

/// `now + d`, or about a century later when that overflows.
fn after(now: Instant, d: Duration) -> Instant {
    now.checked_add(d)
        .or_else(|| now.checked_add(Duration::from_secs(3_155_760_000)))
        .unwrap_or(now)
}
