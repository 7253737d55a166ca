//! The one translation of an event into its op, over any source of ids:
//! the sequencer itself (interning names) or a batch check (provisional ids
//! numbered as interning would number them). Ids are taken in the order
//! the fields appear, which is the order interning numbers them.

use super::SequenceError;
use crate::event::Event;
use crate::ids::{AccountId, CurrencyId, InstrumentId};
use crate::ledger::Method;
use crate::num::{Multiplier, Quantity};
use crate::op::Op;

/// Where the translation takes ids from.
pub(super) trait Ids<'a> {
    /// The id of an instrument.
    fn instrument_id(&mut self, name: &'a str) -> InstrumentId;
    /// The id of a currency.
    fn currency_id(&mut self, code: &'a str) -> CurrencyId;
    /// The id of an account, its base currency and its cost method.
    fn account_ids(&mut self, name: &'a str) -> (AccountId, CurrencyId, Method);
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
            let (account, base, method) = ids.account_ids(&t.account);
            Op::Trade {
                account,
                base,
                instrument: ids.instrument_id(&t.instrument),
                qty: Quantity::from_raw(t.qty.raw() * t.side.sign()),
                price: t.price,
                fee: t.fee,
                method,
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
