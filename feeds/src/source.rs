//! One abstraction over every event source: [`EventSource`] (an iterator of
//! `Result<Event, FeedError>` that knows its position), the file
//! [`Format`]s, and [`AnySource`], the source [`open`] returns for a format
//! chosen at run time (`kupala convert --format`, later `calc`, `serve`,
//! `replay`).

use std::fmt;
use std::io::BufRead;
use std::str::FromStr;

use kupala_engine::Event;

use crate::table::{CsvSource, Decode};
use crate::{FeedError, JsonlSource, bars, csv_ticks, csv_trades, quotes, yahoo};

/// A stream of events from one source, in source order. Each error names
/// its line; [`FeedError::is_fatal`] says whether the stream has ended.
pub trait EventSource: Iterator<Item = Result<Event, FeedError>> {
    /// The 1-based line of the last item returned (0 before the first):
    /// where a caller should say an event came from.
    fn position(&self) -> u64;
}

impl<R: BufRead> EventSource for JsonlSource<R> {
    fn position(&self) -> u64 {
        self.line()
    }
}

/// The file formats kupala reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    /// JSON Lines events (docs/events.md), one object per line.
    Jsonl,
    /// A CSV trade blotter ([`csv_trades`]).
    Trades,
    /// CSV prices ([`csv_ticks`]).
    Ticks,
    /// CSV OHLC bars, each becoming four ticks ([`bars`]).
    Bars,
    /// CSV bid/ask quotes, each becoming a mid-price tick ([`quotes`]).
    Quotes,
    /// Yahoo-style daily CSV, a tick per day at the close ([`yahoo`]).
    Yahoo,
}

impl Format {
    /// Every format, in the order of the help text.
    pub const ALL: [Self; 6] = [
        Self::Jsonl,
        Self::Trades,
        Self::Ticks,
        Self::Bars,
        Self::Quotes,
        Self::Yahoo,
    ];

    /// The format's name on the command line.
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Jsonl => "jsonl",
            Self::Trades => "trades",
            Self::Ticks => "ticks",
            Self::Bars => "bars",
            Self::Quotes => "quotes",
            Self::Yahoo => "yahoo",
        }
    }

    /// The columns of a file of this format without a header (`--no-header`);
    /// `None` for formats that need a header (trades) or have none (jsonl).
    #[must_use]
    pub const fn layout(self) -> Option<&'static [&'static str]> {
        match self {
            Self::Jsonl | Self::Trades => None,
            Self::Ticks => Some(csv_ticks::LAYOUT),
            Self::Bars => Some(bars::LAYOUT),
            Self::Quotes => Some(quotes::LAYOUT),
            Self::Yahoo => Some(yahoo::LAYOUT),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL.into_iter().find(|f| f.name() == s).ok_or_else(|| {
            let names: Vec<_> = Self::ALL.iter().map(|f| f.name()).collect();
            format!("unknown format {s:?} (one of {})", names.join(", "))
        })
    }
}

/// How to read a CSV file; the defaults suit a file with a header, UTC times
/// and an instrument column.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceOptions {
    /// The instrument of every row, for files without an instrument column.
    pub instrument: Option<String>,
    /// The file has no header: its columns are the format's layout
    /// ([`Format::layout`]).
    pub no_header: bool,
    /// UTC offset, in seconds east of UTC, of timestamps that carry none
    /// (0: they are UTC; -18000 for US Eastern standard time).
    pub utc_offset: i32,
    /// Bar length in nanoseconds; `None` infers it from the bars' timestamps.
    pub bar_nanos: Option<i64>,
}

/// A CSV adapter with its decoder chosen at run time.
pub type DynCsvSource<R> = CsvSource<R, Box<dyn Decode + Send>>;

/// A source of any [`Format`].
#[derive(Debug)]
pub enum AnySource<R> {
    /// JSON Lines.
    Jsonl(JsonlSource<R>),
    /// One of the CSV adapters.
    Csv(DynCsvSource<R>),
}

impl<R: BufRead> AnySource<R> {
    /// Opens `reader` as `format`. CSV formats read their header here, so a
    /// missing column is reported before the first row.
    pub fn open(format: Format, reader: R, opts: &SourceOptions) -> Result<Self, FeedError> {
        let refuse = |reason: String| Err(FeedError::Header { line: 0, reason });
        if opts.no_header && format.layout().is_none() {
            return refuse(format!("--no-header does not apply to the {format} format"));
        }
        if format == Format::Jsonl && opts.instrument.is_some() {
            return refuse("--instrument does not apply to the jsonl format".to_owned());
        }
        let csv = match format {
            Format::Jsonl => return Ok(Self::Jsonl(JsonlSource::new(reader))),
            Format::Trades => csv_trades::open(reader, opts).map(boxed),
            Format::Ticks => csv_ticks::open(reader, opts).map(boxed),
            Format::Bars => bars::open(reader, opts).map(boxed),
            Format::Quotes => quotes::open(reader, opts).map(boxed),
            Format::Yahoo => yahoo::open(reader, opts).map(boxed),
        };
        csv.map(Self::Csv)
    }
}

fn boxed<R: BufRead, D: Decode + Send + 'static>(s: CsvSource<R, D>) -> DynCsvSource<R> {
    s.map_decoder(|d| Box::new(d) as Box<dyn Decode + Send>)
}

impl<R: BufRead> Iterator for AnySource<R> {
    type Item = Result<Event, FeedError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            Self::Jsonl(s) => s.next(),
            Self::Csv(s) => s.next(),
        }
    }
}

impl<R: BufRead> EventSource for AnySource<R> {
    fn position(&self) -> u64 {
        match self {
            Self::Jsonl(s) => s.line(),
            Self::Csv(s) => s.position(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_parse_by_name() {
        for f in Format::ALL {
            assert_eq!(f.name().parse::<Format>(), Ok(f));
        }
        assert!(
            "csv"
                .parse::<Format>()
                .is_err_and(|e| e.contains("one of jsonl, trades"))
        );
    }

    #[test]
    fn opens_every_format_and_refuses_a_header_flag_that_does_not_apply() {
        let opts = SourceOptions {
            no_header: true,
            ..SourceOptions::default()
        };
        let err = AnySource::open(Format::Trades, &b""[..], &opts)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--no-header does not apply to the trades format")
        );
        let opts = SourceOptions {
            instrument: Some("X".to_owned()),
            ..SourceOptions::default()
        };
        let err = AnySource::open(Format::Jsonl, &b""[..], &opts)
            .err()
            .map(|e| e.to_string());
        assert_eq!(
            err.as_deref(),
            Some("--instrument does not apply to the jsonl format")
        );
        let jsonl = AnySource::open(
            Format::Jsonl,
            &b"{\"type\":\"eod\",\"date\":\"2026-11-30\"}\n"[..],
            &SourceOptions::default(),
        );
        let kinds: Vec<_> = jsonl.into_iter().flatten().map(|r| r.map(|e| e.kind())).collect();
        assert!(matches!(kinds.as_slice(), [Ok("eod")]));
        let ticks = AnySource::open(
            Format::Ticks,
            &b"ts,instrument,price\n2026-11-30,X,1\n"[..],
            &SourceOptions::default(),
        );
        let mut ticks = ticks.into_iter().flatten();
        assert!(matches!(ticks.next(), Some(Ok(Event::Tick(_)))));
        assert!(ticks.next().is_none());
    }
}
