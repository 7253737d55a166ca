//! A position as stored in `eod_positions` and `closed_positions`, in its
//! versioned layouts: a record is an rkyv archive behind a frame whose
//! format byte says which layout it has, so records written before a field
//! existed still read (the field then reads as zero).
//!
//! - format 1: the fields up to `day_pnl`, and five base amounts;
//! - format 2: adds dividend income (`income`) and, in base, income, the
//!   open base cost and the currency effect (`docs/pnl.md`);
//! - format 3: adds the position's strategy (its book), by name: the
//!   store's names do not number strategies.

use rkyv::{Archive, Deserialize, Serialize};

use super::frame::{self, FrameError};
use crate::books::BookKey;
use crate::ids::{AccountId, CurrencyId, InstrumentId, Names, StrategyId};
use crate::num::{Notional, Price, Quantity};
use crate::state::{BaseValues, PositionState};
use crate::time::Date;

/// The frame byte of the current layout.
const FORMAT: u8 = 3;
/// The frame byte of the layout before strategies.
const FORMAT_V2: u8 = 2;
/// The frame byte of the layout before dividend income.
const FORMAT_V1: u8 = 1;

/// A position as stored in `eod_positions` and `closed_positions`.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields mirror state::PositionState")]
pub struct PositionRecord {
    pub date: i32,
    pub account: u32,
    pub instrument: u32,
    pub currency: u32,
    pub base_currency: u32,
    pub qty: i64,
    pub avg_cost: i64,
    pub mark: i64,
    pub market_value: i128,
    pub realized_pnl: i128,
    pub unrealized_pnl: i128,
    pub fees: i128,
    pub income: i128,
    pub net_pnl: i128,
    pub day_pnl: i128,
    /// The base-currency figures (`None` while unpriced).
    pub base: Option<BaseRecord>,
    pub seq: u64,
    /// The strategy of its book (`None`: the account's default book).
    pub strategy: Option<String>,
}

/// The layout of format 2 (before strategies), read only.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct PositionRecordV2 {
    date: i32,
    account: u32,
    instrument: u32,
    currency: u32,
    base_currency: u32,
    qty: i64,
    avg_cost: i64,
    mark: i64,
    market_value: i128,
    realized_pnl: i128,
    unrealized_pnl: i128,
    fees: i128,
    income: i128,
    net_pnl: i128,
    day_pnl: i128,
    base: Option<BaseRecord>,
    seq: u64,
}

impl From<PositionRecordV2> for PositionRecord {
    fn from(r: PositionRecordV2) -> Self {
        Self {
            date: r.date,
            account: r.account,
            instrument: r.instrument,
            currency: r.currency,
            base_currency: r.base_currency,
            qty: r.qty,
            avg_cost: r.avg_cost,
            mark: r.mark,
            market_value: r.market_value,
            realized_pnl: r.realized_pnl,
            unrealized_pnl: r.unrealized_pnl,
            fees: r.fees,
            income: r.income,
            net_pnl: r.net_pnl,
            day_pnl: r.day_pnl,
            base: r.base,
            seq: r.seq,
            strategy: None,
        }
    }
}

/// A position's base-currency figures as stored, exact (10^-18).
#[derive(Archive, Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[allow(missing_docs, reason = "fields mirror state::BaseValues")]
pub struct BaseRecord {
    pub market_value: i128,
    pub realized_pnl: i128,
    pub unrealized_pnl: i128,
    pub fees: i128,
    pub income: i128,
    pub net_pnl: i128,
    pub cost: i128,
    pub fx_pnl: i128,
}

/// The layout of format 1 (before dividend income), read only.
#[derive(Archive, Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
struct PositionRecordV1 {
    date: i32,
    account: u32,
    instrument: u32,
    currency: u32,
    base_currency: u32,
    qty: i64,
    avg_cost: i64,
    mark: i64,
    market_value: i128,
    realized_pnl: i128,
    unrealized_pnl: i128,
    fees: i128,
    net_pnl: i128,
    day_pnl: i128,
    base: Option<[i128; 5]>,
    seq: u64,
}

impl From<PositionRecordV1> for PositionRecord {
    fn from(r: PositionRecordV1) -> Self {
        Self {
            date: r.date,
            account: r.account,
            instrument: r.instrument,
            currency: r.currency,
            base_currency: r.base_currency,
            qty: r.qty,
            avg_cost: r.avg_cost,
            mark: r.mark,
            market_value: r.market_value,
            realized_pnl: r.realized_pnl,
            unrealized_pnl: r.unrealized_pnl,
            fees: r.fees,
            income: 0,
            net_pnl: r.net_pnl,
            day_pnl: r.day_pnl,
            // market value, realized, unrealized, fees, net.
            base: r.base.map(|b| BaseRecord {
                market_value: b[0],
                realized_pnl: b[1],
                unrealized_pnl: b[2],
                fees: b[3],
                income: 0,
                net_pnl: b[4],
                // Unknown before format 2: the cost as if in base, no
                // currency effect.
                cost: 0,
                fx_pnl: 0,
            }),
            seq: r.seq,
            strategy: None,
        }
    }
}

impl PositionRecord {
    /// From a position state at an EOD date, its strategy named from
    /// `names`.
    #[must_use]
    pub fn new(date: Date, p: &PositionState, names: &Names) -> Self {
        let strategy = names
            .books
            .key(p.book)
            .and_then(|k| k.strategy)
            .map(|s| names.strategy(s).to_owned());
        Self {
            date: date.0,
            account: p.account.0,
            instrument: p.instrument.0,
            currency: p.currency.0,
            base_currency: p.base_currency.0,
            qty: p.qty.raw(),
            avg_cost: p.avg_cost.raw(),
            mark: p.mark.raw(),
            market_value: p.market_value.0,
            realized_pnl: p.realized_pnl.0,
            unrealized_pnl: p.unrealized_pnl.0,
            fees: p.fees.0,
            income: p.income.0,
            net_pnl: p.net_pnl.0,
            day_pnl: p.day_pnl.0,
            base: p.base.map(|b| BaseRecord {
                market_value: b.market_value.0,
                realized_pnl: b.realized_pnl.0,
                unrealized_pnl: b.unrealized_pnl.0,
                fees: b.fees.0,
                income: b.income.0,
                net_pnl: b.net_pnl.0,
                cost: b.cost.0,
                fx_pnl: b.fx_pnl.0,
            }),
            seq: p.seq,
            strategy,
        }
    }

    /// Back to a position state, its book numbered in `names` (where the
    /// strategy and the book are added if new: a reader's own copy).
    #[must_use]
    pub fn state(&self, names: &mut Names) -> PositionState {
        let account = AccountId(self.account);
        let strategy = self
            .strategy
            .as_deref()
            .map(|s| StrategyId(names.strategies.intern(s)));
        let (book, _) = names.books.intern(BookKey { account, strategy });
        PositionState {
            account,
            book,
            instrument: InstrumentId(self.instrument),
            currency: CurrencyId(self.currency),
            base_currency: CurrencyId(self.base_currency),
            qty: Quantity::from_raw(self.qty),
            avg_cost: Price::from_raw(self.avg_cost),
            mark: Price::from_raw(self.mark),
            market_value: Notional(self.market_value),
            realized_pnl: Notional(self.realized_pnl),
            unrealized_pnl: Notional(self.unrealized_pnl),
            fees: Notional(self.fees),
            income: Notional(self.income),
            net_pnl: Notional(self.net_pnl),
            day_pnl: Notional(self.day_pnl),
            base: self.base.map(|b| BaseValues {
                market_value: Notional(b.market_value),
                realized_pnl: Notional(b.realized_pnl),
                unrealized_pnl: Notional(b.unrealized_pnl),
                fees: Notional(b.fees),
                income: Notional(b.income),
                net_pnl: Notional(b.net_pnl),
                cost: Notional(b.cost),
                fx_pnl: Notional(b.fx_pnl),
            }),
            seq: self.seq,
        }
    }

    /// The record framed in the current layout.
    pub fn encode(&self) -> Result<Vec<u8>, FrameError> {
        frame::encode_as(FORMAT, self)
    }

    /// A framed record in any layout this build knows.
    pub fn decode(bytes: &[u8]) -> Result<Self, FrameError> {
        match frame::format_of(bytes) {
            Some(FORMAT_V1) => frame::decode_as::<PositionRecordV1>(bytes, FORMAT_V1).map(Self::from),
            Some(FORMAT_V2) => frame::decode_as::<PositionRecordV2>(bytes, FORMAT_V2).map(Self::from),
            _ => frame::decode_as(bytes, FORMAT),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v1() -> PositionRecordV1 {
        PositionRecordV1 {
            date: 20_424,
            account: 3,
            instrument: 7,
            currency: 1,
            base_currency: 0,
            qty: -5_000_000_000,
            avg_cost: 101_000_000_000,
            mark: 99_000_000_000,
            market_value: -495 * 10i128.pow(18),
            realized_pnl: 12 * 10i128.pow(18),
            unrealized_pnl: 10 * 10i128.pow(18),
            fees: 10i128.pow(18),
            net_pnl: 21 * 10i128.pow(18),
            day_pnl: -4,
            base: Some([1, 2, 3, 4, 5]),
            seq: 99,
        }
    }

    #[test]
    fn a_record_of_the_layout_before_income_reads_with_zero_income() -> Result<(), FrameError> {
        let old = frame::encode_as(FORMAT_V1, &v1())?;
        let rec = PositionRecord::decode(&old)?;
        assert_eq!((rec.income, rec.net_pnl, rec.seq), (0, 21 * 10i128.pow(18), 99));
        assert_eq!(rec.strategy, None);
        let base = rec.base.map(|b| (b.fees, b.income, b.net_pnl));
        assert_eq!(base, Some((4, 0, 5)), "net moves to its field, income is 0");
        Ok(())
    }

    #[test]
    fn a_record_round_trips_in_the_current_layout() -> Result<(), FrameError> {
        let mut rec = PositionRecord::from(v1());
        rec.income = 7;
        rec.base = rec.base.map(|b| BaseRecord { income: 6, ..b });
        let v2 = PositionRecordV2 {
            date: rec.date,
            account: rec.account,
            instrument: rec.instrument,
            currency: rec.currency,
            base_currency: rec.base_currency,
            qty: rec.qty,
            avg_cost: rec.avg_cost,
            mark: rec.mark,
            market_value: rec.market_value,
            realized_pnl: rec.realized_pnl,
            unrealized_pnl: rec.unrealized_pnl,
            fees: rec.fees,
            income: rec.income,
            net_pnl: rec.net_pnl,
            day_pnl: rec.day_pnl,
            base: rec.base,
            seq: rec.seq,
        };
        let old = PositionRecord::decode(&frame::encode_as(FORMAT_V2, &v2)?)?;
        assert_eq!(old, rec, "a format 2 record reads in the default book");
        rec.strategy = Some("carry".into());
        let mut names = Names::default();
        let state = rec.state(&mut names);
        assert_eq!(
            names
                .books
                .key(state.book)
                .and_then(|k| k.strategy)
                .map(|s| names.strategy(s)),
            Some("carry")
        );
        assert_eq!(
            PositionRecord::new(Date(rec.date), &state, &names).strategy,
            rec.strategy
        );
        let bytes = rec.encode()?;
        assert_eq!(frame::format_of(&bytes), Some(FORMAT));
        assert_eq!(PositionRecord::decode(&bytes)?, rec);
        assert!(matches!(
            PositionRecord::decode(&bytes[..2]),
            Err(FrameError::Short(2))
        ));
        Ok(())
    }
}
