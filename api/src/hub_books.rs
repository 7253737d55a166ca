//! The hub's books and firm: the latest totals of each book and of the
//! firm, kept for snapshots and queries, and their changes fanned out to
//! the `books` subscriptions of each book's account and to the `firm`
//! subscriptions.

use std::sync::Arc;
use std::time::Instant;

use kupala_engine::state::{BookState, FirmState};

use super::{Hub, State, account_name};
use crate::auth::Grant;
use crate::fanout::selected;
use crate::outbox::{Item, Key, Shared};
use crate::protocol::AccountSel;
use kupala_engine::SharedNames;
use kupala_engine::ids::BookId;
use kupala_engine::state::{BookChanges, PortfolioState};

impl Hub {
    /// Keeps and fans out the books one flush changed. An account's only
    /// book comes as its portfolio (already in the view): the hub notes
    /// which book it is and builds the book's state only for a subscriber.
    pub(super) fn publish_books(&self, books: BookChanges<'_>) {
        let names = self.names.get();
        let now = Instant::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        for b in books.listed {
            if st
                .books
                .get(&b.book)
                .is_some_and(|old| old.totals.seq > b.totals.seq)
            {
                continue;
            }
            st.sole_books.remove(&b.book);
            st.books.insert(b.book, b.clone());
            fan_out(st, names, b.book, &b.totals, now);
        }
        for s in books.sole {
            let Some(p) = books.portfolios.get(s.portfolio as usize) else {
                continue;
            };
            st.books.remove(&s.book);
            st.sole_books.insert(s.book, p.account);
            fan_out(st, names, s.book, p, now);
        }
    }

    /// Keeps and fans out the firm's new totals.
    pub(super) fn publish_firm(&self, firm: &FirmState) {
        let now = Instant::now();
        let mut st = self.lock();
        if st.firm.as_ref().is_some_and(|old| old.seq > firm.seq) {
            return;
        }
        st.firm = Some(firm.clone());
        if st.firm_subs.is_empty() {
            return;
        }
        let shared = Shared::new(firm.clone(), false);
        for r in &st.firm_subs {
            r.outbox
                .push(Key::Firm(r.sub), Item::Firm(Arc::clone(&shared)), 0, now);
        }
    }

    /// Current books visible to `grant`.
    #[must_use]
    pub fn books(&self, grant: &Grant, sel: &AccountSel) -> Vec<BookState> {
        let st = self.lock();
        let Some(names) = self.names.get().and_then(|n| n.read().ok()) else {
            return Vec::new();
        };
        book_states(&st)
            .filter(|b| selected(sel, grant, names.account(b.totals.account)))
            .collect()
    }

    /// The firm's totals now (`None` before the engine reported any).
    #[must_use]
    pub fn firm(&self) -> Option<FirmState> {
        self.lock().firm.clone()
    }
}

/// Pushes a book's new totals to the `books` subscriptions of its account
/// (its state built only when one is there).
fn fan_out(st: &mut State, names: Option<&SharedNames>, book: BookId, totals: &PortfolioState, now: Instant) {
    if st.book_subs.is_empty() {
        return;
    }
    let account = account_name(names, &mut st.account_names, totals.account);
    let mut shared = None;
    for r in st.book_subs.matching(&account) {
        let s = shared.get_or_insert_with(|| {
            Shared::new(
                BookState {
                    book,
                    totals: totals.clone(),
                },
                false,
            )
        });
        r.outbox
            .push(Key::Book(r.sub, book), Item::Book(Arc::clone(s)), 0, now);
    }
}

/// Every book the view holds: those kept in full, and each account's only
/// book, built from its portfolio.
pub(super) fn book_states(st: &State) -> impl Iterator<Item = BookState> + '_ {
    let sole = st.sole_books.iter().filter_map(|(&book, account)| {
        st.portfolios.get(account).map(|p| BookState {
            book,
            totals: p.clone(),
        })
    });
    st.books.values().cloned().chain(sole)
}
