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

/// Each series' chunk in progress, by its key prefix (tier and series).
pub(crate) type OpenChunks = FxHashMap<Vec<u8>, Vec<StoredPoint>>;

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
    /// The points of one tier of a series with `from <= at <= to`, in time
    /// order (stored chunks, then the chunk in progress).
    pub fn history_points(
        &self,
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
        if let Ok(open) = self.history_open.lock()
            && let Some(chunk) = open.get(&p)
        {
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
        let mut open = self
            .history_open
            .lock()
            .map_err(|_| StoreError::Db("the P&L history's chunks are poisoned".into()))?;
        let mut w = self.db().batch();
        for (p, chunk) in open.iter_mut() {
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
    pub fn history(
        &self,
        series: &Series,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredPoint>, StoreError> {
        let fine = self.history_points(Tier::Fine, series, from, to)?;
        let older_than = fine.first().map_or(to, |p| Timestamp(p.at.0.saturating_sub(1)));
        if older_than < from {
            return Ok(fine);
        }
        let mut out = self.history_points(Tier::Coarse, series, from, older_than)?;
        if !fine.is_empty() {
            out.retain(|p| p.at < fine[0].at);
        }
        out.extend(fine);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{AccountPoint, BookPoint};
    use crate::history::{HistoryConfig, HistoryMark};
    use crate::ids::Names;
    use crate::ids::{AccountId, BookId, NameKind, NewName};
    use crate::store::history_writer::HistoryWriter;

    const S: i64 = 1_000_000_000;

    fn names() -> Names {
        let mut n = Names::default();
        for (kind, id, name) in [(NameKind::Account, 0, "A1"), (NameKind::Account, 1, "B2")] {
            n.restore(&NewName {
                kind,
                id,
                name: name.into(),
            });
        }
        n
    }

    fn mark(at: i64, net: i128, coarse: bool) -> HistoryMark {
        let pnl = PnlPoint {
            net_pnl: Notional(net),
            day_pnl: Notional(-net),
        };
        HistoryMark {
            at: Timestamp(at * S),
            seq: at.cast_unsigned(),
            coarse,
            accounts: vec![AccountPoint {
                account: AccountId(0),
                pnl,
            }],
            books: Vec::new(),
            firm: pnl,
        }
    }

    fn config() -> HistoryConfig {
        HistoryConfig {
            resolution_ns: S,
            coarse_ns: 10 * S,
            retention_ns: 5 * S,
            coarse_retention_ns: 100 * S,
        }
    }

    fn times(points: &[StoredPoint]) -> Vec<i64> {
        points.iter().map(|p| p.at.0 / S).collect()
    }

    #[test]
    fn points_round_trip_in_time_order_and_old_chunks_are_pruned() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
        let all = (Timestamp(i64::MIN), Timestamp(i64::MAX));
        let a1 = Series::Account("A1".into());
        let names = names();
        let fine = {
            let store = Store::open(dir.path())?;
            let mut w = HistoryWriter::new(config());
            for t in 1..=200 {
                w.write(&store, &mark(t, i128::from(t) * 7, t % 10 == 0), &names)?;
            }
            let fine = store.history_points(Tier::Fine, &a1, all.0, all.1)?;
            // Chunks of 64 start at 1, 65 and 129; when the one from 129
            // was written (at 192) the retention's start was 187, so the
            // two before it went; 193..=200 are in progress.
            assert_eq!(times(&fine), (129..=200).collect::<Vec<_>>());
            assert_eq!(fine[0].pnl.net_pnl, Notional(129 * 7));
            assert_eq!(fine[0].pnl.day_pnl, Notional(-129 * 7));
            assert_eq!(fine[0].seq, 129);
            let ranged = store.history_points(Tier::Fine, &a1, Timestamp(150 * S), Timestamp(195 * S))?;
            assert_eq!(times(&ranged), (150..=195).collect::<Vec<_>>());
            // An unchanged value, or a mark already written (a recovery
            // replaying), writes nothing; a new writer reads the newest
            // point from the chunk in progress.
            w.write(&store, &mark(201, 200 * 7, false), &names)?;
            w.write(&store, &mark(150, 1, false), &names)?;
            HistoryWriter::new(config()).write(&store, &mark(199, 5, false), &names)?;
            assert_eq!(store.history_points(Tier::Fine, &a1, all.0, all.1)?, fine);
            store.flush_history()?;
            fine
        };
        // After a restart the chunks in progress were written, and a new
        // writer reads the newest point from the store.
        let store = Store::open(dir.path())?;
        assert_eq!(store.history_points(Tier::Fine, &a1, all.0, all.1)?, fine);
        let mut w = HistoryWriter::new(config());
        w.write(&store, &mark(200, 5, false), &names)?;
        assert_eq!(store.history_points(Tier::Fine, &a1, all.0, all.1)?, fine);
        w.write(&store, &mark(202, 3, false), &names)?;
        let merged = store.history(&a1, all.0, all.1)?;
        let mut want: Vec<i64> = (1..=12).map(|t| t * 10).collect();
        want.extend(129..=200);
        want.push(202);
        assert_eq!(
            times(&merged),
            want,
            "coarse before the first fine point, then fine"
        );
        let ranged = store.history(&Series::Firm, Timestamp(15 * S), Timestamp(30 * S))?;
        assert_eq!(times(&ranged), vec![20, 30]);
        assert!(
            store
                .history(&Series::Account("B2".into()), all.0, all.1)?
                .is_empty()
        );
        Ok(())
    }

    #[test]
    fn book_series_are_apart_from_their_account_s() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
        let store = Store::open(dir.path())?;
        let mut names = names();
        names.books.intern(crate::books::BookKey {
            account: AccountId(1),
            strategy: None,
        });
        let mut m = mark(3, 5, false);
        m.books.push(BookPoint {
            book: BookId(0),
            pnl: PnlPoint {
                net_pnl: Notional(11),
                day_pnl: Notional(0),
            },
        });
        HistoryWriter::new(config()).write(&store, &m, &names)?;
        let book = Series::Book {
            account: "B2".into(),
            strategy: None,
        };
        let got = store.history(&book, Timestamp(0), Timestamp(i64::MAX))?;
        assert_eq!(
            got.iter().map(|p| p.pnl.net_pnl).collect::<Vec<_>>(),
            vec![Notional(11)]
        );
        let got = store.history(&Series::Account("B2".into()), Timestamp(0), Timestamp(i64::MAX))?;
        assert!(got.is_empty(), "B2's account series was not in the mark");
        Ok(())
    }
}
