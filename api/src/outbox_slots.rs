//! Answers in request order: the reply-slot queue of a client's outbox.
//!
//! Every answer (a reply or a snapshot) takes the next slot, in the order
//! the session handles the requests, which is the order they arrived. An
//! answer ready at once fills its slot at once; one that waits (an ack for
//! the fsync, a store query, a read waiting for read-your-writes) reserves
//! an empty slot, an [`Answer`], that the task doing the work fills. The
//! filled prefix of the queue is released into the send order; the rest
//! waits behind the first empty slot. When nothing waits (the usual case)
//! an answer goes straight into the send order, as a delta does.
//!
//! Deltas never wait in slots; but a subscription whose snapshot is held
//! (or not yet taken) is gated: its deltas wait, conflated, in its `held`
//! list and follow the snapshot when it is released. Held answers count
//! toward `max_pending` like any queued update; the session bounds the
//! requests awaiting their answer with `max_inflight`.

use std::sync::Arc;
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde_json::Value;

use super::{Inner, Item, Key, Outbox, Pending, SubId, SubSpec, SubState, SubTag};
use crate::protocol::{ErrorCode, error_json};

/// One place in the answer order.
#[derive(Debug)]
pub(super) struct Slot {
    /// The queued answer, once ready.
    key: Option<Key>,
    /// The answer to a request (not a `progress` notice).
    request: bool,
}

/// An answer reserved in request order, filled by the task that does the
/// work. Dropped unfilled (a task aborted or lost), it answers `internal`,
/// so the answers behind it are never held for ever.
#[derive(Debug)]
pub(crate) struct Answer {
    outbox: Arc<Outbox>,
    ticket: u64,
    id: Option<Value>,
    done: bool,
}

impl Answer {
    /// The request's id.
    pub(crate) fn id(&self) -> Option<&Value> {
        self.id.as_ref()
    }

    /// The answer's place in the connection's answer order.
    pub(crate) const fn ticket(&self) -> u64 {
        self.ticket
    }

    /// Fills the slot with a rendered reply (ack, result, error).
    pub(crate) fn send(mut self, text: String) {
        self.done = true;
        self.outbox.fill_reply(self.ticket, text);
    }

    /// Fills the slot with the snapshot of subscription `sub` (opened
    /// with [`Outbox::open_sub_later`]); its deltas queued meanwhile are
    /// dropped (the snapshot covers them) and its seqs restart at
    /// `tag.seq`. Called under the lock the subscription's deltas are
    /// pushed under.
    pub(crate) fn snapshot(mut self, sub: SubId, tag: SubTag, snapshot: Item) {
        self.done = true;
        self.outbox
            .fill_snapshot(self.ticket, sub, tag, snapshot, &|_, _| false);
    }

    /// Like [`Answer::snapshot`] for a snapshot that is an engine cut at
    /// journal seq `covers`, taken while its deltas were already queued:
    /// those of changes up to `covers` are in it and dropped; later ones
    /// stay, to follow it.
    pub(crate) fn snapshot_covering(mut self, sub: SubId, tag: SubTag, snapshot: Item, covers: u64) {
        self.done = true;
        let later = |_: Key, item: &Item| item.change_seq().is_some_and(|s| s > covers);
        self.outbox.fill_snapshot(self.ticket, sub, tag, snapshot, &later);
    }

    /// Like [`Answer::snapshot`] for a `history` snapshot whose newest
    /// point is at `newest` (`None`: it has none): the points queued
    /// meanwhile up to it are in it and dropped; later ones stay, to
    /// follow it.
    pub(crate) fn snapshot_after(mut self, sub: SubId, tag: SubTag, snapshot: Item, newest: Option<i64>) {
        self.done = true;
        let later = |key: Key, _: &Item| match key {
            Key::History(_, at) => newest.is_none_or(|n| at > n),
            _ => false,
        };
        self.outbox.fill_snapshot(self.ticket, sub, tag, snapshot, &later);
    }
}

impl Drop for Answer {
    fn drop(&mut self) {
        if !self.done {
            let text = error_json(self.id.as_ref(), ErrorCode::Internal, "the answer was lost");
            self.outbox.fill_reply(self.ticket, text);
        }
    }
}

impl Outbox {
    /// Requests whose answer is reserved or held behind an earlier one.
    pub(crate) fn awaiting(&self) -> usize {
        self.lock().awaiting
    }

    /// Whether the answer at `ticket` (and every one before) was released.
    pub(crate) fn released(&self, ticket: u64) -> bool {
        *self.released.borrow() > ticket
    }

    /// Waits until the answer at `ticket` (and every one before) was
    /// released (or the queue closed).
    pub(crate) async fn wait_released(&self, ticket: u64) {
        let mut rx = self.released.subscribe();
        let _ = rx.wait_for(|&b| b > ticket).await;
    }

    /// Reserves the next answer, for a request answered later.
    pub(crate) fn reserve(self: &Arc<Self>, id: Option<&Value>) -> Answer {
        let mut g = self.lock();
        Answer {
            outbox: Arc::clone(self),
            ticket: reserve_slot(&mut g),
            id: id.cloned(),
            done: false,
        }
    }

    /// Queues the answer to a request (ack, result, error), after the
    /// answers to earlier requests.
    pub(crate) fn reply(&self, text: String) {
        self.queue_reply(text, true);
    }

    /// Queues a message that answers no request (an analysis job's
    /// `progress`): after the answers already queued, but not counted as
    /// awaiting.
    pub(crate) fn notice(&self, text: String) {
        self.queue_reply(text, false);
    }

    fn queue_reply(&self, text: String, request: bool) {
        let now = Instant::now();
        let mut g = self.lock();
        if g.closed.is_some() {
            return;
        }
        let key = Key::Reply(g.next_reply);
        g.next_reply += 1;
        let p = Pending::new(Item::Reply(text), 0);
        if g.slots.is_empty() {
            self.enqueue(&mut g, key, p, now);
        } else {
            hold(&mut g, key, p, request);
            self.check_bounds(&mut g, now);
        }
    }

    /// Registers a subscription and queues its snapshot, the answer to the
    /// subscribe. Called under the lock its deltas are pushed under, so no
    /// delta of the subscription precedes it.
    pub(crate) fn open_sub(&self, sub: SubId, spec: SubSpec, snapshot: Item) {
        let now = Instant::now();
        let mut g = self.lock();
        if g.closed.is_some() {
            return;
        }
        let gated = !g.slots.is_empty();
        let tag = SubTag {
            id: spec.id.clone(),
            channel: spec.channel,
            seq: spec.start_seq,
        };
        let last = if spec.min_change.is_some() {
            snapshot.baselines(sub).into_iter().collect()
        } else {
            FxHashMap::default()
        };
        g.subs.insert(sub, sub_state(spec, gated, last, now));
        let pending = Pending {
            tag: Some(tag),
            ..Pending::new(snapshot, 0)
        };
        if gated {
            hold(&mut g, Key::Snapshot(sub), pending, true);
            self.check_bounds(&mut g, now);
        } else {
            self.enqueue(&mut g, Key::Snapshot(sub), pending, now);
        }
    }

    /// Registers a subscription whose snapshot is taken later (after the
    /// answers it must reflect): its answer is reserved now, in order, and
    /// its deltas wait until [`Answer::snapshot`] fills it.
    pub(crate) fn open_sub_later(self: &Arc<Self>, sub: SubId, spec: SubSpec) -> Answer {
        let mut g = self.lock();
        let id = spec.id.clone();
        if g.closed.is_none() {
            g.subs
                .insert(sub, sub_state(spec, true, FxHashMap::default(), Instant::now()));
        }
        Answer {
            outbox: Arc::clone(self),
            ticket: reserve_slot(&mut g),
            id,
            done: false,
        }
    }

    /// Whether subscription `sub` is still open in this queue.
    pub(crate) fn has_sub(&self, sub: SubId) -> bool {
        self.lock().subs.contains_key(&sub)
    }

    /// Forgets a subscription and drops its waiting deltas. Its snapshot,
    /// if still waiting, stays: it answers the subscribe request, and every
    /// request gets its answer, in order (a subscribe replaced or ended by
    /// the next request, before the snapshot was written, included).
    pub(crate) fn close_sub(&self, sub: SubId) {
        let mut g = self.lock();
        if g.subs.remove(&sub).is_some() {
            g.pending
                .retain(|&k, _| k.sub() != Some(sub) || k == Key::Snapshot(sub));
        }
    }

    fn fill_reply(&self, ticket: u64, text: String) {
        let mut g = self.lock();
        if g.closed.is_some() {
            return;
        }
        let key = Key::Reply(g.next_reply);
        g.next_reply += 1;
        self.fill(&mut g, ticket, key, Pending::new(Item::Reply(text), 0));
    }

    /// Fills a snapshot's slot; of the deltas held meanwhile, those for
    /// which `later` holds stay to follow it, the others are in it.
    fn fill_snapshot(
        &self,
        ticket: u64,
        sub: SubId,
        tag: SubTag,
        snapshot: Item,
        later: &dyn Fn(Key, &Item) -> bool,
    ) {
        let mut g = self.lock();
        let inner = &mut *g;
        if inner.closed.is_some() {
            return;
        }
        if let Some(st) = inner.subs.get_mut(&sub) {
            // Deltas pushed before the snapshot was taken are in it (all of
            // them, or those up to the cut's seq or the newest point); a
            // held delta is its key's latest change.
            let pending = &mut inner.pending;
            st.held.retain(|&k| {
                let keep = pending.get(&k).is_some_and(|p| later(k, &p.item));
                if !keep {
                    pending.remove(&k);
                }
                keep
            });
            st.seq = tag.seq;
            if st.spec.min_change.is_some() {
                st.last = snapshot.baselines(sub).into_iter().collect();
            }
        }
        let pending = Pending {
            tag: Some(tag),
            ..Pending::new(snapshot, 0)
        };
        self.fill(&mut g, ticket, Key::Snapshot(sub), pending);
    }

    /// Puts a ready answer in its slot and releases the filled prefix.
    fn fill(&self, g: &mut Inner, ticket: u64, key: Key, p: Pending) {
        let now = Instant::now();
        let slot = ticket
            .checked_sub(g.base)
            .and_then(|i| usize::try_from(i).ok())
            .and_then(|i| g.slots.get_mut(i));
        let Some(slot) = slot.filter(|s| s.key.is_none()) else {
            return;
        };
        slot.key = Some(key);
        g.pending.insert(key, p);
        let mut moved = false;
        while let Some(Slot {
            key: Some(key),
            request,
        }) = g.slots.front()
        {
            let (key, request) = (*key, *request);
            g.slots.pop_front();
            g.base += 1;
            if request {
                g.awaiting = g.awaiting.saturating_sub(1);
            }
            if g.order.is_empty() {
                g.stalled_since = now;
            }
            g.order.push_back(key);
            if let Key::Snapshot(sub) = key
                && let Some(st) = g.subs.get_mut(&sub)
            {
                st.gated = false;
                if st.spec.interval.is_none() {
                    g.order.extend(st.held.drain(..));
                }
            }
            moved = true;
        }
        if moved {
            self.released.send_replace(g.base);
            self.notify.notify_one();
        }
        self.check_bounds(g, now);
    }
}

fn reserve_slot(g: &mut Inner) -> u64 {
    let ticket = g.base + g.slots.len() as u64;
    g.slots.push_back(Slot {
        key: None,
        request: true,
    });
    g.awaiting += 1;
    ticket
}

/// Queues a ready answer behind the ones that wait.
fn hold(g: &mut Inner, key: Key, p: Pending, request: bool) {
    g.pending.insert(key, p);
    g.slots.push_back(Slot {
        key: Some(key),
        request,
    });
    if request {
        g.awaiting += 1;
    }
}

fn sub_state(spec: SubSpec, gated: bool, last: FxHashMap<Key, (i64, i128)>, now: Instant) -> SubState {
    let seq = spec.start_seq;
    SubState {
        spec,
        gated,
        seq,
        last_flush: now,
        held: Vec::new(),
        last,
    }
}
