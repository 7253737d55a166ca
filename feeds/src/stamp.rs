//! Timestamps as market-data files write them, parsed exactly (integer
//! arithmetic, no float) into [`Timestamp`] nanoseconds.
//!
//! Accepted shapes:
//! - RFC 3339 and its space-separated cousin:
//!   `2026-11-30T14:30:00.250Z`, `2013-01-01 22:00:00.295000+00:00`,
//!   `2021-12-31 23:01:00.000000` (seconds optional, 1 to 9 fraction digits,
//!   offset `Z`, `±HH:MM`, `±HHMM` or `±HH`);
//! - compact `YYYYMMDD HHMMSS[fff…]` (HistData): `20200101 170000065`;
//! - dates alone: `2026-11-30`, `20261130`, `Nov 30 2026`, `Nov 30, 2026`,
//!   `November 30 2026`.
//!
//! A timestamp without an offset is *naive*: it is read at the caller's
//! UTC offset (UTC by default). A date alone is a [`Stamp::Day`]; each
//! adapter decides which time of that day it stands for.

use kupala_engine::time::Timestamp;

const NANOS_PER_SEC: i128 = 1_000_000_000;
const SECS_PER_DAY: i128 = 86_400;
/// The time of day a date-only price stands for: 21:00:00 UTC, the New York
/// close (16:00 EST) of the day, when daily closing prices are published.
pub const CLOSE_SECS: i64 = 21 * 3600;

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
            Self::Day(days) => to_timestamp(days, i128::from(secs) * NANOS_PER_SEC, 0),
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
    let parsed = match b.first() {
        Some(c) if c.is_ascii_digit() => numeric(b, utc_offset_secs),
        Some(c) if c.is_ascii_alphabetic() => month_name(s),
        _ => None,
    };
    match parsed {
        Some(r) => r,
        None => Timestamp::parse(s).map(Stamp::At).map_err(|_| bad(s)),
    }
}

fn bad(s: &str) -> String {
    format!(
        "{s:?} is not a timestamp (try \"2026-11-30T14:30:00Z\", \"2026-11-30 14:30:00.250\", \
         \"20261130 143000250\", \"2026-11-30\" or \"Nov 30 2026\")"
    )
}

/// A cursor over ASCII bytes.
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cur<'_> {
    fn digits(&mut self, n: usize) -> Option<i64> {
        let part = self.b.get(self.i..self.i + n)?;
        let mut v = 0;
        for &c in part {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        self.i += n;
        Some(v)
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.b.get(self.i) == Some(&c);
        self.i += usize::from(hit);
        hit
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    const fn done(&self) -> bool {
        self.i >= self.b.len()
    }
}

/// `None` when the text does not look like a shape handled here (the
/// caller then tries RFC 3339 through jiff); `Some(Err)` when it does but a
/// value is out of range.
fn numeric(b: &[u8], offset: i32) -> Option<Result<Stamp, String>> {
    let mut c = Cur { b, i: 0 };
    let y = c.digits(4)?;
    let dashed = c.eat(b'-');
    let m = c.digits(2)?;
    if dashed && !c.eat(b'-') {
        return None;
    }
    let d = c.digits(2)?;
    let text = || String::from_utf8_lossy(b).into_owned();
    let Some(days) = days_from_civil(y, m, d) else {
        return Some(Err(format!("{:?} is not a valid date", text())));
    };
    if c.done() {
        return Some(Ok(Stamp::Day(days)));
    }
    if !(c.eat(b'T') || c.eat(b't') || c.eat(b' ')) {
        return None;
    }
    let (secs, nanos) = if dashed {
        clock(&mut c)?
    } else {
        compact_clock(&mut c)?
    };
    let zone = if c.done() {
        Some(i64::from(offset))
    } else {
        zone(&mut c)
    };
    let zone = zone.filter(|_| c.done())?;
    let Some(secs) = secs else {
        return Some(Err(format!("{:?} is not a valid time of day", text())));
    };
    Some(to_timestamp(days, i128::from(secs - zone) * NANOS_PER_SEC, nanos).map(Stamp::At))
}

/// `HH:MM[:SS[.fff]]`: (seconds of day if valid, nanos).
fn clock(c: &mut Cur<'_>) -> Option<(Option<i64>, i64)> {
    let h = c.digits(2)?;
    if !c.eat(b':') {
        return None;
    }
    let mi = c.digits(2)?;
    let (s, nanos) = if c.eat(b':') {
        let s = c.digits(2)?;
        let nanos = if c.eat(b'.') || c.eat(b',') {
            fraction(c)?
        } else {
            0
        };
        (s, nanos)
    } else {
        (0, 0)
    };
    Some((seconds_of_day(h, mi, s), nanos))
}

/// `HHMMSS[fff…]` (HistData: milliseconds straight after the seconds).
fn compact_clock(c: &mut Cur<'_>) -> Option<(Option<i64>, i64)> {
    let h = c.digits(2)?;
    let mi = c.digits(2)?;
    let s = c.digits(2)?;
    let nanos = if c.peek().is_some_and(|d| d.is_ascii_digit()) {
        fraction(c)?
    } else {
        0
    };
    Some((seconds_of_day(h, mi, s), nanos))
}

/// 1 to 9 fraction digits as nanoseconds.
fn fraction(c: &mut Cur<'_>) -> Option<i64> {
    let start = c.i;
    let mut v = 0;
    while let Some(d) = c.peek().filter(u8::is_ascii_digit) {
        if c.i - start == 9 {
            return None;
        }
        v = v * 10 + i64::from(d - b'0');
        c.i += 1;
    }
    let n = c.i - start;
    if n == 0 {
        return None;
    }
    (n..9).for_each(|_| v *= 10);
    Some(v)
}

/// `Z`, `±HH:MM`, `±HHMM` or `±HH` as seconds east of UTC.
fn zone(c: &mut Cur<'_>) -> Option<i64> {
    if c.eat(b'Z') || c.eat(b'z') {
        return Some(0);
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let h = c.digits(2)?;
    let m = if c.done() {
        0
    } else {
        c.eat(b':');
        c.digits(2)?
    };
    (h < 24 && m < 60).then_some(sign * (h * 3600 + m * 60))
}

fn seconds_of_day(h: i64, m: i64, s: i64) -> Option<i64> {
    (h < 24 && m < 60 && s < 60).then_some(h * 3600 + m * 60 + s)
}

/// `Jan 1 2000`, `Jan 01, 2000`, `January 1 2000`.
fn month_name(s: &str) -> Option<Result<Stamp, String>> {
    let mut parts = s.split([' ', ',']).filter(|p| !p.is_empty());
    let (name, day, year) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !day.bytes().chain(year.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let m = month_number(name)?;
    let (Ok(d), Ok(y)) = (day.parse::<i64>(), year.parse::<i64>()) else {
        return None;
    };
    if day.len() > 2 || year.len() != 4 {
        return None;
    }
    Some(
        days_from_civil(y, m, d)
            .map(Stamp::Day)
            .ok_or_else(|| format!("{s:?} is not a valid date")),
    )
}

/// `Jan`, `jan`, `January`, `Sept`... as 1 to 12 (at least three letters).
fn month_number(name: &str) -> Option<i64> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    if name.len() < 3 {
        return None;
    }
    let name = if name.eq_ignore_ascii_case("sept") {
        "sep"
    } else {
        name
    };
    let hit = MONTHS
        .iter()
        .position(|m| m.get(..name.len()).is_some_and(|p| p.eq_ignore_ascii_case(name)))?;
    i64::try_from(hit + 1).ok()
}

/// Days since 1970-01-01 of a valid proleptic Gregorian date (H. Hinnant's
/// `days_from_civil`); `None` for an invalid month or day.
fn days_from_civil(y: i64, m: i64, d: i64) -> Option<i64> {
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let month_len = match m {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        _ => return None,
    };
    if !(1..=month_len).contains(&d) {
        return None;
    }
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    Some(era * 146_097 + doe - 719_468)
}

fn to_timestamp(days: i64, nanos_of_day: i128, nanos: i64) -> Result<Timestamp, String> {
    let total = i128::from(days) * SECS_PER_DAY * NANOS_PER_SEC + nanos_of_day + i128::from(nanos);
    i64::try_from(total)
        .map(Timestamp)
        .map_err(|_| "timestamp is outside 1677-2262".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> String {
        match parse(s, 0) {
            Ok(Stamp::At(t)) => t.to_string(),
            Ok(Stamp::Day(d)) => format!("day {d}"),
            Err(e) => format!("error {e}"),
        }
    }

    #[test]
    fn reads_every_shape_of_the_real_files() {
        assert_eq!(at("2013-01-01 22:00:00.295000+00:00"), "2013-01-01T22:00:00.295Z");
        assert_eq!(at("20200101 170000065"), "2020-01-01T17:00:00.065Z");
        assert_eq!(at("2012-02-01 00:01:00+00:00"), "2012-02-01T00:01:00Z");
        assert_eq!(at("2021-12-31 23:01:00.000000"), "2021-12-31T23:01:00Z");
        assert_eq!(at("2000-01-03"), "day 10959");
        assert_eq!(at("Jan 1 2000"), "day 10957");
        assert_eq!(at("Sept 30, 2004"), at("2004-09-30"));
        assert_eq!(at("December 31 1999"), "day 10956");
    }

    #[test]
    fn reads_rfc3339_with_offsets() {
        assert_eq!(at("2026-11-30T14:30:00Z"), "2026-11-30T14:30:00Z");
        assert_eq!(
            at("2026-11-30T15:30:00.123456789+01:00"),
            "2026-11-30T14:30:00.123456789Z"
        );
        assert_eq!(at("2026-11-30T09:30-0500"), "2026-11-30T14:30:00Z");
        assert_eq!(at("1969-12-31T23:59:59.5Z"), "1969-12-31T23:59:59.5Z");
    }

    #[test]
    fn naive_times_use_the_given_offset_and_days_the_close() {
        let est = parse("20200101 170000065", -5 * 3600);
        assert_eq!(
            est.map(|s| s.at_close().map(|t| t.to_string())),
            Ok(Ok("2020-01-01T22:00:00.065Z".into()))
        );
        let day = parse("2020-01-02", -5 * 3600).and_then(Stamp::at_close);
        assert_eq!(day.map(|t| t.to_string()), Ok("2020-01-02T21:00:00Z".into()));
    }

    #[test]
    fn refuses_nonsense_with_a_clear_reason() {
        for s in [
            "2026-02-30",
            "2026-13-01",
            "2026-11-30 24:00:00",
            "2026-11-30 12:61",
            "Foo 1 2000",
            "yesterday",
            "",
            "2026-11-30T12:00:00.1234567891Z",
            "2026-11-30 12:00:00 UTC",
            "20261130 1200",
            "Jan 32 2000",
        ] {
            assert!(at(s).starts_with("error "), "{s:?} gave {}", at(s));
        }
        assert!(at("2026-02-30").contains("not a valid date"));
        assert!(at("2026-11-30 25:00:00").contains("not a valid time"));
        let far = parse("9999-01-01", 0).and_then(Stamp::at_close);
        assert_eq!(far, Err("timestamp is outside 1677-2262".to_owned()));
    }
}
