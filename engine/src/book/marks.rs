//! A shard's part of a P&L history mark (see `history`): the books whose
//! totals changed since the last mark, their accounts, and the shard's
//! part of the firm, as of the mark's seq.

use super::firm::FirmSums;
use crate::book::Book;
use crate::history::{AccountPoint, BookPoint, PnlPoint};
use crate::ids::{AccountId, BookId};
use crate::state::PortfolioState;
use crate::time::Timestamp;

/// One shard's part of a history mark, until the next flush sends it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarkCapture {
    /// The end of the bucket the mark closes.
    pub at: Timestamp,
    /// The mark's seq.
    pub seq: u64,
    /// It also closes a coarse bucket.
    pub coarse: bool,
    /// The books of this shard that changed since the last mark.
    pub books: Vec<BookPoint>,
    /// Their accounts.
    pub accounts: Vec<AccountPoint>,
    /// This shard's part of the firm, settled.
    pub firm: FirmSums,
}

/// The books changed since the last mark (a flush notes the ones it
/// reports; the first mark takes every known book).
#[derive(Clone, Debug, Default)]
pub(crate) struct MarkTrack {
    noted: Vec<bool>,
    books: Vec<BookId>,
}

impl MarkTrack {
    /// Notes that `book`'s totals changed.
    pub(crate) fn note(&mut self, book: BookId) {
        let i = book.index();
        if self.noted.len() <= i {
            self.noted.resize(i + 1, false);
        }
        if !self.noted[i] {
            self.noted[i] = true;
            self.books.push(book);
        }
    }

    /// The books noted, forgetting them.
    fn take(&mut self) -> Vec<BookId> {
        for b in &self.books {
            self.noted[b.index()] = false;
        }
        std::mem::take(&mut self.books)
    }
}

fn point(p: &PortfolioState) -> PnlPoint {
    PnlPoint {
        net_pnl: p.net_pnl,
        day_pnl: p.day_pnl,
    }
}

impl Book {
    /// Captures this shard's part of a mark at `seq`: every position moved
    /// to its current mark and rate first, so the points are the state
    /// after every op up to the mark.
    pub(super) fn history_mark(&mut self, seq: u64, at: Timestamp, coarse: bool) {
        self.reprice_dirty();
        let first = self.marks.is_none();
        let track = self.marks.get_or_insert_with(MarkTrack::default);
        if first {
            (0..self.totals.by_book.len())
                .filter(|&i| self.totals.by_book[i].known)
                .for_each(|i| track.note(BookId::from_index(i)));
        }
        // Changed since the last flush: not yet noted by one.
        self.totals.dirty.iter().for_each(|&b| track.note(b));
        let mut changed = track.take();
        changed.sort_unstable();
        let mut accounts: Vec<AccountId> = changed.iter().map(|&b| self.links.account(b)).collect();
        accounts.sort_unstable();
        accounts.dedup();
        let books = changed
            .iter()
            .map(|&b| BookPoint {
                book: b,
                pnl: point(&self.totals.by_book[b.index()].state(self.links.account(b))),
            })
            .collect();
        let accounts = accounts
            .into_iter()
            .map(|a| AccountPoint {
                account: a,
                pnl: point(&self.account_state(a)),
            })
            .collect();
        // Settled without forgetting the changed books: they stay dirty
        // until the next flush, which must settle them again.
        self.settle_firm(false);
        let firm = self.firm_sums();
        self.out_marks.push(MarkCapture {
            at,
            seq,
            coarse,
            books,
            accounts,
            firm,
        });
    }
}
