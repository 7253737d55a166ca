//! Range checks the sequencer makes before it accepts an event, so that no
//! shard can overflow later: a position's quantity must stay within what a
//! `Quantity` holds (≈ 9.2 × 10^9 units), and a split must keep every
//! quantity and the mark in range. Refusing here, before the journal, keeps
//! the books a pure function of the journal.
//!
//! Quantities are tracked per position from the trades (a split scales them
//! with the same rounding as the ledger; fifo lots may round apart by a few
//! 10^-9 units, which only makes the bound looser).

use rustc_hash::FxHashMap;

use crate::ids::{AccountId, InstrumentId};
use crate::image::BookImage;
use crate::num::{Quantity, split_price, split_qty};
use crate::op::Op;
use crate::sequencer::SequenceError;

#[derive(Clone, Copy, Debug, Default)]
struct InstLimit {
    /// Sum of |qty| over the positions held (bounds each of them).
    abs_sum: i128,
    mark: i64,
    has_tick: bool,
}

/// What the range checks remember.
#[derive(Clone, Debug, Default)]
pub(crate) struct Limits {
    held: FxHashMap<(AccountId, InstrumentId), i128>,
    inst: Vec<InstLimit>,
}

const MAX: i128 = i64::MAX as i128;

impl Limits {
    fn inst(&self, i: InstrumentId) -> InstLimit {
        self.inst.get(i.index()).copied().unwrap_or_default()
    }

    fn inst_mut(&mut self, i: InstrumentId) -> &mut InstLimit {
        if self.inst.len() <= i.index() {
            self.inst.resize(i.index() + 1, InstLimit::default());
        }
        &mut self.inst[i.index()]
    }

    /// Refuses an op that would take a quantity or a mark out of range.
    pub(crate) fn check(&self, op: &Op, name: &str) -> Result<(), SequenceError> {
        match *op {
            Op::Trade {
                account,
                instrument,
                qty,
                ..
            } => {
                let old = self.held.get(&(account, instrument)).copied().unwrap_or(0);
                let new = old + i128::from(qty.raw());
                if new.abs() > MAX {
                    return Err(SequenceError::OutOfRange(format!(
                        "the position in {name} would reach {}, beyond ±{} units",
                        Quantity::from_raw(i64::try_from(new.signum() * MAX).unwrap_or(i64::MAX)),
                        Quantity::from_raw(i64::MAX)
                    )));
                }
            }
            Op::Split { instrument, ratio } => {
                let l = self.inst(instrument);
                let qty = split_qty(l.abs_sum, ratio);
                let mark = split_price(l.mark, ratio);
                if qty.abs() > MAX || mark.abs() > MAX {
                    return Err(SequenceError::OutOfRange(format!(
                        "splitting {name} would take its quantities or its mark out of range"
                    )));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Records an accepted op.
    pub(crate) fn apply(&mut self, op: &Op) {
        match *op {
            Op::Trade {
                account,
                instrument,
                qty,
                price,
                ..
            } => {
                let q = self.held.entry((account, instrument)).or_insert(0);
                let old = *q;
                *q += i128::from(qty.raw());
                let new = *q;
                let l = self.inst_mut(instrument);
                l.abs_sum += new.abs() - old.abs();
                if !l.has_tick {
                    l.mark = price.raw();
                }
            }
            Op::Tick { instrument, price } => {
                let l = self.inst_mut(instrument);
                (l.mark, l.has_tick) = (price.raw(), true);
            }
            Op::Split { instrument, ratio } => {
                let mut sum = 0;
                for (_, q) in self.held.iter_mut().filter(|(k, _)| k.1 == instrument) {
                    *q = split_qty(*q, ratio);
                    sum += q.abs();
                }
                let l = self.inst_mut(instrument);
                l.abs_sum = sum;
                l.mark = i64::try_from(split_price(l.mark, ratio)).unwrap_or(l.mark);
            }
            _ => {}
        }
    }

    /// Rebuilds the limits from a snapshot's books.
    pub(crate) fn rebuild(&mut self, books: &BookImage) {
        *self = Self::default();
        for p in &books.positions {
            let key = (AccountId(p.account), InstrumentId(p.instrument));
            let q = i128::from(p.qty);
            *self.held.entry(key).or_insert(0) += q;
            self.inst_mut(key.1).abs_sum += q.abs();
        }
        for i in &books.instruments {
            let l = self.inst_mut(InstrumentId(i.id));
            (l.mark, l.has_tick) = (i.mark, i.has_tick);
        }
    }
}
