//! Whose position deltas the engine sends, and where a positions snapshot
//! or query comes from. The engine sends position deltas only for
//! accounts in the hub's [`Interest`]: an account enters it when a client
//! first subscribes to its positions (`*`: every account) and stays. The
//! hub keeps no copy of positions: a snapshot or query is an engine cut
//! of the accounts it covers, taken through the ingest thread (a barrier
//! after everything submitted before it).
//!
//! A positions subscription is therefore registered first, its deltas held
//! in the client's queue; then its accounts are resolved and cut; then the
//! snapshot is queued, and the held deltas of changes the cut already
//! holds (seq ≤ the cut's) are dropped while later ones follow it. An
//! account that has no id yet is in the interest by name: its first
//! event's delta is sent, to a subscription registered before it.

use std::sync::Arc;

use kupala_engine::ids::AccountId;
use kupala_engine::interest::Interest;
use kupala_engine::state::{EngineState, PositionState};

use super::Hub;
use crate::auth::Grant;
use crate::fanout::selected;
use crate::outbox::{Answer, Item, SubId, SubTag};
use crate::protocol::{AccountSel, Channel};

impl Hub {
    /// The accounts the engine sends position deltas for (for the
    /// pipeline's configuration).
    #[must_use]
    pub fn interest(&self) -> Arc<Interest> {
        Arc::clone(&self.interest)
    }

    /// Makes the engine send the position deltas of `sel` from now on.
    pub(crate) fn want(&self, sel: &AccountSel) {
        match (sel, self.names.get()) {
            (AccountSel::All, _) => self.interest.want_all(),
            (AccountSel::One(name), Some(names)) => {
                let _ = self.interest.want(name, names);
            }
            (AccountSel::One(_), None) => {}
        }
    }

    /// The ids of the accounts `sel` names now (an account not seen yet
    /// has none, and no positions).
    pub(crate) fn accounts_of(&self, sel: &AccountSel) -> Vec<AccountId> {
        let Some(names) = self.names.get().and_then(|n| n.read().ok()) else {
            return Vec::new();
        };
        match sel {
            AccountSel::All => (0..names.accounts.len())
                .filter_map(|i| u32::try_from(i).ok())
                .map(AccountId)
                .collect(),
            AccountSel::One(name) => names.accounts.get(name).map(AccountId).into_iter().collect(),
        }
    }

    /// The positions of a cut that `grant` may see in `sel`, sorted by ids.
    pub(crate) fn visible(&self, cut: EngineState, grant: &Grant, sel: &AccountSel) -> Vec<PositionState> {
        let Some(names) = self.names.get().and_then(|n| n.read().ok()) else {
            return Vec::new();
        };
        let mut v: Vec<PositionState> = cut
            .positions
            .into_iter()
            .filter(|p| selected(sel, grant, names.account(p.account)))
            .collect();
        v.sort_by_key(|p| (p.account, p.instrument));
        v
    }

    /// Queues a positions subscription's snapshot, a cut at `cut.seq`
    /// taken after the subscription was registered.
    pub(crate) fn positions_into(
        &self,
        answer: Answer,
        grant: &Grant,
        sel: &AccountSel,
        sub: SubId,
        cut: EngineState,
    ) {
        let covers = cut.seq;
        let list = self.visible(cut, grant, sel);
        let tag = SubTag {
            id: answer.id().cloned(),
            channel: Channel::Positions,
            seq: self.seq(),
        };
        answer.snapshot_covering(sub, tag, Item::Positions(list), covers);
    }
}
