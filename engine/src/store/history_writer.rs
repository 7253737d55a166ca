//! Writing the P&L history's points (see `store/history.rs`): each mark's
//! points are appended to their series' chunk in progress, a full chunk is
//! written as one value, and a series' chunks wholly older than its
//! retention are removed as it writes a new one. The mark's new fine
//! points are then told to the store's listener, if any, under the same
//! lock.

use std::sync::Arc;

use rustc_hash::FxHashMap;

use super::history::{CHUNK, NewPoint, OpenChunks, Series, StoredPoint, Tier, encode_chunk, key, prefix};
use crate::history::{HistoryConfig, HistoryMark, PnlPoint};
use crate::ids::{AccountId, BookId, Names};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use crate::view::strategy_of;

/// A series by the engine's ids (stable for a process), so a point costs
/// an integer-keyed lookup; names are rendered once per series.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum SeriesId {
    Firm,
    Account(AccountId),
    Book(BookId),
}

impl SeriesId {
    fn named(self, names: &Names) -> Series {
        match self {
            Self::Firm => Series::Firm,
            Self::Account(a) => Series::Account(names.account(a).to_owned()),
            Self::Book(b) => Series::Book {
                account: names.account(names.books.account(b)).to_owned(),
                strategy: strategy_of(b, names).map(str::to_owned),
            },
        }
    }
}

/// What the writer knows of one series in one tier.
#[derive(Debug)]
struct SeriesState {
    /// Its names (told to the listener with each new point).
    series: Arc<Series>,
    /// Its key prefix (tier and names).
    prefix: Vec<u8>,
    /// Its newest point (stored or in progress).
    newest: Option<(Timestamp, PnlPoint)>,
}

/// Writes marks' points, remembering each series' newest point (the store
/// is read once per series and process).
#[derive(Debug)]
pub struct HistoryWriter {
    config: HistoryConfig,
    series: FxHashMap<(Tier, SeriesId), SeriesState>,
    /// The mark's new fine points, for the listener (reused).
    fresh: Vec<NewPoint>,
}

impl HistoryWriter {
    /// A writer keeping `config`'s retentions.
    #[must_use]
    pub fn new(config: HistoryConfig) -> Self {
        Self {
            config,
            series: FxHashMap::default(),
            fresh: Vec::new(),
        }
    }

    /// Adds a mark's points (fine, and coarse when it closes a coarse
    /// bucket). A point equal to its series' newest one in the tier is not
    /// kept, so what is stored does not depend on which unchanged series a
    /// mark reported (a restored engine reports every series at its first
    /// mark), and neither is a point at or before the newest (a recovery
    /// replaying marks already written).
    ///
    /// The store's listener is then told of the new fine points, before
    /// the lock is released (also those of a mark whose write failed part
    /// way: a point in a chunk in progress is readable all the same).
    pub fn write(&mut self, store: &Store, mark: &HistoryMark, names: &Names) -> Result<(), StoreError> {
        let mut open = store.history_lock()?;
        self.fresh.clear();
        let written = self.add(store, &mut open, mark, names);
        if let Some(listener) = &open.listener
            && !self.fresh.is_empty()
        {
            listener.points(&self.fresh);
        }
        self.fresh.clear();
        written
    }

    /// Adds a mark's points under the lock (see [`HistoryWriter::write`]),
    /// noting the fine ones in `fresh` when a listener wants them.
    fn add(
        &mut self,
        store: &Store,
        open: &mut OpenChunks,
        mark: &HistoryMark,
        names: &Names,
    ) -> Result<(), StoreError> {
        let told = open.listener.is_some();
        let open = &mut open.chunks;
        let mut w = store.db().batch();
        let points = std::iter::once((SeriesId::Firm, mark.firm))
            .chain(
                mark.accounts
                    .iter()
                    .map(|p| (SeriesId::Account(p.account), p.pnl)),
            )
            .chain(mark.books.iter().map(|p| (SeriesId::Book(p.book), p.pnl)));
        let coarse = [
            (Tier::Fine, self.config.retention_ns),
            (Tier::Coarse, self.config.coarse_retention_ns),
        ];
        let tiers = if mark.coarse { &coarse[..] } else { &coarse[..1] };
        for (id, pnl) in points {
            for &(tier, keep) in tiers {
                let state = match self.series.entry((tier, id)) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let series = Arc::new(id.named(names));
                        let p = prefix(tier, &series);
                        let in_progress = open.get(&p).and_then(|c| c.last()).copied();
                        let newest = match in_progress {
                            Some(point) => Some(point),
                            None => store.newest_stored(&p)?,
                        };
                        e.insert(SeriesState {
                            series,
                            prefix: p,
                            newest: newest.map(|s| (s.at, s.pnl)),
                        })
                    }
                };
                if state
                    .newest
                    .is_some_and(|(at, value)| value == pnl || at >= mark.at)
                {
                    continue;
                }
                state.newest = Some((mark.at, pnl));
                let point = StoredPoint {
                    at: mark.at,
                    seq: mark.seq,
                    pnl,
                };
                let chunk = match open.get_mut(&state.prefix) {
                    Some(c) => c,
                    None => open.entry(state.prefix.clone()).or_default(),
                };
                chunk.push(point);
                if told && tier == Tier::Fine {
                    self.fresh.push(NewPoint {
                        series: Arc::clone(&state.series),
                        point,
                    });
                }
                if chunk.len() >= CHUNK {
                    let full = std::mem::take(chunk);
                    let first = full[0].at;
                    w.insert(&store.history, key(&state.prefix, first), encode_chunk(&full));
                    let cutoff = Timestamp(mark.at.0.saturating_sub(keep));
                    prune(store, &mut w, &state.prefix, first, cutoff)?;
                }
            }
        }
        w.commit()?;
        Ok(())
    }
}

/// Removes a series' stored chunks that start before `cutoff`, but the
/// last chunk starting before it (it holds the value at the window's
/// start), which is the one being written (starting at `written`) when
/// that one starts before `cutoff` too.
fn prune(
    store: &Store,
    w: &mut fjall::OwnedWriteBatch,
    p: &[u8],
    written: Timestamp,
    cutoff: Timestamp,
) -> Result<(), StoreError> {
    let mut old = store.history.range(p.to_vec()..key(p, cutoff)).rev();
    if written >= cutoff {
        let _window_start = old.next();
    }
    for g in old {
        w.remove(&store.history, g.key()?);
    }
    Ok(())
}
