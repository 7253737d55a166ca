//! The `history` keyspace: the P&L history's points (see `history`), one
//! value per series and mark, in two tiers: every mark (fine) and the
//! marks that close a coarse bucket (coarse), each kept for its own
//! retention.
//!
//! Key: tier byte, series (kind byte, then the account and the strategy as
//! length-prefixed names), then the point's time (big-endian, sign bit
//! flipped, so keys sort by time). Value: `[1][CRC-32][seq, net, day]`
//! (varints). A series gets a point where its value changed; writing one
//! also removes the series' points older than the retention behind it
//! (but the newest of those), so each series keeps at most a retention's
//! worth; a series no longer written keeps its last points (its value
//! since then).

use rustc_hash::FxHashMap;

use crate::history::{HistoryConfig, HistoryMark, PnlPoint};
use crate::ids::Names;
use crate::num::Notional;
use crate::store::varint::{self, Reader, Writer};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::view::strategy_of;

/// The frame format byte of a history value.
const FORMAT: u8 = 1;

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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
fn prefix(tier: Tier, series: &Series) -> Vec<u8> {
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

fn key(prefix: &[u8], at: Timestamp) -> Vec<u8> {
    let mut k = Vec::with_capacity(prefix.len() + 8);
    k.extend_from_slice(prefix);
    k.extend_from_slice(&time_bytes(at));
    k
}

fn encode(seq: u64, pnl: PnlPoint) -> Vec<u8> {
    let mut w = Writer::framed(FORMAT, 24);
    w.uint(u128::from(seq));
    w.amount(pnl.net_pnl.0);
    w.amount(pnl.day_pnl.0);
    w.seal()
}

fn decode(k: &[u8], v: &[u8]) -> Result<StoredPoint, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        keyspace: "history",
        key: format!("{k:?}"),
        reason,
    };
    let t = k
        .len()
        .checked_sub(8)
        .and_then(|i| <[u8; 8]>::try_from(&k[i..]).ok())
        .ok_or_else(|| corrupt("key too short".into()))?;
    let at = Timestamp((u64::from_be_bytes(t) ^ (1 << 63)).cast_signed());
    let payload = varint::payload(v, FORMAT).map_err(|e| corrupt(e.to_string()))?;
    let mut r = Reader::new(payload, "history point");
    let read = |r: &mut Reader<'_>| -> Result<StoredPoint, crate::store::FrameError> {
        Ok(StoredPoint {
            at,
            seq: r.int("seq")?,
            pnl: PnlPoint {
                net_pnl: Notional(r.amount("net")?),
                day_pnl: Notional(r.amount("day")?),
            },
        })
    };
    read(&mut r).map_err(|e| corrupt(e.to_string()))
}

/// Every series of a mark with its point, by name.
fn series_of(mark: &HistoryMark, names: &Names) -> Vec<(Series, PnlPoint)> {
    let mut out = Vec::with_capacity(1 + mark.accounts.len() + mark.books.len());
    out.push((Series::Firm, mark.firm));
    for p in &mark.accounts {
        out.push((Series::Account(names.account(p.account).to_owned()), p.pnl));
    }
    for p in &mark.books {
        let account = names.account(names.books.account(p.book)).to_owned();
        let strategy = strategy_of(p.book, names).map(str::to_owned);
        out.push((Series::Book { account, strategy }, p.pnl));
    }
    out
}

/// A series' newest stored point in one tier, as the writer remembers it.
#[derive(Clone, Copy, Debug)]
struct Newest {
    /// Its time and value (`None`: the series has no point yet).
    point: Option<(Timestamp, PnlPoint)>,
    /// When the series was last pruned by this writer.
    pruned: Option<Timestamp>,
}

/// Writes marks' points, remembering each series' newest point so that a
/// write reads the store only for a series it has not seen since it was
/// made, and pruning each series at most eight times per retention (so a
/// series keeps at most 1⅛ retentions of points).
#[derive(Debug)]
pub struct HistoryWriter {
    config: HistoryConfig,
    newest: FxHashMap<Vec<u8>, Newest>,
}

impl HistoryWriter {
    /// A writer keeping `config`'s retentions.
    #[must_use]
    pub fn new(config: HistoryConfig) -> Self {
        Self {
            config,
            newest: FxHashMap::default(),
        }
    }

    /// Writes a mark's points (fine, and coarse when it closes a coarse
    /// bucket) in one batch. A point equal to its series' newest one in
    /// the tier is not written, so what is stored does not depend on which
    /// unchanged series a mark reported (a restored engine reports every
    /// series at its first mark), and neither is a point at or before the
    /// newest (a recovery replaying marks already written). Pruning removes
    /// a series' points older than the tier's retention behind the point
    /// written, except the newest of them (the value at the window's
    /// start).
    pub fn write(&mut self, store: &Store, mark: &HistoryMark, names: &Names) -> Result<(), StoreError> {
        let mut w = store.db().batch();
        let mut tiers = vec![(Tier::Fine, self.config.retention_ns)];
        if mark.coarse {
            tiers.push((Tier::Coarse, self.config.coarse_retention_ns));
        }
        for (series, pnl) in series_of(mark, names) {
            for &(tier, keep) in &tiers {
                let p = prefix(tier, &series);
                let newest = match self.newest.get_mut(&p) {
                    Some(n) => n,
                    None => {
                        let point = match store.history.prefix(&p).next_back() {
                            Some(g) => {
                                let (k, v) = g.into_inner()?;
                                let d = decode(&k, &v)?;
                                Some((d.at, d.pnl))
                            }
                            None => None,
                        };
                        self.newest.entry(p.clone()).or_insert(Newest { point, pruned: None })
                    }
                };
                if newest.point.is_some_and(|(at, value)| value == pnl || at >= mark.at) {
                    continue;
                }
                newest.point = Some((mark.at, pnl));
                let due = newest
                    .pruned
                    .is_none_or(|t| mark.at.0.saturating_sub(t.0) >= keep / 8);
                if due {
                    newest.pruned = Some(mark.at);
                    let cutoff = key(&p, Timestamp(mark.at.0.saturating_sub(keep)));
                    let mut old = store.history.range(p.clone()..cutoff).rev();
                    let _window_start = old.next();
                    for g in old {
                        w.remove(&store.history, g.key()?);
                    }
                }
                w.insert(&store.history, key(&p, mark.at), encode(mark.seq, pnl));
            }
        }
        w.commit()?;
        Ok(())
    }
}

impl Store {
    /// The points of one tier of a series with `from <= at <= to`, in time
    /// order.
    pub fn history_points(
        &self,
        tier: Tier,
        series: &Series,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<StoredPoint>, StoreError> {
        let p = prefix(tier, series);
        let mut out = Vec::new();
        for g in self.history.range(key(&p, from)..=key(&p, to)) {
            let (k, v) = g.into_inner()?;
            out.push(decode(&k, &v)?);
        }
        Ok(out)
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
    use crate::ids::{AccountId, BookId, NameKind, NewName};

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

    #[test]
    fn points_round_trip_in_time_order_and_old_ones_are_pruned() -> Result<(), StoreError> {
        let dir = tempfile::tempdir().map_err(|e| StoreError::Db(e.to_string()))?;
        let store = Store::open(dir.path())?;
        let names = names();
        let mut w = HistoryWriter::new(config());
        for t in 1..=12 {
            w.write(&store, &mark(t, i128::from(t) * 7, t % 10 == 0), &names)?;
        }
        let a1 = Series::Account("A1".into());
        let all = Timestamp(i64::MIN)..=Timestamp(i64::MAX);
        let fine = store.history_points(Tier::Fine, &a1, *all.start(), *all.end())?;
        let times: Vec<i64> = fine.iter().map(|p| p.at.0 / S).collect();
        assert_eq!(
            times,
            vec![6, 7, 8, 9, 10, 11, 12],
            "5 s behind the newest are kept, and the value at the window's start"
        );
        assert_eq!(fine[0].pnl.net_pnl, Notional(42));
        assert_eq!(fine[0].pnl.day_pnl, Notional(-42));
        assert_eq!(fine[0].seq, 6);
        // An unchanged value, or a mark already written (a recovery
        // replaying), writes nothing.
        w.write(&store, &mark(13, 84, false), &names)?;
        w.write(&store, &mark(11, 1, false), &names)?;
        // A new writer (a restart) reads the newest point from the store.
        HistoryWriter::new(config()).write(&store, &mark(12, 5, false), &names)?;
        let again = store.history_points(Tier::Fine, &a1, *all.start(), *all.end())?;
        assert_eq!(again, fine);
        // The coarse tier fills in before the fine one's retention.
        w.write(&store, &mark(20, 140, true), &names)?;
        let merged = store.history(&a1, *all.start(), *all.end())?;
        let times: Vec<i64> = merged.iter().map(|p| p.at.0 / S).collect();
        assert_eq!(
            times,
            vec![10, 12, 20],
            "coarse 10, then fine 12 and 20 (fine 6..11 pruned)"
        );
        let ranged = store.history(&Series::Firm, Timestamp(15 * S), Timestamp(30 * S))?;
        assert_eq!(ranged.len(), 1);
        assert!(
            store
                .history(&Series::Account("B2".into()), *all.start(), *all.end())?
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
