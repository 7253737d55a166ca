//! A client's outgoing queue: bounded, conflated by key, never blocking the
//! producer.
//!
//! The hub pushes updates from the aggregator thread; the connection task
//! pops them. Each update has a key — (subscription, account, instrument)
//! for positions, (subscription, account) for portfolios, the subscription
//! for ticks — and a key already waiting is replaced in place (the latest
//! state wins, the order of first arrival is kept). Replies and snapshots
//! have unique keys, and are the answers to requests: they go out in the
//! order the requests arrived (`outbox_slots.rs`: a slot per answer that
//! waits, later answers held behind it; deltas are never held). Past `max_pending` waiting keys, or when the queue has
//! not been drained for `slow`, the client is closed with a reason and its
//! pending updates are dropped; pushing never waits.
//!
//! Per-subscription throttling: with `min_interval_ms`, updates wait in the
//! subscription's own held list (still conflated) and are released at most
//! once per interval; with `min_change`, an update whose P&L (price, for
//! ticks) moved less than the threshold since the last one queued for its
//! key (or since the snapshot) is skipped, unless the quantity (or the
//! unpriced count) changed. A skipped move is not lost: it counts toward
//! the next comparison, which is always against what the client was sent.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::metrics::{Metrics, add};
use crate::protocol::{Channel, CloseReason};

/// A subscription's id within its connection (never reused).
pub(crate) type SubId = u64;

/// How a subscription is set up in the queue.
#[derive(Debug)]
pub(crate) struct SubSpec {
    /// The subscribe request's id, echoed in every update.
    pub id: Option<Value>,
    /// The channel.
    pub channel: Channel,
    /// The snapshot's `seq`; deltas count up from it.
    pub start_seq: u64,
    /// `min_interval_ms`.
    pub interval: Option<Duration>,
    /// `min_change`, raw money.
    pub min_change: Option<i128>,
    /// `batch`: deltas queued together go out as one `deltas` message.
    pub batch: bool,
}

#[derive(Debug)]
struct SubState {
    spec: SubSpec,
    /// The snapshot is not yet released (held behind an earlier answer,
    /// or not yet taken): deltas wait in `held`, conflated.
    gated: bool,
    seq: u64,
    last_flush: Instant,
    held: Vec<Key>,
    last: FxHashMap<Key, (i64, i128)>,
}

#[derive(Debug)]
struct Pending {
    item: Item,
    t_in: u64,
    /// A snapshot's tag, fixed when it is queued: a snapshot is the answer
    /// to its subscribe and is sent even if the subscription ends first.
    tag: Option<SubTag>,
}

impl Pending {
    const fn new(item: Item, t_in: u64) -> Self {
        Self {
            item,
            t_in,
            tag: None,
        }
    }
}

/// The subscription an outgoing update belongs to, with its `seq`.
#[derive(Debug)]
pub(crate) struct SubTag {
    pub id: Option<Value>,
    pub channel: Channel,
    pub seq: u64,
}

/// Where an outgoing update goes in the messages written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// A message of its own (a reply, a snapshot, a `delta`).
    Own,
    /// The first delta of a `deltas` message (a `batch` subscription).
    Opens,
    /// The next delta of the `deltas` message the previous update opened.
    Joins,
}

/// An update taken off the queue, ready to render.
#[derive(Debug)]
pub(crate) struct Outgoing {
    /// The subscription and seq (none for a reply, or for a delta that
    /// joins the message before it).
    pub tag: Option<SubTag>,
    pub item: Item,
    pub t_in: u64,
    pub part: Part,
}

/// What [`Outbox::pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Popped {
    /// Items were taken.
    Ready,
    /// Nothing to send now; throttled updates are due at this instant.
    Idle(Option<Instant>),
    /// The client was closed by the queue (slow, overflow).
    Closed(CloseReason),
}

#[derive(Debug)]
struct Inner {
    order: VecDeque<Key>,
    pending: FxHashMap<Key, Pending>,
    subs: FxHashMap<SubId, SubState>,
    closed: Option<CloseReason>,
    stalled_since: Instant,
    next_reply: u64,
    /// Answers in request order, from the first not yet released.
    slots: VecDeque<slots::Slot>,
    /// The ticket of `slots[0]` (= answers released so far).
    base: u64,
    /// Request slots in `slots` (answers reserved or held).
    awaiting: usize,
}

/// One client's queue.
#[derive(Debug)]
pub(crate) struct Outbox {
    inner: Mutex<Inner>,
    notify: Notify,
    /// `Inner::base`, for tasks waiting for earlier answers.
    released: watch::Sender<u64>,
    max_pending: usize,
    slow: Duration,
    metrics: Arc<Metrics>,
}

impl Outbox {
    pub(crate) fn new(max_pending: usize, slow: Duration, metrics: Arc<Metrics>) -> Self {
        Self {
            inner: Mutex::new(Inner {
                order: VecDeque::new(),
                pending: FxHashMap::default(),
                subs: FxHashMap::default(),
                closed: None,
                stalled_since: Instant::now(),
                next_reply: 0,
                slots: VecDeque::new(),
                base: 0,
                awaiting: 0,
            }),
            notify: Notify::new(),
            released: watch::Sender::new(0),
            max_pending: max_pending.max(1),
            slow,
            metrics,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Waits until something was pushed (or the queue closed).
    pub(crate) async fn changed(&self) {
        self.notify.notified().await;
    }

    /// Updates waiting (replies, snapshots, deltas, held ones included).
    pub(crate) fn len(&self) -> usize {
        self.lock().pending.len()
    }

    /// Queues an update of a subscription, conflating by key. Never waits.
    pub(crate) fn push(&self, key: Key, item: Item, t_in: u64, now: Instant) {
        let mut g = self.lock();
        if self.push_locked(&mut g, key, item, t_in, now) {
            self.notify.notify_one();
        }
    }

    /// Queues several updates under one lock and one wake-up (a publish's
    /// deltas for one subscription). Never waits.
    pub(crate) fn push_all(&self, items: impl IntoIterator<Item = (Key, Item)>, t_in: u64, now: Instant) {
        let mut g = self.lock();
        let mut wake = false;
        for (key, item) in items {
            wake |= self.push_locked(&mut g, key, item, t_in, now);
        }
        if wake {
            self.notify.notify_one();
        }
    }

    /// One update under the lock; whether the connection task must wake.
    fn push_locked(&self, inner: &mut Inner, key: Key, item: Item, t_in: u64, now: Instant) -> bool {
        if inner.closed.is_some() {
            return false;
        }
        let Some(st) = key.sub().and_then(|s| inner.subs.get_mut(&s)) else {
            return false;
        };
        if let (Some(min), Some(m)) = (st.spec.min_change, item.measure()) {
            if let Some(&(q, v)) = st.last.get(&key)
                && q == m.0
                && m.1.abs_diff(v) < min.unsigned_abs()
            {
                add(&self.metrics.suppressed, 1);
                return false;
            }
            st.last.insert(key, m);
        }
        if let Some(p) = inner.pending.get_mut(&key) {
            *p = Pending::new(item, t_in);
            add(&self.metrics.conflated, 1);
            return false;
        }
        if st.gated || st.spec.interval.is_some() {
            let gated = st.gated;
            st.held.push(key);
            inner.pending.insert(key, Pending::new(item, t_in));
            self.check_bounds(inner, now);
            !gated
        } else {
            self.enqueue_quiet(inner, key, Pending::new(item, t_in), now);
            true
        }
    }

    fn enqueue(&self, g: &mut Inner, key: Key, p: Pending, now: Instant) {
        self.enqueue_quiet(g, key, p, now);
        self.notify.notify_one();
    }

    /// Queues in the send order without waking the connection task.
    fn enqueue_quiet(&self, g: &mut Inner, key: Key, p: Pending, now: Instant) {
        if g.order.is_empty() {
            g.stalled_since = now;
        }
        g.order.push_back(key);
        g.pending.insert(key, p);
        self.check_bounds(g, now);
    }

    fn check_bounds(&self, g: &mut Inner, now: Instant) {
        if g.pending.len() > self.max_pending {
            self.close_locked(g, CloseReason::Overflow);
        } else if !g.order.is_empty() && now.saturating_duration_since(g.stalled_since) > self.slow {
            self.close_locked(g, CloseReason::Slow);
        }
    }

    fn close_locked(&self, g: &mut Inner, reason: CloseReason) {
        if g.closed.is_none() {
            g.closed = Some(reason);
            add(&self.metrics.dropped, g.pending.len() as u64);
            g.pending.clear();
            g.order.clear();
            g.subs.clear();
            g.slots.clear();
            g.awaiting = 0;
            // Tasks waiting for earlier answers go on (and find it closed).
            self.released.send_replace(u64::MAX);
        }
    }

    /// Takes up to `max` updates in order, assigning subscription seqs.
    pub(crate) fn pop(&self, max: usize, now: Instant, out: &mut Vec<Outgoing>) -> Popped {
        let mut g = self.lock();
        let inner = &mut *g;
        if let Some(r) = inner.closed {
            return Popped::Closed(r);
        }
        let mut next_due: Option<Instant> = None;
        for st in inner.subs.values_mut() {
            let Some(every) = st.spec.interval else { continue };
            if st.held.is_empty() || st.gated {
                continue;
            }
            let due = st.last_flush + every;
            if now >= due {
                inner.order.extend(st.held.drain(..));
                st.last_flush = now;
            } else {
                next_due = Some(next_due.map_or(due, |d| d.min(due)));
            }
        }
        let before = out.len();
        // The `batch` subscription whose `deltas` message the last update
        // taken is in: its next delta joins that message.
        let mut open: Option<SubId> = None;
        while out.len() - before < max {
            let Some(key) = inner.order.pop_front() else { break };
            let Some(p) = inner.pending.remove(&key) else {
                continue;
            };
            let (tag, part) = match (p.tag, key.sub()) {
                (Some(tag), _) => (Some(tag), Part::Own),
                (None, Some(s)) => match inner.subs.get_mut(&s) {
                    Some(st) => tag_delta(s, st, &p.item, &mut open),
                    None => (None, Part::Own),
                },
                (None, None) => (None, Part::Own),
            };
            if part == Part::Own {
                open = None;
            }
            out.push(Outgoing {
                tag,
                item: p.item,
                t_in: p.t_in,
                part,
            });
        }
        inner.stalled_since = now;
        if out.len() > before {
            Popped::Ready
        } else {
            Popped::Idle(next_due)
        }
    }
}

/// The tag and message part of a subscription's update taken off the
/// queue: a delta counts one more `seq`, unless it joins the `deltas`
/// message of the update taken just before it (same `batch` subscription).
fn tag_delta(s: SubId, st: &mut SubState, item: &Item, open: &mut Option<SubId>) -> (Option<SubTag>, Part) {
    let tag = |st: &SubState| SubTag {
        id: st.spec.id.clone(),
        channel: st.spec.channel,
        seq: st.seq,
    };
    if !item.is_change() {
        *open = None;
        return (Some(tag(st)), Part::Own);
    }
    if !st.spec.batch {
        st.seq += 1;
        return (Some(tag(st)), Part::Own);
    }
    if *open == Some(s) {
        return (None, Part::Joins);
    }
    *open = Some(s);
    st.seq += 1;
    (Some(tag(st)), Part::Opens)
}

#[path = "outbox_items.rs"]
mod items;

pub(crate) use items::{Item, Key, Shared};

#[path = "outbox_slots.rs"]
mod slots;

pub(crate) use slots::Answer;

#[cfg(test)]
#[path = "outbox_tests.rs"]
mod tests;
