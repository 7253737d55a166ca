//! The `history` channel's fan-out: the engine's history thread tells the
//! [`HistoryFeed`] of every new fine point of the P&L history (it is the
//! store's [`HistoryListener`]), and the feed pushes each to the
//! subscriptions of its series, as a distinct update (a point never
//! replaces another, so a client behind by more than its queue holds is
//! closed, never sent a history with a hole).
//!
//! No gap and no repeat between a subscription's snapshot (the stored
//! points from its `from` on, read on the blocking pool) and its deltas:
//!
//! 1. the subscription is registered here, gated (`Outbox::open_sub_later`:
//!    its points wait in its queue), before the store is read;
//! 2. the store tells the feed of a mark's points under the lock that
//!    makes them readable, and a read holds that lock from start to end
//!    (`Store::history`), so each point is either in the read or told
//!    after it, hence to this registered subscription;
//! 3. the snapshot is queued under the feed's lock: the points held until
//!    then that are in it (at or before its newest) are dropped, the
//!    later ones follow it, and the subscription's `from` moves past its
//!    newest point, so a point told later and already in it (told after
//!    the read, e.g. on another core) is not sent again.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rustc_hash::FxHashMap;

use kupala_engine::store::history::{HistoryListener, NewPoint, Series};
use kupala_engine::time::Timestamp;

use crate::client_id::ClientId;
use crate::outbox::{Answer, Item, Key, Outbox, Shared, SubId, SubSpec, SubTag};
use crate::protocol::Channel;

/// A `history` subscription as the feed sees it.
struct Watcher {
    client: ClientId,
    sub: SubId,
    outbox: Arc<Outbox>,
    /// The earliest point it is sent (nanoseconds): its `from`, then past
    /// its snapshot's newest point.
    from: i64,
}

/// The `history` subscriptions by series, and the listener that feeds them.
#[derive(Default)]
pub struct HistoryFeed {
    subs: Mutex<FxHashMap<Series, Vec<Watcher>>>,
    /// A store tells this feed of new points (`Hub::history_listener` was
    /// handed out): without it no point would ever come.
    live: AtomicBool,
}

impl std::fmt::Debug for HistoryFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HistoryFeed").finish_non_exhaustive()
    }
}

/// What a `history` subscription's snapshot holds: its `data` text, and
/// the time of its newest point (`None`: it has none).
pub(crate) struct Backfill {
    /// The `data` JSON (the series and its points).
    pub text: String,
    /// The newest point's time.
    pub newest: Option<Timestamp>,
}

impl HistoryListener for HistoryFeed {
    fn points(&self, points: &[NewPoint]) {
        let subs = self.lock();
        if subs.is_empty() {
            return;
        }
        let now = Instant::now();
        for p in points {
            let Some(list) = subs.get(&*p.series) else {
                continue;
            };
            let at = p.point.at.0;
            let mut shared = None;
            for w in list.iter().filter(|w| at >= w.from) {
                let s = shared.get_or_insert_with(|| Shared::new(p.clone(), false));
                let item = Item::HistoryPoint(Arc::clone(s));
                w.outbox.push(Key::History(w.sub, at), item, 0, now);
            }
        }
    }
}

impl HistoryFeed {
    /// Notes that a store tells this feed of new points.
    pub(crate) fn go_live(&self) {
        self.live.store(true, Ordering::Release);
    }

    /// Whether a store tells this feed of new points (the server samples
    /// the P&L history).
    pub(crate) fn is_live(&self) -> bool {
        self.live.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, FxHashMap<Series, Vec<Watcher>>> {
        self.subs
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a subscription to `series` from `from` (none: only new
    /// points) and reserves its snapshot's place in the answer order; its
    /// points wait in the queue until [`HistoryFeed::fill`].
    pub(crate) fn subscribe_later(
        &self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        sub: SubId,
        series: &Series,
        from: Option<Timestamp>,
        spec: SubSpec,
    ) -> Answer {
        let mut subs = self.lock();
        let answer = outbox.open_sub_later(sub, spec);
        subs.entry(series.clone()).or_default().push(Watcher {
            client,
            sub,
            outbox: Arc::clone(outbox),
            from: from.map_or(i64::MIN, |t| t.0),
        });
        answer
    }

    /// Queues the snapshot of a subscription opened with
    /// [`HistoryFeed::subscribe_later`] (ended meanwhile or not), its
    /// `seq` starting at `seq`, and moves the subscription past the
    /// snapshot's newest point, under the feed's lock.
    pub(crate) fn fill(
        &self,
        client: ClientId,
        answer: Answer,
        sub: SubId,
        series: &Series,
        seq: u64,
        backfill: Backfill,
    ) {
        let mut subs = self.lock();
        let newest = backfill.newest.map(|t| t.0);
        if let (Some(n), Some(list)) = (newest, subs.get_mut(series)) {
            for w in list.iter_mut().filter(|w| w.client == client && w.sub == sub) {
                w.from = w.from.max(n.saturating_add(1));
            }
        }
        let tag = SubTag {
            id: answer.id().cloned(),
            channel: Channel::History,
            seq,
        };
        answer.snapshot_after(sub, tag, Item::HistoryNow(backfill.text), newest);
    }

    /// Forgets one subscription.
    pub(crate) fn unsubscribe(&self, client: ClientId, sub: SubId) {
        self.remove(|w| w.client == client && w.sub == sub);
    }

    /// Forgets a connection's subscriptions.
    pub(crate) fn unregister(&self, client: ClientId) {
        self.remove(|w| w.client == client);
    }

    fn remove(&self, pred: impl Fn(&Watcher) -> bool) {
        let mut subs = self.lock();
        for list in subs.values_mut() {
            list.retain(|w| !pred(w));
        }
        subs.retain(|_, l| !l.is_empty());
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use kupala_engine::history::PnlPoint;
    use kupala_engine::num::Notional;
    use kupala_engine::store::history::StoredPoint;

    use super::*;
    use crate::metrics::Metrics;
    use crate::outbox::Popped;

    fn spec() -> SubSpec {
        SubSpec {
            id: None,
            channel: Channel::History,
            start_seq: 0,
            interval: None,
            min_change: None,
            batch: false,
        }
    }

    fn point(series: &Arc<Series>, at: i64) -> NewPoint {
        NewPoint {
            series: Arc::clone(series),
            point: StoredPoint {
                at: Timestamp(at),
                seq: at.cast_unsigned(),
                pnl: PnlPoint {
                    net_pnl: Notional(i128::from(at)),
                    day_pnl: Notional(0),
                },
            },
        }
    }

    /// What the queue sends now: `(seq, Some(point time))` per delta,
    /// `(seq, None)` for the snapshot.
    fn sent(o: &Outbox) -> Vec<(u64, Option<i64>)> {
        let mut out = Vec::new();
        let _ = o.pop(100, Instant::now(), &mut out);
        out.iter()
            .map(|x| {
                let seq = x.tag.as_ref().map_or(u64::MAX, |t| t.seq);
                match &x.item {
                    Item::HistoryPoint(p) => (seq, Some(p.value.point.at.0)),
                    _ => (seq, None),
                }
            })
            .collect()
    }

    #[test]
    fn the_snapshot_and_the_points_told_around_it_join_without_gap_or_repeat() {
        let feed = HistoryFeed::default();
        let o = Arc::new(Outbox::new(
            100,
            Duration::from_secs(60),
            Arc::new(Metrics::default()),
        ));
        let a1 = Arc::new(Series::Account("A1".into()));
        let b2 = Arc::new(Series::Account("B2".into()));
        let (client, sub) = (ClientId(1), 7);
        let answer = feed.subscribe_later(client, &o, sub, &a1, Some(Timestamp(2)), spec());
        // Told while the store is read: before `from`, in the read (2, 3),
        // after it (4), and another series'.
        feed.points(&[point(&a1, 1), point(&a1, 2), point(&b2, 3)]);
        feed.points(&[point(&a1, 3)]);
        feed.points(&[point(&a1, 4)]);
        assert_eq!(sent(&o), [], "nothing before the snapshot");
        let backfill = Backfill {
            text: "{}".into(),
            newest: Some(Timestamp(3)),
        };
        feed.fill(client, answer, sub, &a1, 50, backfill);
        // Told after the snapshot: one already in it (3), then a new one.
        feed.points(&[point(&a1, 3), point(&a1, 5)]);
        assert_eq!(sent(&o), [(50, None), (51, Some(4)), (52, Some(5))]);
        feed.unsubscribe(client, sub);
        o.close_sub(sub);
        feed.points(&[point(&a1, 6)]);
        assert_eq!(sent(&o), [], "nothing after the unsubscribe");
    }

    #[test]
    fn points_are_never_conflated_a_client_behind_its_queue_is_closed() {
        let feed = HistoryFeed::default();
        let o = Arc::new(Outbox::new(
            4,
            Duration::from_secs(60),
            Arc::new(Metrics::default()),
        ));
        let firm = Arc::new(Series::Firm);
        let answer = feed.subscribe_later(ClientId(1), &o, 1, &firm, None, spec());
        let empty = Backfill {
            text: "{}".into(),
            newest: None,
        };
        feed.fill(ClientId(1), answer, 1, &firm, 0, empty);
        feed.points(&[point(&firm, 1), point(&firm, 2), point(&firm, 3)]);
        assert_eq!(o.len(), 4, "the snapshot and three points, none merged");
        feed.points(&[point(&firm, 4)]);
        let r = o.pop(10, Instant::now(), &mut Vec::new());
        assert_eq!(r, Popped::Closed(crate::protocol::CloseReason::Overflow));
    }

    #[test]
    fn a_live_subscription_keeps_every_point_told_before_its_snapshot() {
        let feed = HistoryFeed::default();
        let o = Arc::new(Outbox::new(
            100,
            Duration::from_secs(60),
            Arc::new(Metrics::default()),
        ));
        let firm = Arc::new(Series::Firm);
        let answer = feed.subscribe_later(ClientId(1), &o, 1, &firm, None, spec());
        feed.points(&[point(&firm, -5), point(&firm, 8)]);
        let empty = Backfill {
            text: "{}".into(),
            newest: None,
        };
        feed.fill(ClientId(1), answer, 1, &firm, 9, empty);
        feed.points(&[point(&firm, 9)]);
        assert_eq!(
            sent(&o),
            [(9, None), (10, Some(-5)), (11, Some(8)), (12, Some(9))]
        );
        feed.unregister(ClientId(1));
        assert!(feed.lock().is_empty(), "unregister forgets the connection");
        assert!(matches!(
            o.pop(1, Instant::now(), &mut Vec::new()),
            Popped::Idle(_)
        ));
    }
}
