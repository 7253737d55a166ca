//! A CSV trade blotter → trades. The header is required and columns are
//! found by name, in any order:
//!
//! | column | also called | |
//! | --- | --- | --- |
//! | `ts` | `timestamp`, `time`, `date`, `datetime` | required; a date alone is 21:00:00 UTC |
//! | `account` | | required |
//! | `instrument` | `symbol`, `ticker` | required, or `--instrument` |
//! | `side` | | required: `buy`/`sell` (or `b`/`s`), any case |
//! | `qty` | `quantity` | required, > 0, exact |
//! | `price` | | required |
//! | `fee` | `fees`, `commission` | optional, 0 when absent or empty |
//! | `id` | `trade_id` | optional; empty = no id |
//! | `strategy` | | optional; empty = none |

use std::io::BufRead;

use kupala_engine::Event;
use kupala_engine::event::{Side, Trade};
use kupala_engine::num::Fee;

use crate::FeedError;
use crate::csv::Record;
use crate::source::SourceOptions;
use crate::table::{Column, CsvSource, Decode, Header, InstrumentOf, Ready, TS_NAMES};
use crate::values::checked;

/// Turns one blotter row into one trade.
#[derive(Debug)]
pub struct TradeDecoder {
    ts: Column,
    account: Column,
    instrument: InstrumentOf,
    side: Column,
    qty: Column,
    price: Column,
    fee: Option<Column>,
    id: Option<Column>,
    strategy: Option<Column>,
    utc_offset: i32,
}

impl TradeDecoder {
    /// Binds to a blotter header.
    pub fn bind(header: &Header, opts: &SourceOptions) -> Result<Self, String> {
        Ok(Self {
            ts: header.require(TS_NAMES)?,
            account: header.require(&["account"])?,
            instrument: InstrumentOf::bind(header, opts)?,
            side: header.require(&["side"])?,
            qty: header.require(&["qty", "quantity"])?,
            price: header.require(&["price"])?,
            fee: header.find(&["fee", "fees", "commission"])?,
            id: header.find(&["id", "tradeid"])?,
            strategy: header.find(&["strategy"])?,
            utc_offset: opts.utc_offset,
        })
    }

    fn side(&self, rec: Record<'_>) -> Result<Side, String> {
        let s = self.side.text(rec);
        if s.eq_ignore_ascii_case("buy") || s.eq_ignore_ascii_case("b") {
            Ok(Side::Buy)
        } else if s.eq_ignore_ascii_case("sell") || s.eq_ignore_ascii_case("s") {
            Ok(Side::Sell)
        } else {
            Err(self.side.err(format!("{s:?} is neither buy nor sell")))
        }
    }

    fn fee(&self, rec: Record<'_>) -> Result<Fee, String> {
        match &self.fee {
            Some(col) if !col.text(rec).is_empty() => col.fee(rec),
            _ => Ok(Fee::ZERO),
        }
    }
}

/// An optional text cell: `None` when the column is absent or the cell empty.
fn optional(col: Option<&Column>, rec: Record<'_>) -> Option<String> {
    col.map(|c| c.text(rec))
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

impl Decode for TradeDecoder {
    fn decode(&mut self, line: u64, rec: Record<'_>, out: &mut Ready) -> Result<(), String> {
        let trade = Trade {
            id: optional(self.id.as_ref(), rec),
            ts: self.ts.instant(rec, self.utc_offset)?,
            account: self.account.name_value(rec)?,
            instrument: self.instrument.of(rec)?,
            side: self.side(rec)?,
            qty: self.qty.quantity(rec)?,
            price: self.price.price(rec)?,
            fee: self.fee(rec)?,
            strategy: optional(self.strategy.as_ref(), rec),
            close_lots: Vec::new(),
        };
        out.push_back((line, Ok(checked(Event::Trade(trade))?)));
        Ok(())
    }
}

/// Opens a trade blotter (its header is required).
pub fn open<R: BufRead>(reader: R, opts: &SourceOptions) -> Result<CsvSource<R, TradeDecoder>, FeedError> {
    CsvSource::open(reader, opts, &[], |h| TradeDecoder::bind(h, opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str) -> Vec<String> {
        match open(input.as_bytes(), &SourceOptions::default()) {
            Ok(src) => src
                .map(|r| r.map_or_else(|e| e.to_string(), |e| e.to_json()))
                .collect(),
            Err(e) => vec![format!("open: {e}")],
        }
    }

    #[test]
    fn reads_a_full_blotter_in_any_column_order() {
        let got = run("Strategy,ID,Fee,Price,Qty,Side,Instrument,Account,TS\n\
             mr,t-1,1.00,189.50,100,BUY,AAPL,A1,2026-11-30T14:30:00Z\n\
             \"carry, v2\",,,190,40,s,AAPL,A1,2026-11-30 15:00:00\n");
        assert_eq!(
            got,
            vec![
                r#"{"type":"trade","id":"t-1","ts":"2026-11-30T14:30:00Z","account":"A1","instrument":"AAPL","side":"buy","qty":"100","price":"189.5","fee":"1","strategy":"mr"}"#,
                r#"{"type":"trade","ts":"2026-11-30T15:00:00Z","account":"A1","instrument":"AAPL","side":"sell","qty":"40","price":"190","strategy":"carry, v2"}"#,
            ]
        );
    }

    #[test]
    fn optional_columns_may_be_absent() {
        let got = run("ts,account,instrument,side,qty,price\n2026-11-30,A1,X,buy,1,2\n");
        assert_eq!(
            got,
            vec![
                r#"{"type":"trade","ts":"2026-11-30T21:00:00Z","account":"A1","instrument":"X","side":"buy","qty":"1","price":"2"}"#
            ]
        );
    }

    #[test]
    fn bad_rows_say_which_column_is_wrong() {
        let got = run("ts,account,instrument,side,qty,price,fee\n\
             2026-11-30,A1,X,hold,1,2,0\n\
             2026-11-30,A1,X,buy,0,2,0\n\
             2026-11-30,A1,X,buy,-3,2,0\n\
             2026-11-30,A1,X,buy,1,2,0.0000000001\n\
             2026-11-30,,X,buy,1,2,0\n\
             2026-11-30,A1,X,buy,1.5,2,x\n");
        assert_eq!(
            got,
            vec![
                r#"line 2: side: "hold" is neither buy nor sell"#,
                "line 3: qty: must be > 0",
                "line 4: qty: must be > 0",
                r#"line 5: fee: "0.0000000001" has more than 9 decimal places"#,
                "line 6: account: is empty",
                r#"line 7: fee: "x" is not a decimal number"#,
            ]
        );
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let got = run("ts,account,instrument,qty,price\n");
        assert_eq!(
            got,
            vec!["open: line 1: no `side` column in the header `ts,account,instrument,qty,price`"]
        );
    }
}
