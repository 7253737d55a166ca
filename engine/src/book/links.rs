//! Which account each of a shard's books belongs to, and each account's
//! books: an account's totals are the sum of its books' (one book for an
//! account that never tags a strategy, a handful otherwise), summed when
//! they are reported, never stored twice.

use crate::ids::{AccountId, BookId};

/// No book (the end of an account's list).
const NONE: u32 = u32::MAX;

/// Books by account, as intrusive lists: 4 bytes a book and an account.
#[derive(Debug, Default)]
pub(crate) struct BookLinks {
    /// Each book's account, by book id (the others' ids are holes).
    account_of: Vec<AccountId>,
    /// Each account's first book, by account id.
    first: Vec<u32>,
    /// The next book of the same account, by book id.
    next: Vec<u32>,
}

impl BookLinks {
    /// Records `book` as one of `account`'s (once, when it first appears
    /// in this shard).
    pub(crate) fn link(&mut self, book: BookId, account: AccountId) {
        let (b, a) = (book.index(), account.index());
        if self.account_of.len() <= b {
            self.account_of.resize(b + 1, AccountId::default());
            self.next.resize(b + 1, NONE);
        }
        if self.first.len() <= a {
            self.first.resize(a + 1, NONE);
        }
        self.account_of[b] = account;
        self.next[b] = self.first[a];
        self.first[a] = book.0;
    }

    /// The account of a linked book.
    #[inline]
    pub(crate) fn account(&self, book: BookId) -> AccountId {
        self.account_of[book.index()]
    }

    /// The books of `account` in this shard, newest first.
    pub(crate) fn books_of(&self, account: AccountId) -> impl Iterator<Item = BookId> + '_ {
        let mut at = self.first.get(account.index()).copied().unwrap_or(NONE);
        std::iter::from_fn(move || {
            if at == NONE {
                return None;
            }
            let b = BookId(at);
            at = self.next[b.index()];
            Some(b)
        })
    }

    /// True when `book` is the only book of `account` here.
    #[inline]
    pub(crate) fn only_book(&self, account: AccountId, book: BookId) -> bool {
        self.first.get(account.index()) == Some(&book.0) && self.next[book.index()] == NONE
    }

    /// How many accounts ids are sized (some without a book here).
    pub(crate) fn account_slots(&self) -> usize {
        self.first.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_lists_exactly_its_books() {
        let mut l = BookLinks::default();
        l.link(BookId(0), AccountId(2));
        l.link(BookId(3), AccountId(0));
        l.link(BookId(5), AccountId(2));
        assert_eq!(
            l.books_of(AccountId(2)).collect::<Vec<_>>(),
            vec![BookId(5), BookId(0)]
        );
        assert_eq!(l.books_of(AccountId(0)).collect::<Vec<_>>(), vec![BookId(3)]);
        assert_eq!(l.books_of(AccountId(1)).count(), 0);
        assert_eq!(l.books_of(AccountId(9)).count(), 0);
        assert_eq!(l.account(BookId(5)), AccountId(2));
        assert!(l.only_book(AccountId(0), BookId(3)));
        assert!(!l.only_book(AccountId(2), BookId(5)) && !l.only_book(AccountId(2), BookId(0)));
        assert_eq!(l.account_slots(), 3);
    }
}
