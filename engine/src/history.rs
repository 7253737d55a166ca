//! P&L history: net and day P&L of every account, book and the firm,
//! sampled in event time.
//!
//! The pipeline's [`HistoryClock`] follows the highest event timestamp
//! accepted so far (the watermark; instrument definitions and EODs have
//! no time of their own and do not move it). When an event's timestamp moves the
//! watermark into a later bucket of `resolution`, a mark op goes down every
//! shard *before* that event, at the seq of the event before it. A shard
//! answers with the books it changed since the last mark and its part of
//! the firm; the aggregator joins the parts into one [`HistoryMark`]. So a
//! point is the state after every event up to the mark's seq, and the
//! marks are a pure function of the journal (seqs and timestamps): a
//! recovery or a replay produces the same points as the live run.
//!
//! A series gets a point only at marks whose bucket changed it: between
//! two points it held the first one's value. Marks that also close a
//! bucket of `coarse` are flagged, so a store can keep a longer, thinner
//! series beside the fine one.

use crate::ids::{AccountId, BookId};
use crate::num::Notional;
use crate::op::Op;
use crate::time::Timestamp;

/// Nanoseconds per second.
const NS: i64 = 1_000_000_000;

/// How the P&L history is sampled and how long it is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    /// Bucket of the fine series, in nanoseconds of event time (> 0).
    pub resolution_ns: i64,
    /// Bucket of the coarse series (a multiple of `resolution_ns`).
    pub coarse_ns: i64,
    /// How far behind its newest point a fine point is kept.
    pub retention_ns: i64,
    /// How far behind its newest point a coarse point is kept.
    pub coarse_retention_ns: i64,
}

impl Default for HistoryConfig {
    /// One point a second kept a day, and one a minute kept 30 days.
    fn default() -> Self {
        Self {
            resolution_ns: NS,
            coarse_ns: 60 * NS,
            retention_ns: 86_400 * NS,
            coarse_retention_ns: 30 * 86_400 * NS,
        }
    }
}

impl HistoryConfig {
    /// The configuration's problems, for a config check (none: valid).
    #[must_use]
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.resolution_ns <= 0 {
            out.push("history resolution must be > 0".to_owned());
        } else if self.coarse_ns < self.resolution_ns || self.coarse_ns % self.resolution_ns != 0 {
            out.push("history coarse resolution must be a multiple of the resolution".to_owned());
        }
        if self.retention_ns <= 0 || self.coarse_retention_ns <= 0 {
            out.push("history retention must be > 0".to_owned());
        }
        out
    }
}

/// Where the clock stands (what a snapshot keeps of it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistoryImage {
    /// The resolution it ran with (a restart under another one starts a
    /// new watermark).
    pub resolution_ns: i64,
    /// The coarse resolution it ran with.
    pub coarse_ns: i64,
    /// The bucket of the watermark.
    pub bucket: i64,
}

/// The event-time watermark that decides where marks go.
#[derive(Clone, Copy, Debug, Default)]
pub struct HistoryClock {
    config: Option<HistoryConfig>,
    /// The bucket of the highest timestamp seen (`None` before the first).
    bucket: Option<i64>,
}

impl HistoryClock {
    /// A clock for `config` (`None`: no history, no marks), resumed from
    /// `image` when it was taken at the same resolutions.
    #[must_use]
    pub fn new(config: Option<HistoryConfig>, image: Option<HistoryImage>) -> Self {
        let bucket = match (config, image) {
            (Some(c), Some(i)) if i.resolution_ns == c.resolution_ns && i.coarse_ns == c.coarse_ns => {
                Some(i.bucket)
            }
            _ => None,
        };
        Self { config, bucket }
    }

    /// Whether history is sampled.
    #[must_use]
    pub const fn enabled(&self) -> bool {
        self.config.is_some()
    }

    /// What a snapshot keeps (`None` without history or before any event).
    #[must_use]
    pub fn image(&self) -> Option<HistoryImage> {
        let c = self.config?;
        Some(HistoryImage {
            resolution_ns: c.resolution_ns,
            coarse_ns: c.coarse_ns,
            bucket: self.bucket?,
        })
    }

    /// Follows an accepted op stamped `ts`: the mark to send before it when
    /// it opens a later bucket. Instrument definitions and EODs move
    /// nothing: they carry no time of their own (an EOD's journaled time is
    /// the end of its date, hours after the events that follow a 17:00
    /// close).
    pub fn observe(&mut self, op: &Op, ts: i64) -> Option<Op> {
        let c = self.config?;
        if matches!(op, Op::Instrument { .. } | Op::Eod { .. }) {
            return None;
        }
        let bucket = ts.div_euclid(c.resolution_ns);
        let Some(last) = self.bucket else {
            self.bucket = Some(bucket);
            return None;
        };
        if bucket <= last {
            return None;
        }
        self.bucket = Some(bucket);
        let coarse = |b: i64| (b * c.resolution_ns).div_euclid(c.coarse_ns);
        Some(Op::Mark {
            at: Timestamp((last + 1).saturating_mul(c.resolution_ns)),
            coarse: coarse(bucket) > coarse(last),
        })
    }
}

/// Net and day P&L of one series at a mark (exact, 10^-18, in the
/// account's base currency, or the firm's reporting currency).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PnlPoint {
    /// `realized + unrealized + income - fees`.
    pub net_pnl: Notional,
    /// Net P&L change since the last EOD.
    pub day_pnl: Notional,
}

/// An account's point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountPoint {
    /// The account.
    pub account: AccountId,
    /// Its totals' P&L.
    pub pnl: PnlPoint,
}

/// A book's point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookPoint {
    /// The book (which names its account and strategy).
    pub book: BookId,
    /// Its totals' P&L.
    pub pnl: PnlPoint,
}

/// One mark of the history: the series that changed in the bucket it
/// closes, as of its seq.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryMark {
    /// The end of the bucket it closes (the points' time).
    pub at: Timestamp,
    /// The last seq the points include.
    pub seq: u64,
    /// It also closes a coarse bucket.
    pub coarse: bool,
    /// Accounts whose totals changed since the last mark, by id.
    pub accounts: Vec<AccountPoint>,
    /// Books whose totals changed since the last mark, by id.
    pub books: Vec<BookPoint>,
    /// The firm's P&L (every mark).
    pub firm: PnlPoint,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::InstrumentId;
    use crate::num::Price;

    fn tick() -> Op {
        Op::Tick {
            instrument: InstrumentId(0),
            price: Price::from_int(1),
        }
    }

    fn clock() -> HistoryClock {
        HistoryClock::new(
            Some(HistoryConfig {
                resolution_ns: 10,
                coarse_ns: 30,
                ..HistoryConfig::default()
            }),
            None,
        )
    }

    #[test]
    fn a_mark_closes_each_bucket_once_when_the_watermark_leaves_it() {
        let mut c = clock();
        let seen: Vec<Option<Op>> = [5, 9, 12, 3, 19, 20, 55, 61]
            .iter()
            .map(|&ts| c.observe(&tick(), ts))
            .collect();
        let mark = |at, coarse| {
            Some(Op::Mark {
                at: Timestamp(at),
                coarse,
            })
        };
        assert_eq!(
            seen,
            vec![
                None,
                None,
                mark(10, false),
                None, // late: folded into the current bucket
                None,
                mark(20, false),
                mark(30, true), // 20..55 crosses the coarse boundary at 30
                mark(60, true)
            ]
        );
    }

    #[test]
    fn definitions_move_nothing_and_no_config_means_no_marks() {
        let mut c = clock();
        let def = Op::Instrument {
            instrument: InstrumentId(0),
            currency: crate::ids::CurrencyId(0),
            multiplier: crate::num::Multiplier::ONE,
        };
        assert_eq!(c.observe(&def, 0), None);
        assert_eq!(
            c.observe(&tick(), 100),
            None,
            "the first timed op starts the clock"
        );
        assert_eq!(c.observe(&def, 0), None);
        let eod = Op::Eod {
            date: crate::time::Date(30_000),
        };
        assert_eq!(c.observe(&eod, 2_592_000_000_000_000_000), None);
        assert!(c.observe(&tick(), 110).is_some(), "an EOD's date moved nothing");
        let mut off = HistoryClock::new(None, None);
        assert_eq!(off.observe(&tick(), 1), None);
        assert_eq!(off.observe(&tick(), 1_000_000_000_000), None);
    }

    #[test]
    fn a_clock_resumes_from_its_image_only_at_the_same_resolutions() {
        let mut c = clock();
        c.observe(&tick(), 25);
        let image = c.image();
        assert_eq!(image.map(|i| i.bucket), Some(2));
        let mut resumed = HistoryClock::new(c.config, image);
        assert!(resumed.observe(&tick(), 31).is_some());
        let other = HistoryConfig {
            resolution_ns: 5,
            coarse_ns: 30,
            ..HistoryConfig::default()
        };
        let mut fresh = HistoryClock::new(Some(other), image);
        assert_eq!(fresh.observe(&tick(), 31), None, "another resolution starts anew");
    }

    #[test]
    fn bad_configurations_are_named() {
        let bad = HistoryConfig {
            resolution_ns: 10,
            coarse_ns: 15,
            ..HistoryConfig::default()
        };
        assert_eq!(bad.problems().len(), 1);
        assert!(HistoryConfig::default().problems().is_empty());
    }
}
