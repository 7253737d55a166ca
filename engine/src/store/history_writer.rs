//! Writing the P&L history's points (see `store/history.rs`): each mark's
//! points are appended to their series' chunk in progress, a full chunk is
//! written as one value, and a series' chunks wholly older than its
//! retention are removed as it writes a new one.

use rustc_hash::FxHashMap;

use super::history::{CHUNK, StoredPoint, Tier, encode_chunk, key, prefix, series_of};
use crate::history::{HistoryConfig, HistoryMark, PnlPoint};
use crate::ids::Names;
use crate::store::{Store, StoreError};
use crate::time::Timestamp;

/// Writes marks' points, remembering each series' newest point (the store
/// is read once per series and process).
#[derive(Debug)]
pub struct HistoryWriter {
    config: HistoryConfig,
    newest: FxHashMap<Vec<u8>, Option<(Timestamp, PnlPoint)>>,
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

    /// Adds a mark's points (fine, and coarse when it closes a coarse
    /// bucket). A point equal to its series' newest one in the tier is not
    /// kept, so what is stored does not depend on which unchanged series a
    /// mark reported (a restored engine reports every series at its first
    /// mark), and neither is a point at or before the newest (a recovery
    /// replaying marks already written).
    pub fn write(&mut self, store: &Store, mark: &HistoryMark, names: &Names) -> Result<(), StoreError> {
        let mut open = store
            .history_open
            .lock()
            .map_err(|_| StoreError::Db("the P&L history's chunks are poisoned".into()))?;
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
                        let in_progress = open.get(&p).and_then(|c| c.last()).copied();
                        let newest = match in_progress {
                            Some(point) => Some(point),
                            None => store.newest_stored(&p)?,
                        };
                        self.newest
                            .entry(p.clone())
                            .or_insert(newest.map(|s| (s.at, s.pnl)))
                    }
                };
                if newest.is_some_and(|(at, value)| value == pnl || at >= mark.at) {
                    continue;
                }
                *newest = Some((mark.at, pnl));
                let chunk = open.entry(p).or_default();
                chunk.push(StoredPoint {
                    at: mark.at,
                    seq: mark.seq,
                    pnl,
                });
                if chunk.len() >= CHUNK {
                    let first = chunk[0].at;
                    let (p, chunk) = open.remove_entry(&prefix(tier, &series)).unwrap_or_default();
                    w.insert(&store.history, key(&p, first), encode_chunk(&chunk));
                    prune(
                        store,
                        &mut w,
                        &p,
                        first,
                        Timestamp(mark.at.0.saturating_sub(keep)),
                    )?;
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
