//! Yahoo-style daily prices → one tick per day at the close.
//!
//! Columns by name: `Date`, `Close` (and an instrument column such as
//! `symbol`, or `--instrument`); `Open`, `High`, `Low`, `Adj Close`,
//! `Volume` are ignored. Names match ignoring case, spaces and `_`, so the
//! lowercase `date,open,high,low,close,adjclose,volume` is read too.
//!
//! The tick is the day's `Close`, not `Adj Close`: the adjusted series is
//! rewritten after every dividend and would not match the prices trades were
//! done at. Its timestamp is the date at 21:00:00 UTC (16:00 New York
//! standard time, the US close); a `Date` that carries a time is kept as is.
//! A `null` close (Yahoo's gap marker) is a bad row.
//!
//! Without a header (`--no-header`) the columns are
//! `date,open,high,low,close,adjclose,volume`.

use std::io::BufRead;

use crate::FeedError;
use crate::csv_ticks::TickDecoder;
use crate::source::SourceOptions;
use crate::table::CsvSource;

/// The columns of a file without a header.
pub const LAYOUT: &[&str] = &["date", "open", "high", "low", "close", "adjclose", "volume"];

/// Opens a Yahoo-style daily file.
pub fn open<R: BufRead>(reader: R, opts: &SourceOptions) -> Result<CsvSource<R, TickDecoder>, FeedError> {
    CsvSource::open(reader, opts, LAYOUT, |h| TickDecoder::bind(h, opts, &["close"]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, no_header: bool) -> Vec<String> {
        let opts = SourceOptions {
            instrument: Some("SPX".to_owned()),
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

    #[test]
    fn reads_both_header_spellings_and_headerless_files() {
        let want = r#"{"type":"tick","ts":"2000-01-03T21:00:00Z","instrument":"SPX","price":"1455.219971"}"#;
        let lower = "date,open,high,low,close,adjclose,volume\n\
                     2000-01-03,1469.250000,1478.000000,1438.359985,1455.219971,1455.219971,931800000";
        assert_eq!(run(lower, false), vec![want]);
        let yahoo = "Date,Open,High,Low,Close,Adj Close,Volume\n\
                     2000-01-03,1469.25,1478,1438.359985,1455.219971,1400.1,931800000\n";
        assert_eq!(run(yahoo, false), vec![want]);
        let bare = "2000-01-03,1469.25,1478,1438.359985,1455.219971,1400.1,931800000\n";
        assert_eq!(run(bare, true), vec![want]);
    }

    #[test]
    fn null_rows_are_bad_rows() {
        let got = run(
            "Date,Open,High,Low,Close,Adj Close,Volume\n2000-01-04,null,null,null,null,null,null\n",
            false,
        );
        assert_eq!(got, vec![r#"line 2: Close: "null" is not a decimal number"#]);
    }
}
