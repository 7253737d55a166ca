//! `kupala convert`: read a file in any input format and write its events
//! as JSON Lines, one `Event::to_json()` per line, so files compose:
//! `kupala convert --format quotes --instrument USDJPY ticks.csv | kupala calc --events -`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use anyhow::Context;
use clap::builder::{PossibleValuesParser, TypedValueParser};
use kupala_feeds::{AnySource, EventSource, FeedError, Format, SourceOptions};

/// What each format reads; shown by `kupala convert --help`.
pub const FORMATS_HELP: &str = "\
Formats (CSV columns are found by header name, in any order, case and spaces
ignored; other columns are ignored):
  jsonl   JSON Lines events, as `kupala calc` reads them.
  trades  trade blotter: ts,account,instrument,side,qty,price[,fee,id,strategy]
          (header required; side buy/sell; qty and fee exact).
  ticks   prices: ts,instrument,price (instrument may be `symbol`; without an
          instrument column pass --instrument). E.g. symbol,date,price.
  bars    OHLC bars: ts,open,high,low,close[,volume] -> 4 ticks per bar: open
          at t, low then high (high then low if close < open) at t+L/4 and
          t+2L/4, close at t+3L/4; L = --bar-seconds, else the smallest gap
          between bars, else 60 s. A date alone starts its bar at 00:00 UTC.
  quotes  bid/ask quotes: ts,bid,ask -> one tick at the exact mid (rounded
          half away from zero past 9 decimals); bid > ask is a bad row.
  yahoo   daily Date,Open,High,Low,Close,Adj Close,Volume (or the lowercase
          date,...,adjclose,volume) -> one tick per day: Close at 21:00:00 UTC.

Timestamps: RFC 3339, `2013-01-01 22:00:00.295000+00:00`, `20200101 170000065`,
or a date alone (`2000-01-03`, `Jan 1 2000`), which stands for 21:00:00 UTC
(bars: 00:00). Times without an offset are UTC unless --utc-offset says.
Prices are exact decimals; more than 9 decimals are rounded half away from zero.

Without a header (--no-header) the columns are, in order: ticks ts,instrument,price
(ts,price with --instrument); bars ts,open,high,low,close; quotes ts,bid,ask
(e.g. HistData `20200101 170000065,1.121200,1.121720,0`); yahoo
date,open,high,low,close,adjclose,volume. Extra trailing columns are ignored.
A file whose first row is all numbers or dates is read this way without the
flag; --no-header is needed when the first row holds names (an instrument).
`--format ticks` refuses a trades file (one with account and side columns).

Bad rows: `line N: reason` on stderr and exit 1; with --skip-bad each is
reported, the rest converted, and the count given at the end (exit 0).";

/// Arguments of `kupala convert`.
#[derive(clap::Args, Debug, Clone)]
#[command(after_long_help = FORMATS_HELP)]
pub struct ConvertArgs {
    /// Input format (see --help for each one's columns).
    #[arg(long, value_parser = format_parser())]
    pub format: Format,
    /// Instrument of every row, for files without an instrument column.
    #[arg(long)]
    pub instrument: Option<String>,
    /// The file has no header row: columns are the format's default order
    /// (see --help). Recognised without the flag when the first row is all
    /// numbers and dates (HistData quotes files, for instance).
    #[arg(long)]
    pub no_header: bool,
    /// UTC offset of timestamps that carry none, as ±HH:MM (e.g. -05:00).
    #[arg(long, default_value = "+00:00", allow_hyphen_values = true, value_parser = parse_offset)]
    pub utc_offset: i32,
    /// Bar length in seconds (bars); default: inferred from the bar times.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub bar_seconds: Option<u32>,
    /// Report bad rows on stderr and go on; the count is given at the end.
    #[arg(long)]
    pub skip_bad: bool,
    /// Only read and check the file: print the number of events instead of them.
    #[arg(long)]
    pub check: bool,
    /// Input file, or `-` for standard input.
    pub file: PathBuf,
}

fn format_parser() -> impl TypedValueParser<Value = Format> {
    PossibleValuesParser::new(Format::ALL.map(Format::name)).try_map(|s| s.parse::<Format>())
}

/// `±HH:MM`, `±HHMM`, `±HH`, `Z` or `UTC` as seconds east of UTC.
fn parse_offset(s: &str) -> Result<i32, String> {
    if s == "Z" || s.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let bad = || format!("{s:?} is not a UTC offset such as -05:00");
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|&c| c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (h, m) = match digits.len() {
        2 => (&digits[..2], "0"),
        4 => (&digits[..2], &digits[2..]),
        _ => return Err(bad()),
    };
    let (h, m): (i32, i32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

impl ConvertArgs {
    /// The source options these arguments ask for.
    #[must_use]
    pub fn options(&self) -> SourceOptions {
        SourceOptions {
            instrument: self.instrument.clone(),
            no_header: self.no_header,
            utc_offset: self.utc_offset,
            bar_nanos: self.bar_seconds.map(|s| i64::from(s) * 1_000_000_000),
        }
    }
}

/// What a conversion did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConvertReport {
    /// Events written (or counted, with `--check`).
    pub events: u64,
    /// Bad rows skipped (only with `--skip-bad`).
    pub skipped: u64,
}

/// A conversion that stopped.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A bad row (without `--skip-bad`) or an unreadable input.
    #[error(transparent)]
    Feed(#[from] FeedError),
    /// Writing the output failed (the cause is in the message, once).
    #[error("writing events: {0}")]
    Write(std::io::Error),
}

impl From<std::io::Error> for ConvertError {
    fn from(e: std::io::Error) -> Self {
        Self::Write(e)
    }
}

/// Writes every event of `source` to `out` as JSON Lines (nothing with
/// `check`). A bad row stops the run, unless `skip_bad`: then it is reported
/// on `err` as `skipped line N: reason` and the run goes on. Fatal errors
/// (I/O, a bad header) always stop. A closed output (broken pipe) ends the
/// run quietly.
pub fn run(
    source: impl EventSource,
    mut out: impl Write,
    mut err: impl Write,
    skip_bad: bool,
    check: bool,
) -> Result<ConvertReport, ConvertError> {
    let mut report = ConvertReport::default();
    for item in source {
        match item {
            Ok(event) => {
                report.events += 1;
                if !check {
                    let written = out
                        .write_all(event.to_json().as_bytes())
                        .and_then(|()| out.write_all(b"\n"));
                    if let Err(e) = written {
                        return closed_output(e, report);
                    }
                }
            }
            Err(e) if e.is_fatal() || !skip_bad => return Err(e.into()),
            Err(e) => {
                report.skipped += 1;
                writeln!(err, "skipped {e}")?;
            }
        }
    }
    match out.flush() {
        Ok(()) => Ok(report),
        Err(e) => closed_output(e, report),
    }
}

fn closed_output(e: std::io::Error, report: ConvertReport) -> Result<ConvertReport, ConvertError> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(report)
    } else {
        Err(e.into())
    }
}

/// `kupala convert`: opens the file (or stdin), converts it to stdout and
/// reports skipped rows on stderr.
pub fn main(args: &ConvertArgs) -> anyhow::Result<()> {
    let input: Box<dyn BufRead> = if args.file.as_os_str() == "-" {
        Box::new(BufReader::with_capacity(1 << 16, std::io::stdin()))
    } else {
        let file =
            std::fs::File::open(&args.file).with_context(|| format!("opening {}", args.file.display()))?;
        Box::new(BufReader::with_capacity(1 << 16, file))
    };
    let source = AnySource::open(args.format, input, &args.options())?;
    let stdout = std::io::stdout().lock();
    let out = std::io::BufWriter::with_capacity(1 << 16, stdout);
    let report = run(source, out, std::io::stderr().lock(), args.skip_bad, args.check)?;
    if args.check {
        println!("{} events", report.events);
    }
    if report.skipped > 0 {
        tracing::warn!("skipped {} bad row(s)", report.skipped);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convert(
        format: Format,
        input: &str,
        skip_bad: bool,
    ) -> (Result<ConvertReport, String>, String, String) {
        let opts = SourceOptions {
            instrument: (format != Format::Jsonl && format != Format::Trades).then(|| "X".to_owned()),
            ..SourceOptions::default()
        };
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let result = AnySource::open(format, input.as_bytes(), &opts)
            .map_err(ConvertError::from)
            .and_then(|src| run(src, &mut out, &mut err, skip_bad, false))
            .map_err(|e| e.to_string());
        let text = |b: Vec<u8>| String::from_utf8(b).unwrap_or_default();
        (result, text(out), text(err))
    }

    #[test]
    fn writes_one_json_event_per_line_that_jsonl_reads_back() {
        let (r, out, _) = convert(
            Format::Quotes,
            "ts,bid,ask\n2020-01-01T00:00:00Z,1,2\n2020-01-01T00:00:01Z,1,3\n",
            false,
        );
        assert_eq!(
            r,
            Ok(ConvertReport {
                events: 2,
                skipped: 0
            })
        );
        let (again, back, _) = convert(Format::Jsonl, &out, false);
        assert_eq!(again.map(|r| r.events), Ok(2));
        assert_eq!(back, out);
        assert_eq!(
            out.lines().next(),
            Some(r#"{"type":"tick","ts":"2020-01-01T00:00:00Z","instrument":"X","price":"1.5"}"#)
        );
    }

    #[test]
    fn a_bad_row_stops_unless_skipped() {
        let input = "ts,price\n2020-01-01,1\n2020-01-01,x\n2020-01-02,2\n";
        let (r, out, _) = convert(Format::Ticks, input, false);
        assert_eq!(r, Err(r#"line 3: price: "x" is not a decimal number"#.to_owned()));
        assert_eq!(out.lines().count(), 1);
        let (r, out, err) = convert(Format::Ticks, input, true);
        assert_eq!(
            r,
            Ok(ConvertReport {
                events: 2,
                skipped: 1
            })
        );
        assert_eq!(out.lines().count(), 2);
        assert_eq!(err, "skipped line 3: price: \"x\" is not a decimal number\n");
    }

    #[test]
    fn header_errors_stop_even_with_skip_bad() {
        let (r, _, _) = convert(Format::Bars, "ts,open,high,low\n", true);
        assert!(r.is_err_and(|e| e.starts_with("line 1: no `close` column")));
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("-05:00"), Ok(-18_000));
        assert_eq!(parse_offset("+0530"), Ok(19_800));
        assert_eq!(parse_offset("+01"), Ok(3_600));
        assert_eq!(parse_offset("UTC"), Ok(0));
        assert!(parse_offset("5").is_err());
        assert!(parse_offset("+25:00").is_err());
        assert!(parse_offset("-0é").is_err());
        assert!(parse_offset("+0é0").is_err());
    }
}
