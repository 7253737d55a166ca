//! Replaying journaled ops through the sequencer (recovery, `kupala
//! replay`, as-of queries): each re-applied without validation, with the
//! names it introduced and what the journal does not record (a trade's
//! cost method and book, its lots) resolved again.

use super::{NewName, SequenceError, Sequencer, TradeTags, lots};
use crate::ids::{Interner, NameKind};
use crate::op::{Op, SeqOp};

impl Sequencer {
    /// Re-applies a journaled op (already accepted once) with the names it
    /// introduced, without validating it again, and returns it with what
    /// the journal does not record (a trade's cost method, from the
    /// configuration) filled in.
    pub fn replay(
        &mut self,
        names: &[NewName],
        sop: SeqOp,
        tags: TradeTags<'_>,
    ) -> Result<SeqOp, SequenceError> {
        self.replay_op(names, sop, tags, true)
    }

    /// Like [`Sequencer::replay`] but without keeping the range bounds: for
    /// an offline replay that accepts no event after the journal (the
    /// bounds only guard events still to come). A sequencer fed this way
    /// must never sequence again.
    pub(crate) fn replay_unbounded(
        &mut self,
        names: &[NewName],
        sop: SeqOp,
        tags: TradeTags<'_>,
    ) -> Result<SeqOp, SequenceError> {
        self.replay_op(names, sop, tags, false)
    }

    fn replay_op(
        &mut self,
        names: &[NewName],
        mut sop: SeqOp,
        tags: TradeTags<'_>,
        bounds: bool,
    ) -> Result<SeqOp, SequenceError> {
        self.restore_names(names)?;
        self.lots.clear_picks();
        if let Op::Trade {
            account,
            method,
            book,
            instrument,
            ..
        } = &mut sop.op
        {
            if account.index() >= self.names.accounts.len() {
                return Err(SequenceError::UnknownId {
                    kind: "account",
                    id: account.0,
                });
            }
            *method = self.method_of(*account);
            *book = self.next_book(*account, tags.strategy);
            if method.keeps_lots() && !tags.close_lots.is_empty() {
                let key = lots::Key {
                    book: *book,
                    instrument: *instrument,
                };
                self.lots.resolve_journaled(key, tags.close_lots);
            }
        }
        if bounds {
            self.limits.apply(&sop.op);
        }
        self.commit(sop.seq, &sop.op, tags.trade_id, tags.strategy);
        Ok(sop)
    }

    /// Re-creates names with their journaled ids.
    pub fn restore_names(&mut self, names: &[NewName]) -> Result<(), SequenceError> {
        for n in names {
            let (kind, interner): (&'static str, &mut Interner) = match n.kind {
                NameKind::Account => ("account", &mut self.names.accounts),
                NameKind::Instrument => ("instrument", &mut self.names.instruments),
                NameKind::Currency => ("currency", &mut self.names.currencies),
            };
            if !interner.restore(n.id, &n.name) {
                return Err(SequenceError::NameConflict {
                    kind,
                    id: n.id,
                    name: n.name.clone(),
                });
            }
        }
        Ok(())
    }
}
