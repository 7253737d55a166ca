//! Timestamps as market-data files write them, parsed by `jiff` into exact
//! [`Timestamp`] nanoseconds (integers throughout, no float).
//!
//! Accepted shapes:
//! - RFC 3339 and its space-separated cousin:
//!   `2026-11-30T14:30:00.250Z`, `2013-01-01 22:00:00.295000+00:00`,
//!   `2021-12-31 23:01:00.000000` (seconds optional, 1 to 9 fraction digits,
//!   offset `Z`, `±HH:MM`, `±HHMM` or `±HH`);
//! - compact `YYYYMMDD HHMMSS[fff…]` (HistData): `20200101 170000065`;
//! - dates alone: `2026-11-30`, `20261130`, `Nov 30 2026`, `Nov 30, 2026`,
//!   `November 30 2026` (a month name in full or cut to three letters or
//!   more, `Sept` too).
//!
//! A timestamp without an offset is *naive*: it is read at the caller's
//! UTC offset (UTC by default). A date alone is a [`Stamp::Day`]; each
//! adapter decides which time of that day it stands for.
//!
//! Any other timestamp with an offset that jiff's RFC 3339 / ISO 8601
//! parser reads is accepted as jiff reads it (`2026-11-30T14Z`,
//! `+05:30:15`, a `[UTC]` annotation). A leap second (`:60`) in the
//! shapes above is refused.
//!
//! jiff does the range checks and the calendar arithmetic (valid dates,
//! times of day, days since 1970, offsets to UTC) and reads month names
//! (`strtime`) and the other RFC 3339 forms. The numeric shapes above are
//! recognised here, a byte scan that reads their digits as it goes: those
//! shapes are stricter than ISO 8601 (no naive `T14`, no `[…]` after a
//! naive time, HistData's fraction without a `.`), and going through
//! jiff's Temporal parser as well cost about 300 instructions a timestamp,
//! 5-13 % more for a whole CSV adapter.

use jiff::civil::{Date, Time};
use jiff::fmt::strtime;
use jiff::tz::Offset;
use kupala_engine::time::Timestamp;

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i128 = 86_400;
/// The time of day a date-only price stands for: 21:00:00 UTC, the New York
/// close (16:00 EST) of the day, when daily closing prices are published.
pub const CLOSE_SECS: i64 = 21 * 3600;
const OUT_OF_RANGE: &str = "timestamp is outside 1677-2262";

/// A parsed timestamp: an instant, or a calendar day with no time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamp {
    /// A point in time.
    At(Timestamp),
    /// A date without a time, as days since 1970-01-01.
    Day(i64),
}

impl Stamp {
    /// The instant, or for a date alone that day at `secs` after midnight UTC.
    pub fn at_or(self, secs: i64) -> Result<Timestamp, String> {
        match self {
            Self::At(ts) => Ok(ts),
            Self::Day(days) => nanos((i128::from(days) * SECS_PER_DAY + i128::from(secs)) * NANOS_PER_SEC),
        }
    }

    /// The instant, or for a date alone 21:00:00 UTC of that day ([`CLOSE_SECS`]).
    pub fn at_close(self) -> Result<Timestamp, String> {
        self.at_or(CLOSE_SECS)
    }
}

/// Parses one of the accepted shapes; `utc_offset_secs` is the offset of
/// naive timestamps (east of UTC positive, e.g. -18000 for EST).
pub fn parse(s: &str, utc_offset_secs: i32) -> Result<Stamp, String> {
    let b = s.as_bytes();
    let parsed = if b.first().is_some_and(u8::is_ascii_alphabetic) {
        named_date(s)
    } else {
        numeric(b, utc_offset_secs)
    };
    match parsed {
        Some(Ok(stamp)) => Ok(stamp),
        Some(Err(Refused::Date)) => Err(format!("{s:?} is not a valid date")),
        Some(Err(Refused::Time)) => Err(format!("{s:?} is not a valid time of day")),
        Some(Err(Refused::Range)) => Err(OUT_OF_RANGE.to_owned()),
        // Any other ISO 8601 timestamp with an offset (`2026-11-30T14Z`,
        // `+05:30:15`, `[UTC]` annotations...), as jiff reads it.
        None => Timestamp::parse(s).map(Stamp::At).map_err(|_| bad(s)),
    }
}

fn bad(s: &str) -> String {
    format!(
        "{s:?} is not a timestamp (try \"2026-11-30T14:30:00Z\", \"2026-11-30 14:30:00.250\", \
         \"20261130 143000250\", \"2026-11-30\" or \"Nov 30 2026\")"
    )
}

/// Why a text of one of the shapes is refused.
enum Refused {
    /// No such day.
    Date,
    /// No such time of day (a leap second included).
    Time,
    /// Outside what nanoseconds since 1970 in an `i64` hold.
    Range,
}

fn nanos(total: i128) -> Result<Timestamp, String> {
    i64::try_from(total)
        .map(Timestamp)
        .map_err(|_| OUT_OF_RANGE.to_owned())
}

/// Days since 1970-01-01.
fn epoch_days(date: Date) -> i64 {
    date.duration_since(jiff::civil::date(1970, 1, 1)).as_secs() / 86_400
}

/// The numeric shapes: `None` when `b` is none of them (the caller then
/// asks jiff's RFC 3339 parser), an error when it is one but names no
/// such date or time. The digits are read here, where the shape is
/// recognised; jiff checks every range and does the calendar arithmetic.
fn numeric(b: &[u8], utc_offset_secs: i32) -> Option<Result<Stamp, Refused>> {
    let mut c = Scan { b, i: 0 };
    let (dashed, date) = c.date()?;
    // The date is checked as soon as it is read, whatever follows it.
    let Ok(date) = date else {
        return Some(Err(Refused::Date));
    };
    if c.done() {
        return Some(Ok(Stamp::Day(epoch_days(date))));
    }
    c.need_any(b"Tt ")?;
    let (h, m) = if dashed {
        let h = c.digits(2)?;
        c.need(b':')?;
        (h, c.digits(2)?)
    } else {
        (c.digits(2)?, c.digits(2)?)
    };
    let (s, nanos) = if !dashed {
        let s = c.digits(2)?;
        // HistData: the fraction's digits straight after the seconds.
        let f = if c.peek().is_some_and(|d| d.is_ascii_digit()) {
            c.fraction()?
        } else {
            0
        };
        (s, f)
    } else if c.eat(b':') {
        let s = c.digits(2)?;
        let f = if c.eat(b'.') || c.eat(b',') {
            c.fraction()?
        } else {
            0
        };
        (s, f)
    } else {
        (0, 0)
    };
    let offset = if c.done() { utc_offset_secs } else { c.zone()? };
    if !c.done() {
        return None;
    }
    // jiff's Time has no leap second either (its parsers read `:60` as `:59`).
    let time = [h, m, s].map(i8::try_from);
    let [Ok(h), Ok(m), Ok(s)] = time else {
        return Some(Err(Refused::Time));
    };
    let Ok(time) = Time::new(h, m, s, nanos) else {
        return Some(Err(Refused::Time));
    };
    let Ok(at) = Offset::UTC.to_timestamp(date.to_datetime(time)) else {
        return Some(Err(Refused::Range));
    };
    let total = at.as_nanosecond() - i128::from(offset) * NANOS_PER_SEC;
    Some(
        i64::try_from(total)
            .map(|n| Stamp::At(Timestamp(n)))
            .map_err(|_| Refused::Range),
    )
}

/// A cursor over the bytes of a timestamp.
struct Scan<'a> {
    b: &'a [u8],
    i: usize,
}

impl Scan<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    const fn done(&self) -> bool {
        self.i >= self.b.len()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn need(&mut self, c: u8) -> Option<()> {
        self.eat(c).then_some(())
    }

    fn need_any(&mut self, set: &[u8]) -> Option<()> {
        set.contains(&self.peek()?).then(|| self.i += 1)
    }

    /// `n` digits as a number.
    fn digits(&mut self, n: usize) -> Option<i32> {
        let part = self.b.get(self.i..self.i + n)?;
        let mut v = 0;
        for &d in part {
            v = v * 10 + i32::from(d.is_ascii_digit().then(|| d - b'0')?);
        }
        self.i += n;
        Some(v)
    }

    /// `YYYY-MM-DD` or `YYYYMMDD`: whether dashed, and the date if valid.
    fn date(&mut self) -> Option<(bool, Result<Date, jiff::Error>)> {
        let y = self.digits(4)?;
        let dashed = self.eat(b'-');
        let m = self.digits(2)?;
        if dashed {
            self.need(b'-')?;
        }
        let d = self.digits(2)?;
        // Four and two digits always fit.
        let (Ok(y), Ok(m), Ok(d)) = (i16::try_from(y), i8::try_from(m), i8::try_from(d)) else {
            return None;
        };
        Some((dashed, Date::new(y, m, d)))
    }

    /// 1 to 9 fraction digits, as nanoseconds.
    fn fraction(&mut self) -> Option<i32> {
        let mut v = 0;
        let mut n = 0;
        while let Some(d) = self.peek().filter(u8::is_ascii_digit) {
            if n == 9 {
                return None;
            }
            v = v * 10 + i32::from(d - b'0');
            n += 1;
            self.i += 1;
        }
        (n > 0).then(|| v * 10_i32.pow(9 - n))
    }

    /// `Z`, `z`, `±HH`, `±HHMM` or `±HH:MM` under 24 hours, as seconds
    /// east of UTC.
    fn zone(&mut self) -> Option<i32> {
        if self.eat(b'Z') || self.eat(b'z') {
            return Some(0);
        }
        let sign = if self.eat(b'+') {
            1
        } else if self.eat(b'-') {
            -1
        } else {
            return None;
        };
        let h = self.digits(2)?;
        let m = if self.done() {
            0
        } else {
            self.eat(b':');
            self.digits(2)?
        };
        (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
    }
}

/// `Jan 1 2000`, `Jan 01, 2000`, `January 1 2000`, `Sept 30 2004`;
/// `None` when the text is not a month name, a day and a year.
fn named_date(s: &str) -> Option<Result<Stamp, Refused>> {
    let mut parts = s.split([' ', ',']).filter(|p| !p.is_empty());
    let (name, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    let number = |p: &str, len: std::ops::RangeInclusive<usize>| {
        len.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_digit())
    };
    if parts.next().is_some() || !number(day, 1..=2) || !number(year, 4..=4) {
        return None;
    }
    // The month by jiff's names: the first three letters name it, and the
    // rest must follow its full name (`Nov`, `Novem`, `November`) or be `Sept`.
    let month = strtime::parse("%b", name.get(..3)?).ok()?.month()?;
    let full = Date::new(2000, month, 1).ok()?.strftime("%B").to_string();
    let named = name.eq_ignore_ascii_case("sept")
        || full
            .get(..name.len())
            .is_some_and(|p| p.eq_ignore_ascii_case(name));
    if !named {
        return None;
    }
    let (Ok(day), Ok(year)) = (day.parse(), year.parse()) else {
        return None;
    };
    Some(
        Date::new(year, month, day)
            .map(|d| Stamp::Day(epoch_days(d)))
            .map_err(|_| Refused::Date),
    )
}

#[cfg(test)]
mod tests;
