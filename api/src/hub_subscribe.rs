//! Subscribing in the hub: a snapshot taken and the subscription
//! registered under the publisher's lock, so that the subscriber gets
//! every change after its snapshot exactly once — now, or later for a
//! subscribe whose snapshot must wait for earlier answers (read-your-writes
//! behind a pipelined submit's ack).

use std::sync::Arc;

use kupala_engine::ids::Names;

use super::{ClientId, Hub, State};
use crate::auth::Grant;
use crate::fanout::{SubRef, selected};
use crate::outbox::{Answer, Item, Outbox, SubId, SubSpec, SubTag};
use crate::protocol::{AccountSel, Channel, Target};

impl Hub {
    /// Takes the snapshot of `target` (filtered by `grant`), queues it and
    /// registers the subscription, all under the publisher's lock. The
    /// caller has checked that `grant` allows an explicitly named account.
    pub(crate) fn subscribe(
        &self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        grant: &Arc<Grant>,
        sub: SubId,
        target: &Target,
        mut spec: SubSpec,
    ) {
        let mut guard = self.lock();
        let st = &mut *guard;
        let names = self.names.get().and_then(|n| n.read().ok());
        let Some(snapshot) = snapshot(st, names.as_deref(), target, grant) else {
            return; // `analysis` and `history` are served elsewhere
        };
        drop(names);
        spec.start_seq = st.seq;
        outbox.open_sub(sub, spec, snapshot);
        register(st, client, outbox, grant, sub, target);
    }

    /// Registers a subscription now and reserves its snapshot's place in
    /// the answer order; [`Hub::snapshot_into`] takes the snapshot later.
    /// Deltas from now on wait in the client's queue until then.
    pub(crate) fn subscribe_later(
        &self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        grant: &Arc<Grant>,
        sub: SubId,
        target: &Target,
        spec: SubSpec,
    ) -> Answer {
        let mut st = self.lock();
        let answer = outbox.open_sub_later(sub, spec);
        register(&mut st, client, outbox, grant, sub, target);
        answer
    }

    /// Takes the snapshot of a subscription opened with
    /// [`Hub::subscribe_later`] (ended meanwhile or not) and fills its
    /// answer, under the publisher's lock.
    pub(crate) fn snapshot_into(
        &self,
        answer: Answer,
        grant: &Grant,
        target: &Target,
        sub: SubId,
        channel: Channel,
    ) {
        let st = self.lock();
        let names = self.names.get().and_then(|n| n.read().ok());
        let snapshot = snapshot(&st, names.as_deref(), target, grant);
        drop(names);
        let tag = SubTag {
            id: answer.id().cloned(),
            channel,
            seq: st.seq,
        };
        answer.snapshot(sub, tag, snapshot.unwrap_or(Item::Ticks(None)));
    }

    /// Removes one subscription (its queued updates are dropped).
    pub(crate) fn unsubscribe(&self, client: ClientId, outbox: &Outbox, sub: SubId) {
        let mut guard = self.lock();
        let st = &mut *guard;
        for subs in [
            &mut st.position_subs,
            &mut st.portfolio_subs,
            &mut st.book_subs,
            &mut st.tick_subs,
        ] {
            subs.remove(|r| r.client == client && r.sub == sub);
        }
        st.firm_subs.retain(|r| !(r.client == client && r.sub == sub));
        drop(guard);
        self.history.unsubscribe(client, sub);
        outbox.close_sub(sub);
    }
}

/// The snapshot of `target` for `grant` (none for `analysis`).
fn snapshot(st: &State, names: Option<&Names>, target: &Target, grant: &Grant) -> Option<Item> {
    let shown = |account| names.is_some_and(|n| selected_by(n, account, target, grant));
    Some(match target {
        // Positions snapshots are engine cuts (`Hub::positions_into`).
        Target::Positions(_) => Item::Positions(Vec::new()),
        Target::Portfolio(_) => Item::Portfolios(
            st.portfolios
                .values()
                .filter(|p| shown(p.account))
                .cloned()
                .collect(),
        ),
        Target::Books(_) => Item::Books(
            super::books::book_states(st)
                .filter(|b| shown(b.totals.account))
                .collect(),
        ),
        Target::Firm => Item::FirmNow(st.firm.clone()),
        Target::Ticks(inst) => Item::Ticks(st.ticks.get(inst).cloned()),
        // Served by `HistoryFeed` and `crate::analysis`.
        Target::Analysis | Target::History(_) => return None,
    })
}

fn selected_by(
    names: &Names,
    account: kupala_engine::ids::AccountId,
    target: &Target,
    grant: &Grant,
) -> bool {
    match target {
        Target::Positions(sel) | Target::Portfolio(sel) | Target::Books(sel) => {
            selected(sel, grant, names.account(account))
        }
        Target::Ticks(_) | Target::Analysis | Target::Firm | Target::History(_) => false,
    }
}

/// Adds the subscription to the fan-out lists.
fn register(
    st: &mut State,
    client: ClientId,
    outbox: &Arc<Outbox>,
    grant: &Arc<Grant>,
    sub: SubId,
    target: &Target,
) {
    let r = SubRef {
        client,
        sub,
        outbox: Arc::clone(outbox),
        grant: Arc::clone(grant),
    };
    let (subs, key) = match target {
        Target::Positions(sel) => (&mut st.position_subs, sel),
        Target::Portfolio(sel) => (&mut st.portfolio_subs, sel),
        Target::Books(sel) => (&mut st.book_subs, sel),
        Target::Firm => {
            st.firm_subs.push(r);
            return;
        }
        Target::Analysis | Target::History(_) => return,
        Target::Ticks(inst) => {
            st.tick_subs.by_key.entry(inst.clone()).or_default().push(r);
            return;
        }
    };
    match key {
        AccountSel::All => subs.all.push(r),
        AccountSel::One(a) => subs.by_key.entry(a.clone()).or_default().push(r),
    }
}
