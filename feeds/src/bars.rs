//! OHLC bars → ticks. Columns by name: `ts` (the bar's start), `open`,
//! `high`, `low`, `close`, and an instrument column or `--instrument`;
//! others (`volume`...) are ignored.
//!
//! Each bar becomes four ticks, a plausible path through it: `open` at the
//! bar's start `t`; then, when `close >= open`, `low` at `t + L/4` and
//! `high` at `t + 2L/4`, else `high` then `low`; `close` at `t + 3L/4`.
//! All four are emitted even when prices repeat, so a file of `n` bars gives
//! `4n` ticks.
//!
//! The bar length `L` is `SourceOptions::bar_nanos` when given; else the
//! smallest positive gap between consecutive bar starts seen so far,
//! including the gap to the next bar (each bar is held back until the next
//! one is read); else one minute. A date alone starts its bar at 00:00 UTC,
//! so daily bars spread over the day: 00:00, 06:00, 12:00, 18:00.
//!
//! A bar whose high is below its open or close, or whose low is above them,
//! is refused as a bad row. A bad row's error comes out after the ticks of
//! the bar before it (held back), so items stay in file order.
//!
//! Without a header (`--no-header`) the columns are `ts,open,high,low,close`
//! (extra trailing columns, e.g. volume, ignored).

use std::io::BufRead;

use kupala_engine::Event;
use kupala_engine::event::Tick;
use kupala_engine::num::Price;
use kupala_engine::time::Timestamp;

use crate::FeedError;
use crate::csv::Record;
use crate::source::SourceOptions;
use crate::table::{Column, CsvSource, Decode, Header, InstrumentOf, Ready, TS_NAMES};
use crate::values::checked;

/// The columns of a file without a header.
pub const LAYOUT: &[&str] = &["ts", "open", "high", "low", "close"];
/// Bar length when nothing tells otherwise: one minute, in nanoseconds.
pub const DEFAULT_BAR_NANOS: i64 = 60_000_000_000;

/// One bar, checked, with its open tick already built, and the errors of
/// the rows read while it was held back.
#[derive(Debug)]
struct Bar {
    line: u64,
    open: Tick,
    high: Price,
    low: Price,
    close: Price,
    errors: Vec<FeedError>,
}

/// Turns bars into ticks, holding one bar back to learn the bar length.
#[derive(Debug)]
pub struct BarDecoder {
    ts: Column,
    instrument: InstrumentOf,
    open: Column,
    high: Column,
    low: Column,
    close: Column,
    utc_offset: i32,
    fixed_len: Option<i64>,
    min_gap: Option<i64>,
    pending: Option<Bar>,
}

impl BarDecoder {
    /// Binds to a header.
    pub fn bind(header: &Header, opts: &SourceOptions) -> Result<Self, String> {
        Ok(Self {
            ts: header.require(TS_NAMES)?,
            instrument: InstrumentOf::bind(header, opts)?,
            open: header.require(&["open"])?,
            high: header.require(&["high"])?,
            low: header.require(&["low"])?,
            close: header.require(&["close"])?,
            utc_offset: opts.utc_offset,
            fixed_len: opts.bar_nanos.filter(|&n| n > 0),
            min_gap: None,
            pending: None,
        })
    }

    /// Reads and checks one bar.
    fn bar(&self, line: u64, rec: Record<'_>) -> Result<Bar, String> {
        let ts = self
            .ts
            .stamp(rec, self.utc_offset)?
            .at_or(0)
            .map_err(|e| self.ts.err(e))?;
        let instrument = self.instrument.of(rec)?;
        let open = self.open.price(rec)?;
        let (high, low, close) = (
            self.high.price(rec)?,
            self.low.price(rec)?,
            self.close.price(rec)?,
        );
        for (name, price) in [("open", open), ("close", close)] {
            if high < price {
                return Err(format!("high {high} is below {name} {price}"));
            }
            if low > price {
                return Err(format!("low {low} is above {name} {price}"));
            }
        }
        let Event::Tick(open) = checked(Event::Tick(Tick {
            ts,
            instrument,
            price: open,
        }))?
        else {
            return Err("not a tick".to_owned());
        };
        Ok(Bar {
            line,
            open,
            high,
            low,
            close,
            errors: Vec::new(),
        })
    }

    fn bar_len(&self) -> i64 {
        self.fixed_len.or(self.min_gap).unwrap_or(DEFAULT_BAR_NANOS)
    }

    /// Pushes the four ticks of the held bar, if any.
    fn emit_pending(&mut self, out: &mut Ready) {
        let len = self.bar_len();
        let Some(bar) = self.pending.take() else {
            return;
        };
        let (second, third) = if bar.close >= bar.open.price {
            (bar.low, bar.high)
        } else {
            (bar.high, bar.low)
        };
        let start = bar.open.ts.0;
        let at = |k: i64, price: Price| Tick {
            ts: Timestamp(start.saturating_add(len / 4 * k)),
            instrument: bar.open.instrument.clone(),
            price,
        };
        let rest = [at(1, second), at(2, third), at(3, bar.close)];
        out.push_back((bar.line, Ok(Event::Tick(bar.open))));
        out.extend(rest.map(|t| (bar.line, Ok(Event::Tick(t)))));
        out.extend(bar.errors.into_iter().map(|e| (e.line(), Err(e))));
    }
}

impl Decode for BarDecoder {
    fn decode(&mut self, line: u64, rec: Record<'_>, out: &mut Ready) -> Result<(), String> {
        let bar = self.bar(line, rec)?;
        if let Some(prev) = &self.pending {
            let gap = bar.open.ts.0.saturating_sub(prev.open.ts.0);
            if gap > 0 {
                self.min_gap = Some(self.min_gap.map_or(gap, |g| g.min(gap)));
            }
            self.emit_pending(out);
        }
        self.pending = Some(bar);
        Ok(())
    }

    fn reject(&mut self, error: FeedError, out: &mut Ready) {
        match &mut self.pending {
            Some(bar) => bar.errors.push(error),
            None => out.push_back((error.line(), Err(error))),
        }
    }

    fn flush(&mut self, out: &mut Ready) {
        self.emit_pending(out);
    }
}

/// Opens a bar file.
pub fn open<R: BufRead>(reader: R, opts: &SourceOptions) -> Result<CsvSource<R, BarDecoder>, FeedError> {
    CsvSource::open(reader, opts, LAYOUT, |h| BarDecoder::bind(h, opts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(input: &str, bar_nanos: Option<i64>) -> Vec<String> {
        let opts = SourceOptions {
            instrument: Some("X".to_owned()),
            bar_nanos,
            ..SourceOptions::default()
        };
        match open(input.as_bytes(), &opts) {
            Ok(src) => src
                .map(|r| match r {
                    Ok(Event::Tick(t)) => format!("{} {}", t.ts, t.price),
                    Ok(e) => e.to_json(),
                    Err(e) => e.to_string(),
                })
                .collect(),
            Err(e) => vec![format!("open: {e}")],
        }
    }

    #[test]
    fn up_bars_visit_the_low_first_down_bars_the_high() {
        let got = run(
            "timestamp,open,high,low,close,volume\n\
             2022-01-01 00:00:00,10,12,9,11,5\n\
             2022-01-01 00:01:00,11,11.5,8,9,5\n",
            None,
        );
        let want = [
            "2022-01-01T00:00:00Z 10",
            "2022-01-01T00:00:15Z 9",
            "2022-01-01T00:00:30Z 12",
            "2022-01-01T00:00:45Z 11",
            "2022-01-01T00:01:00Z 11",
            "2022-01-01T00:01:15Z 11.5",
            "2022-01-01T00:01:30Z 8",
            "2022-01-01T00:01:45Z 9",
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn bar_length_is_the_smallest_gap_else_a_minute_else_the_option() {
        let daily = "date,open,high,low,close\n2000-01-03,1,2,1,2\n2000-01-04,2,2,1,1\n2000-01-07,1,1,1,1\n";
        let got = run(daily, None);
        assert_eq!(got.len(), 12);
        assert_eq!(got[3], "2000-01-03T18:00:00Z 2");
        assert_eq!(got[11], "2000-01-07T18:00:00Z 1");
        let single = run("ts,open,high,low,close\n2000-01-03T10:00:00Z,1,2,1,2\n", None);
        assert_eq!(single[3], "2000-01-03T10:00:45Z 2");
        let hourly = run(
            "ts,open,high,low,close\n2000-01-03T10:00:00Z,1,2,1,2\n",
            Some(3_600_000_000_000),
        );
        assert_eq!(hourly[3], "2000-01-03T10:45:00Z 2");
    }

    #[test]
    fn impossible_bars_are_refused_in_file_order() {
        let got = run(
            "ts,open,high,low,close\n2000-01-03,1,2,1,2\n2000-01-04,1,1,1,1\n\
             2000-01-05,3,2,1,2\n2000-01-06,1,2,1.5,2\n2000-01-07,1,1,1,1\n",
            None,
        );
        assert_eq!(got.len(), 14);
        assert_eq!(got[3], "2000-01-03T18:00:00Z 2");
        assert_eq!(got[7], "2000-01-04T18:00:00Z 1");
        assert_eq!(got[8], "line 4: high 2 is below open 3");
        assert_eq!(got[9], "line 5: low 1.5 is above open 1");
        assert_eq!(got[10], "2000-01-07T00:00:00Z 1");
        let first_bad = run(
            "ts,open,high,low,close\n2000-01-03,1,0,1,2\n2000-01-04,1,1,1,1\n",
            None,
        );
        assert_eq!(first_bad[0], "line 2: high 0 is below open 1");
        assert_eq!(first_bad.len(), 5);
    }
}
