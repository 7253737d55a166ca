//! CSV prices → ticks: `ts,instrument,price`, columns found by name in any
//! order (`ts` may be `timestamp`, `time`, `date` or `datetime`; `instrument`
//! may be `symbol` or `ticker`). A file without an instrument column takes
//! `--instrument`. A date alone (`2000-01-03`, `Jan 1 2000`) stands for that
//! day's close, 21:00:00 UTC.
//!
//! Without a header (`--no-header`) the columns are `ts,instrument,price`, or
//! `ts,price` with `--instrument`.

use std::io::BufRead;

use kupala_engine::Event;
use kupala_engine::event::Tick;

use crate::FeedError;
use crate::csv::Record;
use crate::source::SourceOptions;
use crate::table::{Column, CsvSource, Decode, Header, InstrumentOf, Ready, TS_NAMES};
use crate::values::checked;

/// The columns of a file without a header.
pub const LAYOUT: &[&str] = &["ts", "instrument", "price"];
/// The columns of a file without a header, with `--instrument`.
pub const LAYOUT_ONE_INSTRUMENT: &[&str] = &["ts", "price"];

/// Turns one row into one tick.
#[derive(Debug)]
pub struct TickDecoder {
    ts: Column,
    instrument: InstrumentOf,
    price: Column,
    utc_offset: i32,
}

impl TickDecoder {
    /// Binds to a header: the timestamp, instrument and a price column
    /// called one of `price_names`.
    pub fn bind(header: &Header, opts: &SourceOptions, price_names: &[&str]) -> Result<Self, String> {
        Ok(Self {
            ts: header.require(TS_NAMES)?,
            instrument: InstrumentOf::bind(header, opts)?,
            price: header.require(price_names)?,
            utc_offset: opts.utc_offset,
        })
    }
}

impl Decode for TickDecoder {
    fn decode(&mut self, line: u64, rec: Record<'_>, out: &mut Ready) -> Result<(), String> {
        let tick = Tick {
            ts: self.ts.instant(rec, self.utc_offset)?,
            instrument: self.instrument.of(rec)?,
            price: self.price.price(rec)?,
        };
        out.push_back((line, Ok(checked(Event::Tick(tick))?)));
        Ok(())
    }
}

/// Opens a tick file.
pub fn open<R: BufRead>(reader: R, opts: &SourceOptions) -> Result<CsvSource<R, TickDecoder>, FeedError> {
    let layout = if opts.instrument.is_some() {
        LAYOUT_ONE_INSTRUMENT
    } else {
        LAYOUT
    };
    CsvSource::open(reader, opts, layout, |h| {
        refuse_trades(h)?;
        TickDecoder::bind(h, opts, &["price"])
    })
}

/// A trades file (it names an account and a side) read as ticks would turn
/// every trade price into a mark: refused, naming the format to use.
fn refuse_trades(header: &Header) -> Result<(), String> {
    let account = header.find(&["account"])?;
    let side = header.find(&["side"])?;
    if account.is_some() && side.is_some() {
        return Err(format!(
            "the header `{}` has `account` and `side` columns: this is a trades file; convert it with --format trades",
            header.joined()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, opts: &SourceOptions) -> Vec<String> {
        match open(input.as_bytes(), opts) {
            Ok(src) => src
                .map(|r| r.map_or_else(|e| e.to_string(), |e| e.to_json()))
                .collect(),
            Err(e) => vec![format!("open: {e}")],
        }
    }

    fn with_instrument(name: &str) -> SourceOptions {
        SourceOptions {
            instrument: Some(name.to_owned()),
            ..SourceOptions::default()
        }
    }

    #[test]
    fn reads_columns_by_name_in_any_order() {
        let got = run(
            "Price,Symbol,Date\n39.81,MSFT,Jan 1 2000\n 36.35 , MSFT , Feb 1 2000 \n",
            &SourceOptions::default(),
        );
        assert_eq!(
            got,
            vec![
                r#"{"type":"tick","ts":"2000-01-01T21:00:00Z","instrument":"MSFT","price":"39.81"}"#,
                r#"{"type":"tick","ts":"2000-02-01T21:00:00Z","instrument":"MSFT","price":"36.35"}"#,
            ]
        );
    }

    #[test]
    fn takes_the_instrument_from_the_option_or_refuses() {
        let got = run("ts,price\n2026-11-30T14:30:00Z,1.5\n", &with_instrument("X"));
        assert_eq!(
            got,
            vec![r#"{"type":"tick","ts":"2026-11-30T14:30:00Z","instrument":"X","price":"1.5"}"#]
        );
        let got = run("ts,price\n", &SourceOptions::default());
        assert_eq!(
            got,
            vec![
                "open: line 1: no instrument column (instrument, symbol, ticker) in `ts,price`; pass --instrument NAME"
            ]
        );
        let got = run("ts,price\n", &with_instrument(""));
        assert_eq!(
            got,
            vec![r#"open: line 1: --instrument "" must be 1 to 128 printable characters"#]
        );
        let got = run("ts,symbol,price\n", &with_instrument("X"));
        assert_eq!(
            got,
            vec!["open: line 1: the file names instruments in column `symbol`; drop --instrument"]
        );
        let no_header = SourceOptions {
            no_header: true,
            ..with_instrument("X")
        };
        assert_eq!(run("2026-11-30,2\n", &no_header).len(), 1);
    }

    #[test]
    fn bad_rows_name_line_and_column_and_the_stream_goes_on() {
        let got = run(
            "ts,instrument,price\n2026-11-30,X,abc\n2026-11-31,X,1\n2026-11-30,,1\n2026-11-30,X\n2026-11-30,X,2\n",
            &SourceOptions::default(),
        );
        assert_eq!(got.len(), 5);
        assert_eq!(got[0], r#"line 2: price: "abc" is not a decimal number"#);
        assert_eq!(got[1], r#"line 3: ts: "2026-11-31" is not a valid date"#);
        assert_eq!(got[2], "line 4: instrument: is empty");
        assert_eq!(got[3], "line 5: 2 fields where 3 are expected");
        assert!(got[4].contains(r#""price":"2""#));
    }

    #[test]
    fn missing_or_repeated_columns_stop_at_the_header() {
        let got = run("ts,instrument\n", &SourceOptions::default());
        assert_eq!(
            got,
            vec![
                "open: line 1: no `price` column in the header `ts,instrument`; a file without a header needs --no-header"
            ]
        );
        let got = run("ts,instrument,price,Price\n", &SourceOptions::default());
        assert_eq!(got, vec!["open: line 1: column `Price` appears twice"]);
        let got = run("", &SourceOptions::default());
        assert_eq!(got, vec!["open: the file is empty: no header"]);
    }

    #[test]
    fn a_trades_file_is_refused_and_a_headerless_one_is_read() {
        let trades = "ts,account,instrument,side,qty,price\n2026-01-01T00:00:00Z,A,AAPL,buy,10,100\n";
        let got = run(trades, &SourceOptions::default());
        assert_eq!(got.len(), 1);
        assert!(
            got[0].contains("this is a trades file; convert it with --format trades"),
            "{got:?}"
        );
        let bare = run("2026-11-30,2\n2026-12-01,3\n", &with_instrument("X"));
        assert_eq!(bare.len(), 2, "{bare:?}");
        assert!(bare[0].contains(r#""price":"2""#), "{bare:?}");
    }
}
