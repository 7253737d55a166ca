//! Events after sequencing: interned ids, signed quantities, no strings.
//! This is what travels through the shard channels.

use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId};
use crate::ledger::Method;
use crate::num::{Fee, Multiplier, Price, Quantity, Rate};
use crate::time::{Date, Timestamp};

/// One sequenced operation for a shard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// An instrument's currency and multiplier (only before it is traded).
    Instrument {
        /// The instrument.
        instrument: InstrumentId,
        /// Its currency.
        currency: CurrencyId,
        /// Its contract multiplier.
        multiplier: Multiplier,
    },
    /// A fill with a signed quantity (buy > 0).
    Trade {
        /// The account.
        account: AccountId,
        /// The book (account, strategy) it belongs to (numbered by the
        /// sequencer, not journaled: a replay derives it again).
        book: BookId,
        /// The account's base currency.
        base: CurrencyId,
        /// The instrument.
        instrument: InstrumentId,
        /// Signed quantity.
        qty: Quantity,
        /// Fill price.
        price: Price,
        /// Fee in instrument currency.
        fee: Fee,
        /// The account's cost method (its configuration, not journaled).
        method: Method,
    },
    /// A market price.
    Tick {
        /// The instrument.
        instrument: InstrumentId,
        /// The price.
        price: Price,
    },
    /// `1 base = rate quote`.
    Fx {
        /// Base currency of the pair.
        base: CurrencyId,
        /// Quote currency of the pair.
        quote: CurrencyId,
        /// The rate.
        rate: Rate,
    },
    /// End of day.
    Eod {
        /// The date that ends.
        date: Date,
    },
    /// A cash dividend of `amount` per unit held.
    Dividend {
        /// The instrument.
        instrument: InstrumentId,
        /// Cash per unit, in the instrument's currency.
        amount: Price,
    },
    /// A P&L history mark (not journaled: the pipeline's `HistoryClock`
    /// places it before the first event of a later bucket, at the seq of
    /// the event before it, see `history`).
    Mark {
        /// The end of the bucket it closes.
        at: Timestamp,
        /// It also closes a coarse bucket.
        coarse: bool,
    },
    /// A lot the next trade of `book` in `instrument` closes first (a
    /// trade's `close_lots`, one op per lot, in order, just before the
    /// trade and at its seq; not journaled: the trade's journal entry
    /// names the lots, and the sequencer resolves them again on replay).
    Pick {
        /// The instrument (routes the pick to the trade's shard).
        instrument: InstrumentId,
        /// The book of the trade.
        book: BookId,
        /// The seq of the trade that opened the lot.
        opened: u64,
    },
    /// A split of `ratio` new units per old one.
    Split {
        /// The instrument.
        instrument: InstrumentId,
        /// The ratio.
        ratio: Rate,
    },
}

impl Op {
    /// The instrument this op is routed by; `None` for ops every shard sees.
    #[must_use]
    pub const fn instrument(&self) -> Option<InstrumentId> {
        match *self {
            Self::Instrument { instrument, .. }
            | Self::Trade { instrument, .. }
            | Self::Tick { instrument, .. }
            | Self::Split { instrument, .. }
            | Self::Pick { instrument, .. }
            | Self::Dividend { instrument, .. } => Some(instrument),
            Self::Fx { .. } | Self::Eod { .. } | Self::Mark { .. } => None,
        }
    }
}

/// An op with its global sequence number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeqOp {
    /// Position in the journal.
    pub seq: u64,
    /// The operation.
    pub op: Op,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trade_s_cost_method_and_book_do_not_grow_an_op() {
        // Ops travel in every shard's batches: a trade's cost method rides
        // in the enum's padding, its book in the room a 64-bit fee leaves
        // (which also leaves an op 8-byte aligned, so a sequenced one is
        // 56 bytes where it was 64).
        assert_eq!(size_of::<Op>(), 48);
        assert_eq!(size_of::<SeqOp>(), 56);
    }
}
