//! The P&L history as clients see it, for the `history` query and
//! channel alike: a series' stored points read within the bound of one
//! answer, and their JSON (a series and its points; one new point with
//! its series).

use serde::Serialize;

use kupala_engine::num::Money;
use kupala_engine::store::Store;
use kupala_engine::store::history::{NewPoint, Series, StoredPoint};
use kupala_engine::time::Timestamp;

use crate::protocol::ErrorCode;

/// The most points one history answer (a query, a subscription's
/// snapshot) holds.
pub(crate) const MAX_HISTORY_POINTS: usize = 10_000;

/// A P&L history point as clients see it.
#[derive(Serialize)]
struct PointOut {
    ts: Timestamp,
    seq: u64,
    net_pnl: Money,
    day_pnl: Money,
}

impl PointOut {
    fn new(p: &StoredPoint) -> Self {
        Self {
            ts: p.at,
            seq: p.seq,
            net_pnl: p.pnl.net_pnl.to_money(),
            day_pnl: p.pnl.day_pnl.to_money(),
        }
    }
}

/// How a series is named in JSON: `series` (`firm`, `account`, `book`),
/// `account`, `strategy`.
#[derive(Serialize)]
struct SeriesOut<'a> {
    series: &'static str,
    account: Option<&'a str>,
    strategy: Option<&'a str>,
}

impl<'a> SeriesOut<'a> {
    fn new(series: &'a Series) -> Self {
        let (kind, account, strategy) = match series {
            Series::Firm => ("firm", None, None),
            Series::Account(a) => ("account", Some(a.as_str()), None),
            Series::Book { account, strategy } => ("book", Some(account.as_str()), strategy.as_deref()),
        };
        Self {
            series: kind,
            account,
            strategy,
        }
    }
}

/// A series and its points: a query's `data`, a snapshot's `data`.
#[derive(Serialize)]
pub(crate) struct HistoryOut<'a> {
    #[serde(flatten)]
    series: SeriesOut<'a>,
    points: Vec<PointOut>,
}

impl<'a> HistoryOut<'a> {
    /// Renders `points` of `series`.
    pub(crate) fn new(series: &'a Series, points: &[StoredPoint]) -> Self {
        Self {
            series: SeriesOut::new(series),
            points: points.iter().map(PointOut::new).collect(),
        }
    }
}

/// One new point with its series: a `history` delta's `data`.
#[derive(Serialize)]
struct NewPointOut<'a> {
    #[serde(flatten)]
    series: SeriesOut<'a>,
    #[serde(flatten)]
    point: PointOut,
}

/// The JSON of a `history` delta's `data`.
pub(crate) fn point_text(p: &NewPoint) -> String {
    serde_json::to_string(&NewPointOut {
        series: SeriesOut::new(&p.series),
        point: PointOut::new(&p.point),
    })
    .unwrap_or_default()
}

/// A series' points with `from <= at <= to` (blocking: the store), at
/// most [`MAX_HISTORY_POINTS`] (more is `too_large`, ending with `hint`:
/// how the client narrows the range).
pub(crate) fn read(
    store: &Store,
    series: &Series,
    (from, to): (Timestamp, Timestamp),
    hint: &str,
) -> Result<Vec<StoredPoint>, (ErrorCode, String)> {
    let points = store
        .history(series, from, to)
        .map_err(|e| (ErrorCode::Internal, format!("store: {e}")))?;
    if points.len() > MAX_HISTORY_POINTS {
        return Err((
            ErrorCode::TooLarge,
            format!(
                "{} points in the range; at most {MAX_HISTORY_POINTS} in one {hint}",
                points.len()
            ),
        ));
    }
    Ok(points)
}
