//! The one translation of an event into its op, over any source of ids:
//! the sequencer itself (interning names) or a batch check (provisional ids
//! numbered as interning would number them). Ids are taken in the order
//! the fields appear, which is the order interning numbers them.

use super::SequenceError;
use crate::event::Event;
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId};
use crate::ledger::Method;
use crate::num::{Multiplier, Quantity};
use crate::op::Op;

/// Where the translation takes ids from.
pub(super) trait Ids<'a> {
    /// The id of an instrument.
    fn instrument_id(&mut self, name: &'a str) -> InstrumentId;
    /// The id of a currency.
    fn currency_id(&mut self, code: &'a str) -> CurrencyId;
    /// The ids a trade of `account` in `strategy` takes.
    fn trade_ids(&mut self, account: &'a str, strategy: Option<&'a str>) -> TradeKeys;
}

/// What a trade's account and strategy resolve to.
pub(super) struct TradeKeys {
    /// The account.
    pub(super) account: AccountId,
    /// Its book for the trade's strategy (an id not yet handed out is the
    /// next one: the trade's commit numbers it).
    pub(super) book: BookId,
    /// The account's base currency.
    pub(super) base: CurrencyId,
    /// The account's cost method.
    pub(super) method: Method,
}

/// The op `event` becomes (a repeated trade id is the caller's concern).
pub(super) fn op_of<'a>(ids: &mut impl Ids<'a>, event: &'a Event) -> Result<Op, SequenceError> {
    Ok(match event {
        Event::Instrument(d) => Op::Instrument {
            instrument: ids.instrument_id(&d.id),
            currency: ids.currency_id(&d.currency),
            multiplier: Multiplier::new(d.multiplier),
        },
        Event::Trade(t) => {
            let keys = ids.trade_ids(&t.account, t.strategy.as_deref());
            Op::Trade {
                account: keys.account,
                book: keys.book,
                base: keys.base,
                instrument: ids.instrument_id(&t.instrument),
                qty: Quantity::from_raw(t.qty.raw() * t.side.sign()),
                price: t.price,
                fee: t.fee,
                method: keys.method,
            }
        }
        Event::Tick(t) => Op::Tick {
            instrument: ids.instrument_id(&t.instrument),
            price: t.price,
        },
        Event::Fx(f) => {
            let (b, q) = f
                .currencies()
                .ok_or_else(|| SequenceError::BadPair(f.pair.clone()))?;
            Op::Fx {
                base: ids.currency_id(b),
                quote: ids.currency_id(q),
                rate: f.rate,
            }
        }
        Event::Eod(e) => Op::Eod { date: e.date },
        Event::Split(s) => Op::Split {
            instrument: ids.instrument_id(&s.instrument),
            ratio: s.ratio,
        },
        Event::Dividend(d) => Op::Dividend {
            instrument: ids.instrument_id(&d.instrument),
            amount: d.amount,
        },
    })
}
