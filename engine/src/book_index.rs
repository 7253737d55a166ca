//! A map from (book, instrument) to a small value, laid out per book:
//! each book's entries in one vector sorted by instrument.
//!
//! The engine keeps two such maps per position (the book's slot of each
//! position, the sequencer's held quantity). As hash maps over a million
//! positions they cost ≈ 17–22 bytes per entry and a cache miss per
//! insert, which made restoring a snapshot wait on memory. Here an entry is
//! its instrument id and its value (8–16 bytes), a lookup is a binary
//! search within one book's few cache lines, and a restore, which
//! visits each book's positions in instrument order, only appends.
//! Adding a position to a book that already has `n` moves up to `n`
//! entries: new positions are rare next to the trades and ticks on
//! existing ones.

use crate::ids::{BookId, InstrumentId};
use crate::lean::grow_to;

/// Values by (book, instrument), each book's sorted by instrument.
#[derive(Clone, Debug)]
pub(crate) struct BookIndex<V> {
    by_book: Vec<Vec<(InstrumentId, V)>>,
    len: usize,
}

impl<V> Default for BookIndex<V> {
    fn default() -> Self {
        Self {
            by_book: Vec::new(),
            len: 0,
        }
    }
}

impl<V: Copy> BookIndex<V> {
    /// How many entries there are.
    #[cfg(test)]
    pub(crate) const fn len(&self) -> usize {
        self.len
    }

    /// The value of `(book, instrument)`.
    pub(crate) fn get(&self, book: BookId, instrument: InstrumentId) -> Option<V> {
        let list = self.by_book.get(book.index())?;
        let at = list.binary_search_by_key(&instrument, |e| e.0).ok()?;
        Some(list[at].1)
    }

    /// Sets the value of `(book, instrument)`, adding the entry if new.
    pub(crate) fn set(&mut self, book: BookId, instrument: InstrumentId, value: V) {
        if self.by_book.len() <= book.index() {
            grow_to(&mut self.by_book, book.index() + 1, Vec::new);
        }
        let list = &mut self.by_book[book.index()];
        if list.last().is_none_or(|e| e.0 < instrument) {
            // Restores and most first trades arrive in instrument order.
            list.push((instrument, value));
            self.len += 1;
            return;
        }
        match list.binary_search_by_key(&instrument, |e| e.0) {
            Ok(at) => list[at].1 = value,
            Err(at) => {
                list.insert(at, (instrument, value));
                self.len += 1;
            }
        }
    }

    /// Sets `(book, instrument)` to `f` of its value (`None` if new).
    /// An entry past the book's last is found without a search, as a
    /// restore adds them.
    pub(crate) fn update(&mut self, book: BookId, instrument: InstrumentId, f: impl FnOnce(Option<V>) -> V) {
        let old = match self.by_book.get(book.index()) {
            Some(list) if list.last().is_some_and(|e| e.0 < instrument) => None,
            _ => self.get(book, instrument),
        };
        self.set(book, instrument, f(old));
    }

    /// Every entry of `instrument`, its value mutable (a split).
    pub(crate) fn of_instrument_mut(
        &mut self,
        instrument: InstrumentId,
    ) -> impl Iterator<Item = (BookId, &mut V)> {
        self.by_book.iter_mut().enumerate().filter_map(move |(a, list)| {
            let at = list.binary_search_by_key(&instrument, |e| e.0).ok()?;
            Some((book_at(a), &mut list[at].1))
        })
    }

    /// The values of `book`'s entries, in instrument order.
    pub(crate) fn of_book(&self, book: BookId) -> impl Iterator<Item = V> + '_ {
        self.by_book
            .get(book.index())
            .into_iter()
            .flat_map(|list| list.iter().map(|e| e.1))
    }

    /// The books holding an entry of `instrument`.
    pub(crate) fn books_of(&self, instrument: InstrumentId) -> impl Iterator<Item = BookId> + '_ {
        self.by_book.iter().enumerate().filter_map(move |(a, list)| {
            list.binary_search_by_key(&instrument, |e| e.0)
                .ok()
                .map(|_| book_at(a))
        })
    }
}

/// The book at index `a` of `by_book` (which a `BookId` sized).
fn book_at(a: usize) -> BookId {
    BookId::from_index(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_map_in_any_insertion_order() {
        let mut idx = BookIndex::default();
        let mut model = std::collections::BTreeMap::new();
        // A fixed pseudo-random order, with repeats (updates).
        let mut x = 7u32;
        for _ in 0..5_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let (a, i, v) = (BookId((x >> 8) % 13), InstrumentId((x >> 4) % 97), x);
            idx.set(a, i, v);
            model.insert((a.0, i.0), v);
        }
        assert_eq!(idx.len(), model.len());
        for a in 0..14 {
            for i in 0..98 {
                assert_eq!(idx.get(BookId(a), InstrumentId(i)), model.get(&(a, i)).copied());
            }
        }
        let held: Vec<u32> = idx.books_of(InstrumentId(5)).map(|a| a.0).collect();
        let want: Vec<u32> = model.keys().filter(|k| k.1 == 5).map(|k| k.0).collect();
        assert_eq!(held, want);
        for (_, v) in idx.of_instrument_mut(InstrumentId(5)) {
            *v = 0;
        }
        assert!(
            held.iter()
                .all(|&a| idx.get(BookId(a), InstrumentId(5)) == Some(0))
        );
        assert_eq!(idx.get(BookId(99), InstrumentId(1)), None);
        idx.update(BookId(99), InstrumentId(1), |old| old.map_or(10, |v| v + 1));
        idx.update(BookId(99), InstrumentId(1), |old| old.map_or(10, |v| v + 1));
        idx.update(BookId(99), InstrumentId(0), |old| old.map_or(5, |v| v + 1));
        assert_eq!(idx.get(BookId(99), InstrumentId(1)), Some(11));
        assert_eq!(idx.get(BookId(99), InstrumentId(0)), Some(5));
    }
}
