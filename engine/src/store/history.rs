//! The `history` keyspace: the P&L history's points (see `history`), in
//! two tiers: every mark (fine) and the marks that close a coarse bucket
//! (coarse), each kept for its own retention.
//!
//! Points are stored in *chunks*: one value holds a run of a series'
//! consecutive points. Key: tier byte, series (kind byte, then the account
//! and the strategy as length-prefixed names), then the chunk's first
//! point's time (big-endian, sign bit flipped, so keys sort by time).
//! Value: `[2][CRC-32][count, then each point's time, seq, net and day]`
//! (varints). The writer (`store/history_writer.rs`) keeps each series'
//! chunk in progress in memory ([`OpenChunks`], readable by every read
//! here) and writes it when it is full, and every open chunk before a
//! snapshot is written (a recovery replays only the marks after it), so a
//! mark costs one insert per series per [`CHUNK`] points, not per point.
//! A series gets a point where its value changed; its chunks wholly older
//! than the retention behind its newest point are removed, but the one
//! holding the value at the window's start.
//!
//! One lock (`Store::history_open`) guards the chunks in progress and
//! the [`HistoryListener`] told of each mark's new fine points: the writer
//! adds a mark's points and tells the listener under it, and a read holds
//! it from its first chunk to its last, so a read sees either all of a
//! mark's points (and they were told before it) or none (and they are
//! told after it). That is what lets a subscriber join a read of the
//! stored points and the live ones without a gap or a repeat.

use std::sync::{Arc, MutexGuard};

use rustc_hash::FxHashMap;

use crate::history::PnlPoint;
use crate::num::Notional;
use crate::store::varint::{self, Reader, Writer};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// The frame format byte of a history value.
const FORMAT: u8 = 2;

/// Points per stored chunk.
pub(crate) const CHUNK: usize = 64;

/// The P&L history's part of the store kept in memory, behind
/// `Store::history_open`: each series' chunk in progress, and who is
/// told of new points.
#[derive(Default)]
pub(crate) struct OpenChunks {
    /// Each series' chunk in progress, by its key prefix (tier and series).
    pub(crate) chunks: FxHashMap<Vec<u8>, Vec<StoredPoint>>,
    /// Told of each mark's new fine points ([`Store::set_history_listener`]).
    pub(crate) listener: Option<Arc<dyn HistoryListener>>,
}

/// A new point of the fine tier, as the writer made it readable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewPoint {
    /// Its series (named once per series and process: cloning it counts a
    /// reference, it allocates nothing).
    pub series: Arc<Series>,
    /// The point.
    pub point: StoredPoint,
}

/// Told of the P&L history's new points as they are made: every point of
/// the fine tier, which is every point a query will return after the
/// coarse ones, once each, in the order they were made (per series, in
/// time order).
pub trait HistoryListener: Send + Sync + 'static {
    /// A mark's new fine points (never empty). Called on the history
    /// thread under the lock that makes them readable, so it must not
    /// block or wait: queue them and return.
    fn points(&self, points: &[NewPoint]);
}

/// Which series a point belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Series {
    /// The firm, in its reporting currency.
    Firm,
    /// An account's totals (all its books), in its base currency.
    Account(String),
    /// A book: an account and a strategy (`None`: the default book).
    Book {
        /// The account.
        account: String,
        /// The strategy.
        strategy: Option<String>,
    },
}

/// The two tiers of points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Every mark.
    Fine = 0,
    /// The marks that close a coarse bucket.
    Coarse = 1,
}

/// One stored point.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredPoint {
    /// The end of the bucket it closes.
    pub at: Timestamp,
    /// The last seq it includes.
    pub seq: u64,
    /// Its P&L.
    pub pnl: PnlPoint,
}

fn name(out: &mut Vec<u8>, s: &str) {
    // Names are bounded well below 64 KiB at the edge; a longer one is cut
    // in the key only (two such names sharing 64 KiB would share a series).
    let b = &s.as_bytes()[..s.len().min(usize::from(u16::MAX))];
    out.extend_from_slice(&u16::try_from(b.len()).unwrap_or(u16::MAX).to_be_bytes());
    out.extend_from_slice(b);
}

/// The key prefix of a series in a tier.
pub(crate) fn prefix(tier: Tier, series: &Series) -> Vec<u8> {
    let mut k = vec![tier as u8];
    match series {
        Series::Firm => k.push(0),
        Series::Account(a) => {
            k.push(1);
            name(&mut k, a);
        }
        Series::Book { account, strategy } => {
            k.push(2);
            name(&mut k, account);
            match strategy {
                None => k.push(0),
                Some(s) => {
                    k.push(1);
                    name(&mut k, s);
                }
            }
        }
    }
    k
}

fn time_bytes(at: Timestamp) -> [u8; 8] {
    (at.0.cast_unsigned() ^ (1 << 63)).to_be_bytes()
}

pub(crate) fn key(prefix: &[u8], at: Timestamp) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&time_bytes(at));
    k
}

/// Encodes a chunk of points (in time order).
pub(crate) fn encode_chunk(points: &[StoredPoint]) -> Vec<u8> {
    let mut w = Writer::framed(FORMAT, 8 + points.len() * 24);
    w.uint(points.len() as u128);
    for p in points {
        w.amount(i128::from(p.at.0));
        w.uint(u128::from(p.seq));
        w.amount(p.pnl.net_pnl.0);
        w.amount(p.pnl.day_pnl.0);
    }
    w.seal()
}

fn decode_chunk(k: &[u8], v: &[u8]) -> Result<Vec<StoredPoint>, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        keyspace: "history",
        key: format!("{k:?}"),
        reason,
    };
    let payload = varint::payload(v, FORMAT).map_err(|e| corrupt(e.to_string()))?;
    let mut r = Reader::new(payload, "history chunk");
    let read = |r: &mut Reader<'_>| -> Result<Vec<StoredPoint>, crate::store::FrameError> {
        let n: usize = r.int("point count")?;
        let mut out = Vec::with_capacity(n.min(CHUNK));
        for _ in 0..n {
            let at = i64::try_from(r.amount("time")?).map_err(|_| r.bad("time out of range"))?;
            out.push(StoredPoint {
                at: Timestamp(at),
                seq: r.int("seq")?,
                pnl: PnlPoint {
                    net_pnl: Notional(r.amount("net")?),
                    day_pnl: Notional(r.amount("day")?),
                },
            });
        }
        Ok(out)
    };
    read(&mut r).map_err(|e| corrupt(e.to_string()))
}

impl Store {
    /// The P&L history's chunks in progress and listener, locked.
    pub(crate) fn history_lock(&self) -> Result<MutexGuard<'_, OpenChunks>, StoreError> {
        self.history_open
            .lock()
            .map_err(|_| StoreError::Db("the P&L history's chunks are poisoned".into()))
    }

    /// Tells `listener` of every new fine point from now on (replacing
    /// any listener before it).
    pub fn set_history_listener(&self, listener: Arc<dyn HistoryListener>) -> Result<(), StoreError> {
        self.history_lock()?.listener = Some(listener);
        Ok(())
    }

    /// The points of one tier of a series with `from <= at <= to`, in time
    /// order (stored chunks, then the chunk in progress).
    pub fn history_points(
        &self,
        tier: Tier,
        series: &Series,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredPoint>, StoreError> {
        let open = self.history_lock()?;
        self.points_locked(&open, tier, series, from, to)
    }

    /// [`Store::history_points`] under the lock, held from the first
    /// stored chunk read to the chunk in progress: the writer cannot move
    /// a chunk from memory to the store in between.
    fn points_locked(
        &self,
        open: &OpenChunks,
        tier: Tier,
        series: &Series,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredPoint>, StoreError> {
        let p = prefix(tier, series);
        let mut out = Vec::new();
        // The chunk that starts at or before `from` may hold points after it.
        let first = self.history.range(p.clone()..=key(&p, from)).next_back();
        // Chunks starting after `from` (the one starting at it is `first`).
        let later = self.history.range((
            std::ops::Bound::Excluded(key(&p, from)),
            std::ops::Bound::Included(key(&p, to)),
        ));
        for g in first.into_iter().chain(later) {
            let (k, v) = g.into_inner()?;
            for point in decode_chunk(&k, &v)? {
                if point.at >= from
                    && point.at <= to
                    && out.last().is_none_or(|l: &StoredPoint| l.at < point.at)
                {
                    out.push(point);
                }
            }
        }
        if let Some(chunk) = open.chunks.get(&p) {
            let after = out.last().map(|l| l.at);
            out.extend(
                chunk
                    .iter()
                    .filter(|q| q.at >= from && q.at <= to && after.is_none_or(|a| q.at > a)),
            );
        }
        Ok(out)
    }

    /// A series' newest stored point (not counting its chunk in progress).
    pub(crate) fn newest_stored(&self, series_prefix: &[u8]) -> Result<Option<StoredPoint>, StoreError> {
        match self.history.prefix(series_prefix).next_back() {
            Some(g) => {
                let (k, v) = g.into_inner()?;
                Ok(decode_chunk(&k, &v)?.last().copied())
            }
            None => Ok(None),
        }
    }

    /// Writes every chunk in progress (before a snapshot, and when the
    /// writer stops), so the store holds every point written so far.
    pub fn flush_history(&self) -> Result<(), StoreError> {
        let mut open = self.history_lock()?;
        let mut w = self.db().batch();
        for (p, chunk) in open.chunks.iter_mut() {
            if let Some(first) = chunk.first() {
                w.insert(&self.history, key(p, first.at), encode_chunk(chunk));
                chunk.clear();
            }
        }
        w.commit()?;
        Ok(())
    }

    /// A series' points with `from <= at <= to` at the finest resolution
    /// kept: the fine points, after the coarse ones older than the first
    /// fine point in the range (where the fine tier's retention ended).
    /// Read under one hold of the lock: every point told to the
    /// [`HistoryListener`] before the read and in the range is in it, and
    /// none told after it.
    pub fn history(
        &self,
        series: &Series,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredPoint>, StoreError> {
        let open = self.history_lock()?;
        let fine = self.points_locked(&open, Tier::Fine, series, from, to)?;
        let older_than = fine.first().map_or(to, |p| Timestamp(p.at.0.saturating_sub(1)));
        if older_than < from {
            return Ok(fine);
        }
        let mut out = self.points_locked(&open, Tier::Coarse, series, from, older_than)?;
        if !fine.is_empty() {
            out.retain(|p| p.at < fine[0].at);
        }
        out.extend(fine);
        Ok(out)
    }
}

#[cfg(test)]
#[path = "history_tests.rs"]
mod tests;
