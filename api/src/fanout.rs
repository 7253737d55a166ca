//! The subscriber lists the hub fans out to: per channel, subscriptions
//! by key (account name, or instrument for ticks) and the `"*"` ones, each
//! with the client's queue and grant, so a change of an account reaches
//! exactly the subscriptions allowed to see it.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::auth::Grant;
use crate::client_id::ClientId;
use crate::outbox::{Outbox, SubId};
use crate::protocol::AccountSel;

/// A subscription as the hub sees it.
pub(crate) struct SubRef {
    pub client: ClientId,
    pub sub: SubId,
    pub outbox: Arc<Outbox>,
    pub grant: Arc<Grant>,
}

#[derive(Default)]
pub(crate) struct Subs {
    pub by_key: FxHashMap<String, Vec<SubRef>>,
    pub all: Vec<SubRef>,
}

impl Subs {
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty() && self.all.is_empty()
    }

    /// Every subscription that should see a change of `account`.
    pub(crate) fn matching<'a>(&'a self, account: &'a str) -> impl Iterator<Item = &'a SubRef> + 'a {
        let direct = self.by_key.get(account).into_iter().flatten();
        direct.chain(self.all.iter().filter(move |r| r.grant.allows(account)))
    }

    pub(crate) fn remove(&mut self, pred: impl Fn(&SubRef) -> bool) {
        self.all.retain(|r| !pred(r));
        for list in self.by_key.values_mut() {
            list.retain(|r| !pred(r));
        }
        self.by_key.retain(|_, l| !l.is_empty());
    }
}

/// True when a selection covers `account` and the grant allows it.
pub(crate) fn selected(sel: &AccountSel, grant: &Grant, account: &str) -> bool {
    match sel {
        AccountSel::All => grant.allows(account),
        AccountSel::One(a) => a == account && grant.allows(account),
    }
}
