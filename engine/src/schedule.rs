//! The EOD schedule: a local time of day in an IANA time zone (default
//! 17:00 America/New_York). `kupala serve` journals an `eod` event at each
//! occurrence, so live, recovery and replay see the same EOD at the same seq.
//! The time zone database is bundled (jiff's `tzdb-bundle-always`), so the
//! schedule does not depend on the host's zoneinfo.

use jiff::civil::Time;
use jiff::tz::TimeZone;

use crate::time::{Date, Timestamp};

/// When business days end.
#[derive(Clone, Debug)]
pub struct EodSchedule {
    time: Time,
    tz: TimeZone,
}

impl EodSchedule {
    /// A schedule at `time` (`HH:MM`) in `timezone` (IANA name).
    pub fn new(time: &str, timezone: &str) -> Result<Self, String> {
        let t: Time = time
            .parse()
            .map_err(|_| format!("time {time:?} is not a time of day such as \"17:00\""))?;
        let tz = TimeZone::get(timezone).map_err(|_| {
            format!("time zone {timezone:?} is not an IANA name such as \"America/New_York\"")
        })?;
        Ok(Self { time: t, tz })
    }

    /// The first EOD strictly after `now`: its instant and the business
    /// date it closes (the local date at that instant).
    #[must_use]
    pub fn next_after(&self, now: Timestamp) -> Option<(Timestamp, Date)> {
        let now = jiff::Timestamp::from_nanosecond(i128::from(now.0)).ok()?;
        let local = now.to_zoned_datetime(self.tz.clone());
        let mut day = local.date();
        for _ in 0..3 {
            let at = day
                .to_datetime(self.time)
                .to_zoned_datetime(self.tz.clone())
                .ok()?;
            if at.timestamp() > now {
                let nanos = i64::try_from(at.timestamp().as_nanosecond()).ok()?;
                let date = Date::parse(&at.date().to_string()).ok()?;
                return Some((Timestamp(nanos), date));
            }
            day = day.tomorrow().ok()?;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        Timestamp::parse(s).unwrap_or_default()
    }

    #[test]
    fn next_eod_in_new_york_across_dst() {
        let Ok(s) = EodSchedule::new("17:00", "America/New_York") else {
            panic!("schedule")
        };
        // 30 Nov 2026 is EST (UTC-5): 17:00 local = 22:00Z.
        let (at, date) = s.next_after(ts("2026-11-30T12:00:00Z")).unwrap_or_default();
        assert_eq!(
            (at, date.to_string()),
            (ts("2026-11-30T22:00:00Z"), "2026-11-30".into())
        );
        // After today's EOD: tomorrow's.
        let (at, date) = s.next_after(ts("2026-11-30T22:00:00Z")).unwrap_or_default();
        assert_eq!(
            (at, date.to_string()),
            (ts("2026-12-01T22:00:00Z"), "2026-12-01".into())
        );
        // 1 Jul is EDT (UTC-4): 21:00Z.
        let (at, _) = s.next_after(ts("2026-07-01T00:00:00Z")).unwrap_or_default();
        assert_eq!(at, ts("2026-07-01T21:00:00Z"));
        assert!(EodSchedule::new("25:00", "America/New_York").is_err());
        assert!(EodSchedule::new("17:00", "Mars/Olympus").is_err());
    }
}
