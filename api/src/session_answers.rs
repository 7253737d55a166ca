//! A session's answers that may wait: submits (acked once durable), store
//! queries (on tokio's blocking pool), and reads that must reflect what
//! was acknowledged before them (read-your-writes).
//!
//! Each reserves its [`Answer`] in request order before the next request
//! is handled, and a task fills it; the answers to later requests are held
//! behind it (`outbox_slots.rs`). A read (`query` of positions, portfolios,
//! EOD, closed or proposals; a `subscribe` snapshot) handled while a submit
//! before it still awaits its ack is answered after that ack, so it is
//! taken after it too: its task first waits for the ack's slot to be
//! released, then for the published state to reach the connection's last
//! acknowledged seq (bounded by [`READ_WAIT`]), then reads.

use std::sync::Arc;

use serde_json::Value;

use kupala_engine::state::EngineState;
use kupala_engine::store::history::Series;

use super::Session;
use crate::as_of::{AsOfQuery, AsOfWhat};
use crate::auth::{Grant, Role};
use crate::feed_gate;
use crate::hub::Hub;
use crate::ingest::IngestHandle;
use crate::metrics::Rejection;
use crate::outbox::{Outbox, SubId, SubSpec};
use crate::protocol::{AccountSel, ErrorCode, Query, Target, ack_json, error_json, result_json};
use crate::queries::stored;
use crate::render;
use crate::watermark::{Acked, READ_WAIT};

/// The engine's cut of the positions `sel` covers now, through the ingest
/// thread (after everything queued before it). Accounts not seen yet have
/// no positions: no cut is needed for them.
async fn cut_of(
    hub: &Hub,
    ingest: &IngestHandle,
    sel: &AccountSel,
) -> Result<EngineState, (ErrorCode, String)> {
    let accounts = hub.accounts_of(sel);
    if accounts.is_empty() {
        return Ok(EngineState::default());
    }
    ingest
        .positions_of(accounts)
        .await
        .map_err(|_| (ErrorCode::Unavailable, "the server is shutting down".to_owned()))
}

/// Waits for `gate`, if any (see [`ReadGate::open`]).
pub(super) async fn open(gate: Option<&ReadGate>) -> Result<(), (ErrorCode, String)> {
    match gate {
        Some(g) => g.open().await,
        None => Ok(()),
    }
}

/// What a read must wait for before it is taken.
pub(super) struct ReadGate {
    outbox: Arc<Outbox>,
    /// The slot of the last submit before the read, not yet released.
    after: Option<u64>,
    acked: Acked,
    hub: Arc<Hub>,
}

impl ReadGate {
    /// Waits for the submits before the read to be answered, then
    /// (bounded) for the published state to cover every seq acknowledged
    /// on the connection; `unavailable` when it did not in time.
    async fn open(&self) -> Result<(), (ErrorCode, String)> {
        if let Some(t) = self.after {
            self.outbox.wait_released(t).await;
        }
        let acked = self.acked.get();
        if self.hub.published.reached(acked, READ_WAIT).await {
            return Ok(());
        }
        let at = self.hub.published.get();
        Err((
            ErrorCode::Unavailable,
            format!(
                "the engine is behind: the state is complete up to seq {at}, not yet up to seq {acked} acknowledged on this connection; retry"
            ),
        ))
    }
}

impl Session {
    /// What a read handled now must wait for; `None` when it may be taken
    /// at once (no submit before it awaits its ack, and the published
    /// state covers every ack so far).
    pub(super) fn read_gate(&self) -> Option<ReadGate> {
        let after = self.last_submit.filter(|&t| !self.outbox.released(t));
        if after.is_none() && self.ctx.hub.published.get() >= self.acked.get() {
            return None;
        }
        Some(ReadGate {
            outbox: Arc::clone(&self.outbox),
            after,
            acked: self.acked.clone(),
            hub: Arc::clone(&self.ctx.hub),
        })
    }

    /// A subscribe whose snapshot must wait: registered now (its deltas
    /// wait in the queue), its snapshot taken once `gate` opens; for
    /// positions, an engine cut taken then.
    pub(super) fn subscribe_later(
        &mut self,
        gate: Option<ReadGate>,
        grant: &Arc<Grant>,
        sub: SubId,
        target: Target,
        spec: SubSpec,
    ) {
        let hub = Arc::clone(&self.ctx.hub);
        let answer = hub.subscribe_later(self.client, &self.outbox, grant, sub, &target, spec);
        let (grant, client, metrics) = (Arc::clone(grant), self.client, Arc::clone(&self.ctx.metrics));
        let (outbox, ingest) = (Arc::clone(&self.outbox), self.ctx.ingest.clone());
        self.tasks.spawn(async move {
            let ready = match open(gate.as_ref()).await {
                Ok(()) => match &target {
                    Target::Positions(sel) => cut_of(&hub, &ingest, sel).await.map(Some),
                    _ => Ok(None),
                },
                Err(e) => Err(e),
            };
            match ready {
                Ok(Some(cut)) => {
                    if let Target::Positions(sel) = &target {
                        hub.positions_into(answer, &grant, sel, sub, cut);
                    }
                }
                Ok(None) => hub.snapshot_into(answer, &grant, &target, sub, target.channel()),
                Err((code, message)) => {
                    hub.unsubscribe(client, &outbox, sub);
                    metrics.error(code);
                    let text = error_json(answer.id(), code, &message);
                    answer.send(text);
                }
            }
        });
    }

    pub(super) async fn submit(
        &mut self,
        id: Option<&Value>,
        grant: &Grant,
        events: Vec<kupala_engine::Event>,
    ) {
        for (i, e) in events.iter().enumerate() {
            if let Err(reason) = grant.may_submit(e) {
                self.ctx.metrics.reject(Rejection::Forbidden, events.len());
                self.error(id, ErrorCode::Forbidden, format!("line {}: {reason}", i + 1));
                return;
            }
        }
        if grant.role == Role::Feed {
            let Some(gate) = self.ctx.feeds.clone() else {
                self.ctx.metrics.reject(Rejection::Unavailable, events.len());
                self.error(id, ErrorCode::Unavailable, "this server has no feed queue");
                return;
            };
            let answer = self.outbox.reserve(id);
            let metrics = Arc::clone(&self.ctx.metrics);
            self.tasks.spawn(feed_gate::offer(gate, events, answer, metrics));
            return;
        }
        let answer = self.outbox.reserve(id);
        self.last_submit = Some(answer.ticket());
        let metrics = Arc::clone(&self.ctx.metrics);
        let n = events.len();
        let rx = match self.ctx.ingest.submit(events).await {
            Ok(rx) => rx,
            Err(_) => {
                metrics.reject(Rejection::Unavailable, n);
                metrics.error(ErrorCode::Unavailable);
                let text = error_json(id, ErrorCode::Unavailable, "the server is shutting down");
                return answer.send(text);
            }
        };
        let (acked, ingest) = (self.acked.clone(), self.ctx.ingest.clone());
        self.tasks.spawn(async move {
            let (code, message) = match rx.await {
                Ok(Ok(seqs)) => {
                    // Raised before the ack is queued, so a read answered
                    // after the ack waits for these events. A repeated
                    // trade id has no seq of its own: its ack came once
                    // the journal was durable past the original, so that
                    // seq covers it.
                    let repeats = seqs.iter().any(Option::is_none);
                    let last = seqs.iter().flatten().copied().max().unwrap_or(0);
                    acked.raise(if repeats { last.max(ingest.durable()) } else { last });
                    let text = ack_json(answer.id(), &seqs);
                    return answer.send(text);
                }
                Ok(Err(e)) => e,
                Err(_) => (ErrorCode::Unavailable, "the server is shutting down".to_owned()),
            };
            metrics.error(code);
            let text = error_json(answer.id(), code, &message);
            answer.send(text);
        });
    }

    pub(super) fn query(&mut self, id: Option<&Value>, grant: &Arc<Grant>, q: Query) {
        let all = AccountSel::All;
        let one;
        let sel = match &q {
            Query::Positions(s) | Query::Portfolio(s) | Query::Books(s) => s,
            Query::Firm => {
                if !self.firm_allowed(id, grant) {
                    return;
                }
                &all
            }
            Query::AsOf(a) => &a.accounts,
            Query::History(h) => match &h.series {
                Series::Firm => {
                    if !self.firm_allowed(id, grant) {
                        return;
                    }
                    &all
                }
                Series::Account(account) | Series::Book { account, .. } => {
                    one = AccountSel::One(account.clone());
                    &one
                }
            },
            Query::Eod { accounts, .. }
            | Query::Closed { accounts, .. }
            | Query::Proposals { accounts, .. } => accounts,
            Query::Analysis { job } => {
                self.query_analysis(id, grant, *job);
                return;
            }
            Query::Feeds => {
                match &self.ctx.feeds {
                    Some(f) => self.outbox.reply(result_json(id, f.status())),
                    None => self.error(id, ErrorCode::NotFound, "this server has no live feeds"),
                }
                return;
            }
        };
        if !self.account_allowed(id, grant, sel) {
            return;
        }
        let gate = self.read_gate();
        if let Query::AsOf(a) = q {
            if a.what == AsOfWhat::Firm && !self.firm_allowed(id, grant) {
                return;
            }
            return self.query_as_of(id, grant, gate, a);
        }
        let from_view = matches!(q, Query::Portfolio(_) | Query::Books(_) | Query::Firm);
        if !from_view && !matches!(q, Query::Positions(_)) {
            let (store, grant) = (Arc::clone(&self.ctx.store), Arc::clone(grant));
            let names = self.ctx.hub.names().cloned();
            self.blocking(id, gate, move |qid| {
                stored(&store, names.as_ref(), &grant, &q, qid)
            });
            return;
        }
        if gate.is_none() && !matches!(q, Query::Positions(_)) {
            let text = live(&self.ctx.hub, grant, &q, id);
            return self.outbox.reply(text);
        }
        let answer = self.outbox.reserve(id);
        let ingest = self.ctx.ingest.clone();
        let (hub, grant, metrics) = (
            Arc::clone(&self.ctx.hub),
            Arc::clone(grant),
            Arc::clone(&self.ctx.metrics),
        );
        self.tasks.spawn(async move {
            let read = match open(gate.as_ref()).await {
                Ok(()) => match &q {
                    Query::Positions(sel) => cut_of(&hub, &ingest, sel).await.map(|cut| {
                        let list = hub.visible(cut, &grant, sel);
                        hub.with_names(|n| result_json(answer.id(), render::positions(&list, n)))
                            .unwrap_or_else(|| result_json(answer.id(), Vec::<Value>::new()))
                    }),
                    _ => Ok(live(&hub, &grant, &q, answer.id())),
                },
                Err(e) => Err(e),
            };
            let text = match read {
                Ok(text) => text,
                Err((code, message)) => {
                    metrics.error(code);
                    error_json(answer.id(), code, &message)
                }
            };
            answer.send(text);
        });
    }

    /// Answers an as-of query on the blocking pool, unless one is running.
    fn query_as_of(&mut self, id: Option<&Value>, grant: &Arc<Grant>, gate: Option<ReadGate>, q: AsOfQuery) {
        let Some(permit) = self.ctx.as_of.try_begin() else {
            return self.error(
                id,
                ErrorCode::Busy,
                "another as_of query is running; retry when it is answered",
            );
        };
        let (ctx, grant) = (Arc::clone(&self.ctx), Arc::clone(grant));
        self.blocking(id, gate, move |qid| {
            let _running = permit;
            ctx.as_of.answer(&ctx.store, &grant, &q, qid)
        });
    }

    /// Runs a blocking query on tokio's blocking pool (once `gate`, if
    /// any, opens) and fills its reserved answer with the result or error.
    pub(super) fn blocking(
        &mut self,
        id: Option<&Value>,
        gate: Option<ReadGate>,
        work: impl FnOnce(Option<&Value>) -> Result<String, (ErrorCode, String)> + Send + 'static,
    ) {
        let answer = self.outbox.reserve(id);
        let metrics = Arc::clone(&self.ctx.metrics);
        self.tasks.spawn(async move {
            let opened = match &gate {
                Some(g) => g.open().await,
                None => Ok(()),
            };
            let done = match opened {
                Ok(()) => {
                    let qid = answer.id().cloned();
                    match tokio::task::spawn_blocking(move || work(qid.as_ref())).await {
                        Ok(r) => r,
                        Err(_) => Err((ErrorCode::Internal, "the query failed".to_owned())),
                    }
                }
                Err(e) => Err(e),
            };
            let text = match done {
                Ok(text) => text,
                Err((code, message)) => {
                    metrics.error(code);
                    error_json(answer.id(), code, &message)
                }
            };
            answer.send(text);
        });
    }
}

/// A `portfolio`, `books` or `firm` query answered from the hub's view.
fn live(hub: &Hub, grant: &Grant, q: &Query, id: Option<&Value>) -> String {
    let text = match q {
        Query::Portfolio(sel) => {
            let list = hub.portfolios(grant, sel);
            hub.with_names(|n| result_json(id, render::portfolios(&list, n)))
        }
        Query::Books(sel) => {
            let list = hub.books(grant, sel);
            hub.with_names(|n| result_json(id, render::books(&list, n)))
        }
        Query::Firm => {
            let firm = hub.firm();
            hub.with_names(|n| result_json(id, firm.map(|f| render::FirmOut::new(&f, n))))
        }
        _ => None,
    };
    text.unwrap_or_else(|| result_json(id, Vec::<Value>::new()))
}
