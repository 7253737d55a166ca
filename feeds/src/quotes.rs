//! Bid/ask quotes → mid-price ticks: columns `ts`, `bid`, `ask` by name (and
//! an instrument column, or `--instrument`); other columns are ignored.
//!
//! The mid is `(bid + ask) / 2` in exact integer arithmetic on the 10^-9
//! raw values; when it would need a tenth decimal (an odd sum) it is rounded
//! half away from zero. A quote whose bid is above its ask is refused as a
//! bad row; a locked quote (bid = ask) is accepted.
//!
//! Without a header (`--no-header`) the columns are `ts,bid,ask`, extra
//! trailing columns ignored: e.g. HistData's `20200101 170000065,1.1212,1.1217,0`.

use std::io::BufRead;

use kupala_engine::Event;
use kupala_engine::event::Tick;
use kupala_engine::num::{Price, div_round};

use crate::FeedError;
use crate::csv::Record;
use crate::source::SourceOptions;
use crate::table::{Column, CsvSource, Decode, Header, InstrumentOf, Ready, TS_NAMES};
use crate::values::checked;

/// The columns of a file without a header.
pub const LAYOUT: &[&str] = &["ts", "bid", "ask"];

/// Turns one quote into one mid-price tick.
#[derive(Debug)]
pub struct QuoteDecoder {
    ts: Column,
    instrument: InstrumentOf,
    bid: Column,
    ask: Column,
    utc_offset: i32,
}

impl QuoteDecoder {
    /// Binds to a header.
    pub fn bind(header: &Header, opts: &SourceOptions) -> Result<Self, String> {
        Ok(Self {
            ts: header.require(TS_NAMES)?,
            instrument: InstrumentOf::bind(header, opts)?,
            bid: header.require(&["bid"])?,
            ask: header.require(&["ask"])?,
            utc_offset: opts.utc_offset,
        })
    }
}

/// The exact mid of a quote, rounded half away from zero to 10^-9.
#[must_use]
pub fn mid(bid: Price, ask: Price) -> Price {
    let sum = i128::from(bid.raw()) + i128::from(ask.raw());
    // The mean of two i64 values is an i64; the fallback is unreachable.
    Price::from_raw(i64::try_from(div_round(sum, 2)).unwrap_or(i64::MAX))
}

impl Decode for QuoteDecoder {
    fn decode(&mut self, line: u64, rec: Record<'_>, out: &mut Ready) -> Result<(), String> {
        let ts = self.ts.instant(rec, self.utc_offset)?;
        let instrument = self.instrument.of(rec)?;
        let (bid, ask) = (self.bid.price(rec)?, self.ask.price(rec)?);
        if bid > ask {
            return Err(format!("crossed quote: bid {bid} is above ask {ask}"));
        }
        let tick = Tick {
            ts,
            instrument,
            price: mid(bid, ask),
        };
        out.push_back((line, Ok(checked(Event::Tick(tick))?)));
        Ok(())
    }
}

/// Opens a quote file.
pub fn open<R: BufRead>(reader: R, opts: &SourceOptions) -> Result<CsvSource<R, QuoteDecoder>, FeedError> {
    CsvSource::open(reader, opts, LAYOUT, |h| QuoteDecoder::bind(h, opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, no_header: bool) -> Vec<String> {
        let opts = SourceOptions {
            instrument: Some("EURUSD".to_owned()),
            no_header,
            ..SourceOptions::default()
        };
        match open(input.as_bytes(), &opts) {
            Ok(src) => src
                .map(|r| r.map_or_else(|e| e.to_string(), |e| e.to_json()))
                .collect(),
            Err(e) => vec![format!("open: {e}")],
        }
    }

    fn m(bid: &str, ask: &str) -> String {
        match (Price::parse(bid), Price::parse(ask)) {
            (Ok(b), Ok(a)) => mid(b, a).to_string(),
            _ => "bad".to_owned(),
        }
    }

    #[test]
    fn mid_is_exact_and_rounds_half_away_from_zero() {
        assert_eq!(m("86.655", "86.728"), "86.6915");
        assert_eq!(m("1.121200", "1.121720"), "1.12146");
        assert_eq!(m("1.000000001", "1.000000002"), "1.000000002");
        assert_eq!(m("-1.000000002", "-1.000000001"), "-1.000000002");
        assert_eq!(
            m("92233720.368547758", "92233720.368547758"),
            "92233720.368547758"
        );
    }

    #[test]
    fn reads_headed_and_headerless_files() {
        let got = run(
            "timestamp,bid,ask\n2013-01-01 22:00:00.295000+00:00,86.655,86.728\n",
            false,
        );
        assert_eq!(
            got,
            vec![
                r#"{"type":"tick","ts":"2013-01-01T22:00:00.295Z","instrument":"EURUSD","price":"86.6915"}"#
            ]
        );
        let got = run("20200101 170000065,1.121200,1.121720,0\n", true);
        assert_eq!(
            got,
            vec![
                r#"{"type":"tick","ts":"2020-01-01T17:00:00.065Z","instrument":"EURUSD","price":"1.12146"}"#
            ]
        );
        // A header that names no timestamp column is refused with the hint.
        let got = run("when,bid,ask\n20200101 170000065,1.121200,1.121720\n", false);
        assert!(
            got[0].starts_with(
                "open: line 1: no `ts` column (nor timestamp, time, date, datetime) in the header"
            )
        );
        assert!(got[0].ends_with("needs --no-header"));
    }

    #[test]
    fn refuses_crossed_and_one_sided_quotes() {
        let got = run(
            "ts,bid,ask\n2020-01-01,1.2,1.1\n2020-01-01,,1.1\n2020-01-01,1.1,1.1\n",
            false,
        );
        assert_eq!(got[0], "line 2: crossed quote: bid 1.2 is above ask 1.1");
        assert_eq!(got[1], "line 3: bid: empty string is not a decimal");
        assert!(got[2].contains(r#""price":"1.1""#));
    }

    #[test]
    fn a_headerless_file_is_recognised_by_its_first_row() {
        let rows = "20200101 170000065,1.121200,1.121720,0\n20200101 170010447,1.121200,1.121920,0\n";
        assert_eq!(
            run(rows, false),
            run(rows, true),
            "without --no-header, the same ticks"
        );
        assert_eq!(run(rows, false).len(), 2, "the first row is data, not lost");
        // A header whose names start with letters is still a header.
        assert_eq!(
            run("ts,bid,ask\n20200101 170000065,1.1212,1.1217\n", false).len(),
            1
        );
    }
}
