//! A session's `history` subscriptions: registered with the hub's
//! [`crate::hub::HistoryFeed`] at once (new points wait in the queue),
//! then, once earlier answers allow it (read-your-writes), the stored
//! points from `from` on are read on the blocking pool, rendered there,
//! and queued as the snapshot, followed by the points made since (see
//! `hub_history.rs` for why none is lost or repeated).

use std::sync::Arc;

use serde_json::Value;

use kupala_engine::store::Store;
use kupala_engine::store::history::Series;
use kupala_engine::time::Timestamp;

use super::Session;
use super::answers::{ReadGate, open};
use crate::auth::Grant;
use crate::history_out::{self, HistoryOut};
use crate::hub::Backfill;
use crate::outbox::{SubId, SubSpec};
use crate::protocol::{ErrorCode, error_json};

/// The snapshot of a subscription to `series`: its stored points from
/// `from` on (none without `from`), at most as many as a query answers.
fn backfill(
    store: &Store,
    series: &Series,
    from: Option<Timestamp>,
) -> Result<Backfill, (ErrorCode, String)> {
    let points = match from {
        Some(from) => history_out::read(
            store,
            series,
            (from, Timestamp(i64::MAX)),
            "snapshot (subscribe with a later from)",
        )?,
        None => Vec::new(),
    };
    let text = serde_json::to_string(&HistoryOut::new(series, &points))
        .map_err(|e| (ErrorCode::Internal, format!("rendering the history: {e}")))?;
    Ok(Backfill {
        text,
        newest: points.last().map(|p| p.at),
    })
}

impl Session {
    /// True when `grant` may see `series` (its account's, or for the
    /// firm every account); else answers `forbidden`.
    pub(super) fn series_allowed(&self, id: Option<&Value>, grant: &Grant, series: &Series) -> bool {
        match series {
            Series::Firm => self.firm_allowed(id, grant),
            Series::Account(a) | Series::Book { account: a, .. } if !grant.allows(a) => {
                self.error(id, ErrorCode::Forbidden, format!("account {a:?} is not allowed"));
                false
            }
            Series::Account(_) | Series::Book { .. } => true,
        }
    }

    /// True when the server samples the P&L history (a `history`
    /// subscription would get points); else answers `unavailable`.
    pub(super) fn history_on(&self, id: Option<&Value>) -> bool {
        if self.ctx.hub.history.is_live() {
            return true;
        }
        self.error(
            id,
            ErrorCode::Unavailable,
            "this server samples no P&L history ([history] enabled = false)",
        );
        false
    }

    /// Subscribes to one series of the P&L history (the caller checked
    /// the grant): registered now, its snapshot (the stored points from
    /// `from` on) read once `gate` opens, on the blocking pool.
    pub(super) fn subscribe_history(
        &mut self,
        gate: Option<ReadGate>,
        sub: SubId,
        series: Series,
        from: Option<Timestamp>,
        spec: SubSpec,
    ) {
        let hub = Arc::clone(&self.ctx.hub);
        let answer = hub
            .history
            .subscribe_later(self.client, &self.outbox, sub, &series, from, spec);
        let (store, metrics) = (Arc::clone(&self.ctx.store), Arc::clone(&self.ctx.metrics));
        let (client, outbox) = (self.client, Arc::clone(&self.outbox));
        self.tasks.spawn(async move {
            let read = match open(gate.as_ref()).await {
                Ok(()) => {
                    let s = series.clone();
                    tokio::task::spawn_blocking(move || backfill(&store, &s, from))
                        .await
                        .unwrap_or_else(|_| Err((ErrorCode::Internal, "the history read failed".to_owned())))
                }
                Err(e) => Err(e),
            };
            match read {
                Ok(b) => hub.history.fill(client, answer, sub, &series, hub.seq(), b),
                Err((code, message)) => {
                    hub.unsubscribe(client, &outbox, sub);
                    metrics.error(code);
                    let text = error_json(answer.id(), code, &message);
                    answer.send(text);
                }
            }
        });
    }
}
