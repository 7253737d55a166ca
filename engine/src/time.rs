//! Event time: RFC 3339 timestamps and calendar dates, kept as given.
//!
//! Order in kupala is the journal's `seq`, never the timestamp; timestamps are
//! carried for replay windows (`--from/--to`), paced replay and output.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A UTC instant in nanoseconds since the Unix epoch.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub i64);

impl Timestamp {
    /// Parses RFC 3339 (`2026-11-30T14:30:00.250Z`, offsets allowed).
    pub fn parse(s: &str) -> Result<Self, String> {
        let ts = jiff::Timestamp::from_str(s)
            .map_err(|_| format!("{s:?} is not an RFC 3339 timestamp such as \"2026-11-30T14:30:00Z\""))?;
        i64::try_from(ts.as_nanosecond())
            .map(Self)
            .map_err(|_| format!("{s:?} is out of range"))
    }

    /// Nanoseconds since the Unix epoch.
    #[must_use]
    pub const fn nanos(self) -> i64 {
        self.0
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match jiff::Timestamp::from_nanosecond(i128::from(self.0)) {
            Ok(ts) => write!(f, "{ts}"),
            Err(_) => write!(f, "{}ns", self.0),
        }
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// A calendar date (`2026-11-30`), stored as days since 1970-01-01.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Date(pub i32);

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let bad = || format!("{s:?} is not a date such as \"2026-11-30\"");
        let d = jiff::civil::Date::from_str(s).map_err(|_| bad())?;
        let epoch = jiff::civil::date(1970, 1, 1);
        let days = (d - epoch).get_days();
        if s.len() == 10 { Ok(Self(days)) } else { Err(bad()) }
    }

    /// The civil date.
    #[must_use]
    pub fn civil(self) -> jiff::civil::Date {
        let epoch = jiff::civil::date(1970, 1, 1);
        epoch
            .checked_add(jiff::Span::new().days(i64::from(self.0)))
            .unwrap_or(epoch)
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.civil())
    }
}

impl fmt::Debug for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl Serialize for Date {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Date {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip() {
        let t = Timestamp::parse("2026-11-30T14:30:00.250Z");
        assert_eq!(t.map(|t| t.to_string()), Ok("2026-11-30T14:30:00.25Z".to_owned()));
        let a = Timestamp::parse("2026-11-30T15:30:00+01:00");
        let b = Timestamp::parse("2026-11-30T14:30:00Z");
        assert_eq!(a, b);
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(Date::parse("1970-01-02"), Ok(Date(1)));
        assert_eq!(
            Date::parse("2026-11-30").map(|d| d.to_string()),
            Ok("2026-11-30".to_owned())
        );
        assert!(Date::parse("2026-13-01").is_err());
        assert!(Date::parse("2026-1-1").is_err());
    }
}
