//! Journal records: batches of sequenced events, as they are archived.
//!
//! A batch holds contiguous seqs, the names first interned by its events
//! (so a replay needs no hashing to rebuild ids), and optionally the
//! position reached in the source that fed it (for exactly-once resume).

use rkyv::{Archive, Deserialize, Serialize};

use crate::event::{Dividend, Eod, Event, Fx, InstrumentDef, Side, Split, Tick, Trade};
use crate::ids::{AccountId, BookId, CurrencyId, InstrumentId, Names};
use crate::ledger::Method;
use crate::num::{Fee, Multiplier, Price, Quantity, Rate};
use crate::op::{Op, SeqOp};
use crate::sequencer::{NewName, TradeTags};
use crate::time::{Date, Timestamp};

pub use jop::JOp;

/// The archived op, in its own module: rkyv's generated resolver for an
/// enum has fields that cannot carry doc comments.
mod jop {
    #![allow(missing_docs, reason = "rkyv's generated resolver fields")]
    use super::{Archive, Deserialize, Serialize};
    #[allow(unused_imports, reason = "doc links")]
    use crate::op::Op;

    /// An op as archived (ids and raw integers); variants mirror [`Op`].
    #[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
    pub enum JOp {
        /// [`Op::Instrument`].
        Instrument {
            /// Instrument id.
            instrument: u32,
            /// Currency id.
            currency: u32,
            /// Multiplier, raw.
            multiplier: i64,
        },
        /// [`Op::Trade`].
        Trade {
            /// Account id.
            account: u32,
            /// Base currency id.
            base: u32,
            /// Instrument id.
            instrument: u32,
            /// Signed quantity, raw.
            qty: i64,
            /// Price, raw.
            price: i64,
            /// Fee, raw.
            fee: i64,
        },
        /// [`Op::Tick`].
        Tick {
            /// Instrument id.
            instrument: u32,
            /// Price, raw.
            price: i64,
        },
        /// [`Op::Fx`].
        Fx {
            /// Base currency id.
            base: u32,
            /// Quote currency id.
            quote: u32,
            /// Rate, raw.
            rate: i64,
        },
        /// [`Op::Eod`].
        Eod {
            /// Days since 1970-01-01.
            date: i32,
        },
        /// [`Op::Split`].
        Split {
            /// Instrument id.
            instrument: u32,
            /// Ratio, raw.
            ratio: i64,
        },
        /// [`Op::Dividend`].
        Dividend {
            /// Instrument id.
            instrument: u32,
            /// Cash per unit, raw.
            amount: i64,
        },
    }
}

/// One journaled event.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct JournalEvent {
    /// Its seq.
    pub seq: u64,
    /// Its timestamp as given (for an EOD: the end of its date, UTC).
    pub ts: i64,
    /// The op.
    pub op: JOp,
    /// A trade's id, kept so idempotency survives a restart.
    pub trade_id: Option<String>,
    /// A trade's strategy tag.
    pub strategy: Option<String>,
    /// A trade's `close_lots` (the ids of the lots it closes first).
    pub close_lots: Vec<String>,
}

/// A group of events written as one value, keyed by its first seq.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
pub struct JournalBatch {
    /// Names first interned by these events.
    pub names: Vec<NewName>,
    /// The events, seqs contiguous and increasing.
    pub events: Vec<JournalEvent>,
    /// `(source, position)` reached after these events, if a source asks.
    pub cursor: Option<(String, u64)>,
}

impl JournalBatch {
    /// First seq, if any.
    #[must_use]
    pub fn first_seq(&self) -> Option<u64> {
        self.events.first().map(|e| e.seq)
    }

    /// Last seq, if any.
    #[must_use]
    pub fn last_seq(&self) -> Option<u64> {
        self.events.last().map(|e| e.seq)
    }

    /// True when the seqs are contiguous and increasing.
    #[must_use]
    pub fn is_contiguous(&self) -> bool {
        self.events.windows(2).all(|w| w[1].seq == w[0].seq + 1)
    }
}

/// The timestamp journaled for an event (an EOD's is the last instant of
/// its date, so `--to` windows treat it as part of that day).
#[must_use]
pub fn event_ts(event: &Event) -> i64 {
    match event {
        Event::Trade(t) => t.ts.0,
        Event::Tick(t) => t.ts.0,
        Event::Fx(f) => f.ts.0,
        Event::Split(s) => s.ts.0,
        Event::Dividend(d) => d.ts.0,
        Event::Eod(e) => (i64::from(e.date.0) + 1) * 86_400_000_000_000 - 1,
        Event::Instrument(_) => 0,
    }
}

impl JournalEvent {
    /// Archives a sequenced op with what the edge event carried (`None`
    /// for a history mark, which is not journaled).
    #[must_use]
    pub fn new(sop: &SeqOp, event: &Event) -> Option<Self> {
        let (trade_id, strategy, close_lots) = match event {
            Event::Trade(t) => (t.id.clone(), t.strategy.clone(), t.close_lots.clone()),
            _ => (None, None, Vec::new()),
        };
        Some(Self {
            seq: sop.seq,
            ts: event_ts(event),
            op: JOp::of(sop.op)?,
            trade_id,
            strategy,
            close_lots,
        })
    }

    /// What the sequencer needs of the trade beside its op to replay it.
    #[must_use]
    pub fn tags(&self) -> TradeTags<'_> {
        TradeTags {
            trade_id: self.trade_id.as_deref(),
            strategy: self.strategy.as_deref(),
            close_lots: &self.close_lots,
            ts: self.ts,
        }
    }

    /// The sequenced op back.
    #[must_use]
    pub fn seq_op(&self) -> SeqOp {
        SeqOp {
            seq: self.seq,
            op: self.op.into(),
        }
    }

    /// The edge event back, with names (for `kupala replay` output and
    /// for re-feeding another engine).
    #[must_use]
    pub fn event(&self, names: &Names) -> Event {
        let ts = Timestamp(self.ts);
        let inst = |i: u32| names.instrument(InstrumentId(i)).to_owned();
        match self.op {
            JOp::Instrument {
                instrument,
                currency,
                multiplier,
            } => Event::Instrument(InstrumentDef {
                id: inst(instrument),
                currency: names.currency(CurrencyId(currency)).to_owned(),
                multiplier: Rate::from_raw(multiplier),
            }),
            JOp::Trade {
                account,
                instrument,
                qty,
                price,
                fee,
                ..
            } => Event::Trade(Trade {
                id: self.trade_id.clone(),
                ts,
                account: names.account(AccountId(account)).to_owned(),
                instrument: inst(instrument),
                side: if qty >= 0 { Side::Buy } else { Side::Sell },
                qty: Quantity::from_raw(qty.abs()),
                price: Price::from_raw(price),
                fee: Fee::from_raw(fee),
                strategy: self.strategy.clone(),
                close_lots: self.close_lots.clone(),
            }),
            JOp::Tick { instrument, price } => Event::Tick(Tick {
                ts,
                instrument: inst(instrument),
                price: Price::from_raw(price),
            }),
            JOp::Fx { base, quote, rate } => Event::Fx(Fx {
                ts,
                pair: format!(
                    "{}/{}",
                    names.currency(CurrencyId(base)),
                    names.currency(CurrencyId(quote))
                ),
                rate: Rate::from_raw(rate),
            }),
            JOp::Eod { date } => Event::Eod(Eod { date: Date(date) }),
            JOp::Split { instrument, ratio } => Event::Split(Split {
                ts,
                instrument: inst(instrument),
                ratio: Rate::from_raw(ratio),
            }),
            JOp::Dividend { instrument, amount } => Event::Dividend(Dividend {
                ts,
                instrument: inst(instrument),
                amount: Price::from_raw(amount),
            }),
        }
    }
}

impl JOp {
    /// The archived form of an op; `None` for a history mark, which the
    /// journal does not keep (a replay places it again from timestamps),
    /// and for a lot pick (the trade's `close_lots` names its lots).
    fn of(op: Op) -> Option<Self> {
        Some(match op {
            Op::Instrument {
                instrument,
                currency,
                multiplier,
            } => Self::Instrument {
                instrument: instrument.0,
                currency: currency.0,
                multiplier: multiplier.rate().raw(),
            },
            Op::Trade {
                account,
                base,
                instrument,
                qty,
                price,
                fee,
                book: _,
                method: _,
            } => Self::Trade {
                account: account.0,
                base: base.0,
                instrument: instrument.0,
                qty: qty.raw(),
                price: price.raw(),
                fee: fee.raw(),
            },
            Op::Tick { instrument, price } => Self::Tick {
                instrument: instrument.0,
                price: price.raw(),
            },
            Op::Fx { base, quote, rate } => Self::Fx {
                base: base.0,
                quote: quote.0,
                rate: rate.raw(),
            },
            Op::Eod { date } => Self::Eod { date: date.0 },
            Op::Split { instrument, ratio } => Self::Split {
                instrument: instrument.0,
                ratio: ratio.raw(),
            },
            Op::Dividend { instrument, amount } => Self::Dividend {
                instrument: instrument.0,
                amount: amount.raw(),
            },
            Op::Mark { .. } | Op::Pick { .. } => return None,
        })
    }
}

impl From<JOp> for Op {
    fn from(op: JOp) -> Self {
        match op {
            JOp::Instrument {
                instrument,
                currency,
                multiplier,
            } => Self::Instrument {
                instrument: InstrumentId(instrument),
                currency: CurrencyId(currency),
                multiplier: Multiplier::new(Rate::from_raw(multiplier)),
            },
            JOp::Trade {
                account,
                base,
                instrument,
                qty,
                price,
                fee,
            } => Self::Trade {
                account: AccountId(account),
                base: CurrencyId(base),
                instrument: InstrumentId(instrument),
                qty: Quantity::from_raw(qty),
                price: Price::from_raw(price),
                fee: Fee::from_raw(fee),
                // The journal records neither: the account's configuration
                // and the trade's strategy do, and `Sequencer::replay` sets
                // them.
                book: BookId::default(),
                method: Method::Avg,
            },
            JOp::Tick { instrument, price } => Self::Tick {
                instrument: InstrumentId(instrument),
                price: Price::from_raw(price),
            },
            JOp::Fx { base, quote, rate } => Self::Fx {
                base: CurrencyId(base),
                quote: CurrencyId(quote),
                rate: Rate::from_raw(rate),
            },
            JOp::Eod { date } => Self::Eod { date: Date(date) },
            JOp::Split { instrument, ratio } => Self::Split {
                instrument: InstrumentId(instrument),
                ratio: Rate::from_raw(ratio),
            },
            JOp::Dividend { instrument, amount } => Self::Dividend {
                instrument: InstrumentId(instrument),
                amount: Price::from_raw(amount),
            },
        }
    }
}
