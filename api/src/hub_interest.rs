//! Which accounts' positions the hub's view holds, and how an account
//! enters it. The engine sends position deltas only for accounts in the
//! hub's [`Interest`]; an account enters when a client first subscribes to
//! or queries its positions (`*`: every account), and then stays.
//!
//! Entering takes three steps: the account is added to the interest (the
//! engine's next flush includes it), a cut of its positions is taken
//! through the ingest thread (a barrier after everything submitted so
//! far), and the cut is installed in the view, where per key the newer of
//! the cut and any delta that raced it wins, and entries older than the
//! cut that it no longer holds are dropped. Only then is the account
//! *ready*: a snapshot or query of it reads the view. A subscription
//! opened meanwhile holds its deltas until its snapshot (`subscribe_later`),
//! so nothing is lost or sent twice.

use rustc_hash::FxHashSet;

use kupala_engine::ids::AccountId;
use kupala_engine::interest::Interest;
use kupala_engine::state::EngineState;

use super::Hub;
use crate::protocol::AccountSel;
use std::sync::Arc;

/// The accounts whose positions the view holds complete.
#[derive(Default)]
pub(super) struct Ready {
    all: bool,
    names: FxHashSet<String>,
}

impl Ready {
    fn covers(&self, sel: &AccountSel) -> bool {
        match sel {
            AccountSel::All => self.all,
            AccountSel::One(name) => self.all || self.names.contains(name),
        }
    }
}

/// What wanting a selection's positions takes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Wanting {
    /// The view already holds them.
    Ready,
    /// A cut of these accounts must be installed first
    /// ([`Hub::install`]).
    Load(Vec<AccountId>),
}

impl Hub {
    /// The accounts the engine sends position deltas for (for the
    /// pipeline's configuration).
    #[must_use]
    pub fn interest(&self) -> Arc<Interest> {
        Arc::clone(&self.interest)
    }

    /// Makes the engine send the positions of `sel` from now on; whether
    /// the view holds them already, or which accounts' cut it needs. An
    /// account that has no id yet has no positions: it is ready at once,
    /// its first event's delta is wanted.
    pub(crate) fn want(&self, sel: &AccountSel) -> Wanting {
        if self.lock().ready.covers(sel) {
            return Wanting::Ready;
        }
        let Some(names) = self.names.get() else {
            // Not serving yet: there is nothing to load.
            return Wanting::Ready;
        };
        match sel {
            AccountSel::All => {
                self.interest.want_all();
                let known = names.read().map_or(0, |n| n.accounts.len());
                Wanting::Load(
                    (0..known)
                        .filter_map(|i| u32::try_from(i).ok())
                        .map(AccountId)
                        .collect(),
                )
            }
            AccountSel::One(name) => match self.interest.want(name, names) {
                Some(id) => Wanting::Load(vec![id]),
                None => {
                    self.lock().ready.names.insert(name.clone());
                    Wanting::Ready
                }
            },
        }
    }

    /// Installs a cut of `accounts` taken after [`Hub::want`] asked for
    /// them, and marks `sel` ready.
    pub(crate) fn install(&self, sel: &AccountSel, accounts: &[AccountId], cut: &EngineState) {
        let mut guard = self.lock();
        let st = &mut *guard;
        for &a in accounts {
            st.positions.drop_older(a, cut.seq);
        }
        for p in &cut.positions {
            st.positions.update(p, false);
        }
        match sel {
            AccountSel::All => st.ready.all = true,
            AccountSel::One(name) => {
                st.ready.names.insert(name.clone());
            }
        }
    }
}
