//! Books: a trade's `strategy` makes it part of the book (account,
//! strategy); trades without one are in the account's default book. A
//! position is keyed by (book, instrument), and totals exist per book, per
//! account (the sum of its books) and for the firm.
//!
//! Books are numbered densely in order of first trade, by the sequencer,
//! so every shard and every replay agrees on the numbers; the journal does
//! not record them (a replay derives them again from each trade's account
//! and strategy) and a snapshot does.

use rustc_hash::FxHashMap;

use crate::ids::{AccountId, BookId, StrategyId};

/// What a book is: an account and an optional strategy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BookKey {
    /// The account.
    pub account: AccountId,
    /// The strategy (`None`: the account's default book).
    pub strategy: Option<StrategyId>,
}

/// Every book with its id, both ways.
#[derive(Clone, Debug, Default)]
pub struct BookTable {
    keys: Vec<BookKey>,
    ids: FxHashMap<BookKey, BookId>,
}

impl BookTable {
    /// The id of `key`, numbering it next if it is new; the flag says
    /// whether it is.
    pub fn intern(&mut self, key: BookKey) -> (BookId, bool) {
        if let Some(&id) = self.ids.get(&key) {
            return (id, false);
        }
        let id = BookId::from_index(self.keys.len());
        self.keys.push(key);
        self.ids.insert(key, id);
        (id, true)
    }

    /// The id of `key`, if it exists.
    #[must_use]
    pub fn get(&self, key: BookKey) -> Option<BookId> {
        self.ids.get(&key).copied()
    }

    /// What book `id` is (`None` for an id never handed out).
    #[must_use]
    pub fn key(&self, id: BookId) -> Option<BookKey> {
        self.keys.get(id.index()).copied()
    }

    /// The account of book `id` (account 0 for an unknown id: only ids the
    /// table handed out reach here).
    #[must_use]
    pub fn account(&self, id: BookId) -> AccountId {
        self.key(id).map_or_else(AccountId::default, |k| k.account)
    }

    /// How many books exist.
    #[must_use]
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// True when no book exists.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Every book in id order.
    pub fn iter(&self) -> impl Iterator<Item = BookKey> + '_ {
        self.keys.iter().copied()
    }

    /// Appends the books `from` has beyond these (both only ever grow, in
    /// the same order).
    pub fn sync(&mut self, from: &Self) {
        for &key in &from.keys[self.keys.len().min(from.keys.len())..] {
            self.intern(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn books_are_numbered_in_order_of_first_use_and_sync_in_order() {
        let mut t = BookTable::default();
        let a = BookKey {
            account: AccountId(3),
            strategy: None,
        };
        let b = BookKey {
            account: AccountId(3),
            strategy: Some(StrategyId(0)),
        };
        assert_eq!(t.intern(a), (BookId(0), true));
        assert_eq!(t.intern(b), (BookId(1), true));
        assert_eq!(t.intern(a), (BookId(0), false));
        assert_eq!(t.get(b), Some(BookId(1)));
        assert_eq!(t.key(BookId(1)), Some(b));
        assert_eq!(t.key(BookId(2)), None);
        assert_eq!(t.account(BookId(1)), AccountId(3));
        let mut copy = BookTable::default();
        copy.sync(&t);
        copy.sync(&t);
        assert_eq!(copy.iter().collect::<Vec<_>>(), vec![a, b]);
    }
}
