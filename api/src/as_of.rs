//! `query` of positions, portfolio, books or the firm `as_of` an earlier
//! seq or time:
//! answered from the store (the nearest snapshot, then the journal up to
//! the point, replayed offline by the engine's `as_of`) on the blocking
//! pool, one at a time, with at most `as_of_max_events` events replayed:
//! the live engine is not touched, and the extra memory is one engine's
//! books, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;
use serde_json::Value;

use kupala_engine::PipelineConfig;
use kupala_engine::as_of::{AsOf, AsOfError, state_as_of};
use kupala_engine::store::Store;

use crate::auth::Grant;
use crate::fanout::selected;
use crate::protocol::{AccountSel, ErrorCode, result_json};
use crate::render;

/// What an as-of query reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AsOfWhat {
    /// Positions.
    Positions,
    /// Account totals.
    Portfolio,
    /// Book totals.
    Books,
    /// The firm's totals.
    Firm,
}

/// A decoded as-of query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AsOfQuery {
    /// What it reads.
    pub what: AsOfWhat,
    /// Whose.
    pub accounts: AccountSel,
    /// When.
    pub at: AsOf,
}

/// Runs as-of queries: the engine configuration they replay under and
/// their bounds.
#[derive(Debug)]
pub struct AsOfReader {
    config: PipelineConfig,
    max_events: u64,
    running: Arc<AtomicBool>,
}

/// The right to run the one as-of query at a time; released when dropped.
#[derive(Debug)]
pub(crate) struct AsOfPermit(Arc<AtomicBool>);

impl Drop for AsOfPermit {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[derive(Serialize)]
struct Positions {
    seq: u64,
    positions: Vec<render::PositionOut>,
}

#[derive(Serialize)]
struct Portfolios {
    seq: u64,
    portfolios: Vec<render::PortfolioOut>,
}

#[derive(Serialize)]
struct Books {
    seq: u64,
    books: Vec<render::BookOut>,
}

#[derive(Serialize)]
struct Firm {
    seq: u64,
    firm: render::FirmOut,
}

impl AsOfReader {
    /// A reader replaying under `config` (the live engine's cost methods
    /// and base currencies; one shard is enough offline), at most
    /// `max_events` events after a snapshot.
    #[must_use]
    pub fn new(mut config: PipelineConfig, max_events: u64) -> Self {
        config.shards = 1;
        config.emit_positions = false;
        Self {
            config,
            max_events,
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    /// The permit to run one, unless one is running.
    pub(crate) fn try_begin(&self) -> Option<AsOfPermit> {
        self.running
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
            .then(|| AsOfPermit(Arc::clone(&self.running)))
    }

    /// Answers `q` for `grant` (blocking: the blocking pool runs it): the
    /// `result` message's text, `{"seq": N, "positions": [...]}`,
    /// `{"seq": N, "portfolios": [...]}`, `{"seq": N, "books": [...]}` or
    /// `{"seq": N, "firm": {...}}`, N the seq the point resolved to.
    pub(crate) fn answer(
        &self,
        store: &Store,
        grant: &Grant,
        q: &AsOfQuery,
        id: Option<&Value>,
    ) -> Result<String, (ErrorCode, String)> {
        let read = state_as_of(store, self.config.clone(), q.at, self.max_events).map_err(|e| {
            let code = match e {
                AsOfError::Beyond { .. } | AsOfError::Pruned { .. } => ErrorCode::NotFound,
                AsOfError::TooFar { .. } => ErrorCode::TooLarge,
                _ => ErrorCode::Internal,
            };
            (code, format!("as_of: {e}"))
        })?;
        let names = &read.names;
        let visible = |account| selected(&q.accounts, grant, names.account(account));
        Ok(match q.what {
            AsOfWhat::Positions => {
                let list: Vec<_> = read
                    .state
                    .positions
                    .into_iter()
                    .filter(|p| visible(p.account))
                    .collect();
                let positions = render::positions(&list, names);
                result_json(
                    id,
                    Positions {
                        seq: read.seq,
                        positions,
                    },
                )
            }
            AsOfWhat::Portfolio => {
                let list: Vec<_> = read
                    .state
                    .portfolios
                    .into_iter()
                    .filter(|p| visible(p.account))
                    .collect();
                let portfolios = render::portfolios(&list, names);
                result_json(
                    id,
                    Portfolios {
                        seq: read.seq,
                        portfolios,
                    },
                )
            }
            AsOfWhat::Books => {
                let list: Vec<_> = read
                    .state
                    .books
                    .into_iter()
                    .filter(|b| visible(b.totals.account))
                    .collect();
                let books = render::books(&list, names);
                result_json(id, Books { seq: read.seq, books })
            }
            AsOfWhat::Firm => {
                let firm = render::FirmOut::new(&read.state.firm, names);
                result_json(id, Firm { seq: read.seq, firm })
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_as_of_query_runs_at_a_time() {
        let reader = AsOfReader::new(PipelineConfig::default(), 10);
        let first = reader.try_begin();
        assert!(first.is_some());
        assert!(reader.try_begin().is_none(), "a second while the first runs");
        drop(first);
        assert!(reader.try_begin().is_some(), "free again once it ends");
    }
}
