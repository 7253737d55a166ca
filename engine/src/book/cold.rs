//! A position's cold state: what only trades, splits, EODs and snapshots
//! touch (the tick loop reads the holder, `holders`).
//!
//! Base-currency amounts (realized P&L, fees and the day baseline, in the
//! account's base) exist apart from the instrument-currency ones only for a
//! position held in another currency than its account's base: a
//! same-currency position converts at the identity, so its base amounts
//! *are* its local ones and are not stored twice. A cross-currency position
//! names its base amounts' entry in `Book::cross`; a same-currency one
//! names none. A cold record is then 80 bytes.

use std::num::NonZeroU32;

use super::Book;
use super::holders::{HolderIdx, SlotId};
use crate::ids::InstrumentId;
use crate::ledger::Lots;
use crate::num::out_of_bounds;

/// One position's cold state. Amounts are exact (10^-18) in the
/// instrument's currency; its base market value and unrealized P&L follow
/// from its [`Holder`](super::holders::Holder), its other base amounts are
/// [`Book::base_amounts`].
#[derive(Clone, Debug)]
pub(crate) struct Position {
    /// Its instrument and its place among the instrument's holders (whose
    /// record also names its account and conversion group).
    pub(crate) instrument: InstrumentId,
    pub(crate) holder: HolderIdx,
    /// Where its base amounts are, when they differ from the local ones.
    pub(crate) cross: Option<CrossId>,
    /// Its open lots (fifo/lifo); its quantity and cost are in the holder.
    pub(crate) lots: Lots,
    pub(crate) realized: i128,
    pub(crate) fees: i128,
    /// Net P&L at the last EOD (the day-P&L baseline).
    pub(crate) baseline: i128,
    pub(crate) priced: bool,
    /// False once an EOD rolled it into the closed history.
    pub(crate) listed: bool,
    pub(crate) dirty: bool,
    /// The last trade, split or EOD that changed it; a listed position also
    /// changed with its instrument's and group's last op (see
    /// [`Book::position_seq`]).
    pub(crate) seq: u64,
}

const _: () = assert!(size_of::<Position>() == 80, "a cold record is 80 bytes");

/// A position's realized P&L, fees and day baseline, in one currency.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Amounts {
    pub(crate) realized: i128,
    pub(crate) fees: i128,
    pub(crate) baseline: i128,
}

/// What a cross-currency position keeps in base currency beside its local
/// amounts: those amounts converted, and the FX attribution's open base
/// cost (at the rates its lots were opened at) and realized currency P&L.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cross {
    pub(crate) amounts: Amounts,
    pub(crate) cost_base: i128,
    pub(crate) fx_realized: i128,
    /// The position's entry in its instrument's `Inst::cross`.
    pub(crate) entry: u32,
}

/// The entry of a cross-currency position's base amounts in `Book::cross`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CrossId(NonZeroU32);

impl CrossId {
    /// The entry at index `i` (fewer than 2^32 − 1 positions per shard: the
    /// sequencer's position limit).
    pub(crate) fn from_index(i: usize) -> Self {
        u32::try_from(i + 1)
            .ok()
            .and_then(NonZeroU32::new)
            .map_or_else(|| out_of_bounds(), Self)
    }

    /// As an index into `Book::cross`.
    pub(crate) const fn index(self) -> usize {
        self.0.get() as usize - 1
    }
}

impl Position {
    /// Its amounts in instrument currency.
    pub(crate) const fn local(&self) -> Amounts {
        Amounts {
            realized: self.realized,
            fees: self.fees,
            baseline: self.baseline,
        }
    }
}

impl Book {
    /// A position's realized P&L, fees and day baseline in its account's
    /// base currency (meaningful once it is priced).
    pub(crate) fn base_amounts(&self, slot: SlotId) -> Amounts {
        let p = &self.positions[slot.index()];
        match p.cross {
            Some(c) => self.cross[c.index()].amounts,
            None => p.local(),
        }
    }

    /// Sets a position's base amounts. A same-currency position's are its
    /// local ones (the identity conversion), so only a cross-currency
    /// position stores them.
    pub(crate) fn set_base_amounts(&mut self, slot: SlotId, amounts: Amounts) {
        let p = &self.positions[slot.index()];
        match p.cross {
            Some(c) => self.cross[c.index()].amounts = amounts,
            None => debug_assert_eq!(amounts, p.local(), "same-currency base amounts are local"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{AccountId, BookId, CurrencyId};
    use crate::ledger::Method;
    use crate::num::{Multiplier, Price, Quantity};
    use crate::op::{Op, SeqOp};

    fn trade(seq: u64, instrument: u32, qty: i64) -> SeqOp {
        SeqOp {
            seq,
            op: Op::Trade {
                account: AccountId(0),
                book: BookId(0),
                base: CurrencyId::USD,
                instrument: InstrumentId(instrument),
                qty: Quantity::from_int(qty),
                price: Price::from_int(100),
                fee: crate::num::Fee::ZERO,
                method: Method::Avg,
            },
        }
    }

    #[test]
    fn only_a_cross_currency_position_stores_base_amounts() {
        let mut book = Book::new(false);
        let eur = CurrencyId(1);
        book.apply(&SeqOp {
            seq: 1,
            op: Op::Instrument {
                instrument: InstrumentId(1),
                currency: eur,
                multiplier: Multiplier::ONE,
            },
        });
        book.apply(&trade(2, 0, 5));
        book.apply(&trade(3, 1, 5));
        book.apply(&trade(4, 0, 7));
        let usd_slot = book.by_key.get(BookId(0), InstrumentId(0));
        let eur_slot = book.by_key.get(BookId(0), InstrumentId(1));
        let (Some(usd_slot), Some(eur_slot)) = (usd_slot, eur_slot) else {
            panic!("both positions exist");
        };
        assert!(book.positions[usd_slot.index()].cross.is_none());
        assert_eq!(
            book.positions[eur_slot.index()].cross.map(CrossId::index),
            Some(0)
        );
        assert_eq!(book.cross.len(), 1, "one entry, for the EUR position only");
    }

    #[test]
    fn cross_ids_count_from_zero_and_refuse_the_last_index() {
        assert_eq!(CrossId::from_index(0).index(), 0);
        assert_eq!(CrossId::from_index(41).index(), 41);
        let last = u32::MAX as usize;
        assert!(std::panic::catch_unwind(|| CrossId::from_index(last)).is_err());
    }
}
