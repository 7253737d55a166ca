//! Which accounts' position states a pipeline's sink wants. A flush builds
//! a position's full state (and ships it as a delta) only for these
//! accounts; the account totals always go out. A server with clients
//! watching a few accounts then pays for those, not for the whole book.
//!
//! Interest only grows (a server adds an account when a client first
//! subscribes to or queries it; `*` wants them all): a view that was
//! complete for an account stays complete. The shards read it once per
//! flush through a version counter, so the hot path sees a plain bitset.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};

use rustc_hash::FxHashSet;

use crate::ids::{AccountId, NameKind, Names, NewName};

/// The accounts wanted, shared by the server and every shard.
#[derive(Debug)]
pub struct Interest {
    /// Bumped on every change; a shard refreshes its copy when it moved.
    version: AtomicU64,
    set: Mutex<Wanted>,
}

/// What is wanted: every account, or these ids (and these names, once
/// they get an id).
#[derive(Clone, Debug, Default)]
struct Wanted {
    all: bool,
    bits: Vec<u64>,
    pending: FxHashSet<String>,
}

impl Wanted {
    fn set(&mut self, id: AccountId) {
        let (word, bit) = (id.index() / 64, id.index() % 64);
        if self.bits.len() <= word {
            self.bits.resize(word + 1, 0);
        }
        self.bits[word] |= 1 << bit;
    }
}

impl Default for Interest {
    /// Every account: what `calc`, `replay` and an embedded pipeline want.
    fn default() -> Self {
        Self::with(Wanted {
            all: true,
            ..Wanted::default()
        })
    }
}

impl Interest {
    /// No account yet: a server's start, before any client asked.
    #[must_use]
    pub fn none() -> Self {
        Self::with(Wanted::default())
    }

    fn with(set: Wanted) -> Self {
        Self {
            version: AtomicU64::new(1),
            set: Mutex::new(set),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Wanted> {
        self.set.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Wants every account from now on.
    pub fn want_all(&self) {
        let mut set = self.lock();
        if !set.all {
            set.all = true;
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// Wants the account named `name` from now on; its id, if it has one
    /// in `names` (an account not yet seen is wanted from its first
    /// event). Under the same lock the sequencer uses to report new
    /// accounts, so a name is never missed between the two.
    pub fn want(&self, name: &str, names: &std::sync::RwLock<Names>) -> Option<AccountId> {
        let mut set = self.lock();
        let id = names
            .read()
            .ok()
            .and_then(|n| n.accounts.get(name))
            .map(AccountId);
        match id {
            Some(id) => set.set(id),
            None => {
                set.pending.insert(name.to_owned());
            }
        }
        self.version.fetch_add(1, Ordering::Release);
        id
    }

    /// Called by the pipeline with the names it just made known (after
    /// they are visible in its shared names, before their ops reach a
    /// shard): a wanted name gets its id's bit.
    pub(crate) fn added(&self, names: &[NewName]) {
        let accounts = names.iter().filter(|n| n.kind == NameKind::Account);
        let mut set = self.lock();
        if set.pending.is_empty() {
            return;
        }
        let mut changed = false;
        for n in accounts {
            if set.pending.remove(&n.name) {
                set.set(AccountId(n.id));
                changed = true;
            }
        }
        if changed {
            self.version.fetch_add(1, Ordering::Release);
        }
    }

    /// The version the wanted set is at (changes on every addition).
    #[must_use]
    pub fn version(&self) -> u64 {
        self.version.load(Ordering::Acquire)
    }

    /// A copy for a shard's flushes.
    #[must_use]
    pub fn view(&self) -> InterestView {
        let version = self.version();
        let set = self.lock();
        InterestView {
            version,
            all: set.all,
            bits: set.bits.clone(),
        }
    }
}

/// A shard's copy of [`Interest`], refreshed when its version moves.
#[derive(Clone, Debug)]
pub struct InterestView {
    version: u64,
    all: bool,
    bits: Vec<u64>,
}

impl Default for InterestView {
    fn default() -> Self {
        Self {
            version: 0,
            all: true,
            bits: Vec::new(),
        }
    }
}

impl InterestView {
    /// Takes `source`'s current set if it changed since this copy.
    pub fn refresh(&mut self, source: &Interest) {
        if source.version() != self.version {
            *self = source.view();
        }
    }

    /// Whether the account's position states are wanted.
    #[inline]
    #[must_use]
    pub fn wants(&self, account: AccountId) -> bool {
        self.all
            || self
                .bits
                .get(account.index() / 64)
                .is_some_and(|w| w & (1 << (account.index() % 64)) != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::RwLock;

    fn new_account(id: u32, name: &str) -> NewName {
        NewName {
            kind: NameKind::Account,
            id,
            name: name.to_owned(),
        }
    }

    #[test]
    fn wants_named_accounts_now_or_from_their_first_event() {
        let names = RwLock::new(Names::default());
        if let Ok(mut n) = names.write() {
            n.accounts.intern("A0");
            n.accounts.intern("A1");
        }
        let i = Interest::none();
        let mut view = InterestView::default();
        view.refresh(&i);
        assert!(!view.wants(AccountId(1)));
        assert_eq!(i.want("A1", &names), Some(AccountId(1)));
        assert_eq!(i.want("LATER", &names), None);
        view.refresh(&i);
        assert!(view.wants(AccountId(1)) && !view.wants(AccountId(0)));
        // An account first seen later gets its bit when it is reported.
        i.added(&[new_account(70, "LATER"), new_account(71, "OTHER")]);
        view.refresh(&i);
        assert!(view.wants(AccountId(70)) && !view.wants(AccountId(71)));
        i.want_all();
        view.refresh(&i);
        assert!(view.wants(AccountId(0)) && view.wants(AccountId(5000)));
        assert!(
            InterestView::default().wants(AccountId(3)),
            "the default wants all"
        );
        let mut every = InterestView::default();
        every.refresh(&Interest::default());
        assert!(every.wants(AccountId(9)));
    }
}
