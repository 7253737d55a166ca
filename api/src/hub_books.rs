//! The hub's books and firm: the latest totals of each book and of the
//! firm, kept for snapshots and queries, and their changes fanned out to
//! the `books` subscriptions of each book's account and to the `firm`
//! subscriptions.

use std::sync::Arc;
use std::time::Instant;

use kupala_engine::state::{BookState, FirmState};

use super::{Hub, account_name};
use crate::auth::Grant;
use crate::fanout::selected;
use crate::outbox::{Item, Key, Shared};
use crate::protocol::AccountSel;

impl Hub {
    /// Keeps and fans out the books one flush changed.
    pub(super) fn publish_books(&self, books: &[BookState]) {
        let names = self.names.get();
        let now = Instant::now();
        let mut guard = self.lock();
        let st = &mut *guard;
        for b in books {
            if st
                .books
                .get(&b.book)
                .is_some_and(|old| old.totals.seq > b.totals.seq)
            {
                continue;
            }
            st.books.insert(b.book, b.clone());
            if st.book_subs.is_empty() {
                continue;
            }
            let account = account_name(names, &mut st.account_names, b.totals.account);
            let mut shared = None;
            for r in st.book_subs.matching(&account) {
                let s = shared.get_or_insert_with(|| Shared::new(b.clone(), false));
                r.outbox
                    .push(Key::Book(r.sub, b.book), Item::Book(Arc::clone(s)), 0, now);
            }
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
        st.books
            .values()
            .filter(|b| selected(sel, grant, names.account(b.totals.account)))
            .cloned()
            .collect()
    }

    /// The firm's totals now (`None` before the engine reported any).
    #[must_use]
    pub fn firm(&self) -> Option<FirmState> {
        self.lock().firm.clone()
    }
}
