//! One client's protocol state: authentication, rate limit, subscriptions,
//! and the handling of each request. Answers go into the client's queue
//! (so they stay ordered with snapshots); slow work (durable acks, store
//! reads) runs in tasks that queue their answer when done.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::auth::{Grant, Role};
use crate::feed_gate;
use crate::hub::ClientId;
use crate::outbox::{Outbox, SubId, SubSpec};
use crate::protocol::{
    AccountSel, CloseReason, ErrorCode, Failure, Op, Query, Request, Subscribe, Target, ack_json, error_json,
    parse_request, result_json,
};
use crate::queries::stored;
use crate::render;
use crate::server::Context;
use crate::watermark::{Acked, READ_WAIT};

#[path = "session_analysis.rs"]
mod analysis;
#[path = "session_rate.rs"]
mod rate;

use rate::{Bucket, Verdict};

/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// Failed `auth` attempts before the connection is closed.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// A connection's protocol state.
pub(crate) struct Session {
    ctx: Arc<Context>,
    client: ClientId,
    outbox: Arc<Outbox>,
    grant: Option<Arc<Grant>>,
    subs: FxHashMap<Target, SubId>,
    next_sub: SubId,
    auth_failures: u32,
    bucket: Bucket,
    /// The last seq acknowledged on this connection: reads wait for it.
    acked: Acked,
    /// Submits waiting for durability and store queries in progress.
    pub(crate) tasks: JoinSet<()>,
}

impl Session {
    pub(crate) fn new(ctx: Arc<Context>, client: ClientId, outbox: Arc<Outbox>) -> Self {
        let grant = ctx.auth.open_grant();
        let rate = ctx.config.max_msgs_per_sec;
        Self {
            ctx,
            client,
            outbox,
            grant,
            subs: FxHashMap::default(),
            next_sub: 1,
            auth_failures: 0,
            bucket: Bucket::new(rate),
            acked: Acked::default(),
            tasks: JoinSet::new(),
        }
    }

    pub(crate) fn authenticated(&self) -> bool {
        self.grant.is_some()
    }

    fn fail(&self, f: &Failure) {
        self.ctx.metrics.error(f.code);
        self.outbox.reply(f.to_json());
    }

    fn error(&self, id: Option<&Value>, code: ErrorCode, message: impl Into<String>) {
        self.fail(&Failure::new(id, code, message));
    }

    /// Answers a binary frame.
    pub(crate) fn binary(&mut self) -> Option<CloseReason> {
        if let Some(r) = self.limit(None) {
            return r;
        }
        self.error(
            None,
            ErrorCode::BadRequest,
            "binary frames are not supported: send JSON text",
        );
        None
    }

    /// Applies the rate limit: `Some(close)` when the message must not be
    /// handled (with `Some(None)` meaning "answered, keep open"); the
    /// refusal carries the id of the request in `text`, if any.
    fn limit(&mut self, text: Option<&str>) -> Option<Option<CloseReason>> {
        match self.bucket.take(Instant::now()) {
            Verdict::Ok => None,
            Verdict::Limited => {
                let max = self.ctx.config.max_msgs_per_sec;
                let id = text.and_then(crate::protocol::peek_id);
                self.error(
                    id.as_ref(),
                    ErrorCode::RateLimited,
                    format!("rate limit: at most {max} messages per second"),
                );
                Some(None)
            }
            Verdict::Close => Some(Some(CloseReason::RateLimit)),
        }
    }

    /// Handles one text frame; `Some(reason)` closes the connection.
    pub(crate) async fn text(&mut self, text: &str) -> Option<CloseReason> {
        if let Some(r) = self.limit(Some(text)) {
            return r;
        }
        let max = self.ctx.config.max_frame_bytes;
        if text.len() > max {
            let id = crate::protocol::peek_id(text);
            self.error(
                id.as_ref(),
                ErrorCode::TooLarge,
                format!("message of {} bytes; at most {max} (max_frame_bytes)", text.len()),
            );
            return None;
        }
        let req = match parse_request(text, self.ctx.config.max_submit_events) {
            Ok(r) => r,
            Err(f) => {
                self.fail(&f);
                return None;
            }
        };
        let Request { id, op } = req;
        let id = id.as_ref();
        let grant = match (&op, &self.grant) {
            (Op::Auth { token }, _) => return self.auth(id, token),
            (_, Some(g)) => Arc::clone(g),
            (_, None) => {
                self.error(
                    id,
                    ErrorCode::Unauthorized,
                    "authenticate first: {\"op\":\"auth\",\"token\":\"...\"}",
                );
                return None;
            }
        };
        if reads_published(&op) && !self.caught_up(id).await {
            return None;
        }
        match op {
            Op::Auth { .. } => {}
            Op::Subscribe(s) => self.subscribe(id, &grant, s),
            Op::Unsubscribe(t) => self.unsubscribe(id, &t),
            Op::Submit(events) => self.submit(id, &grant, events).await,
            Op::Query(q) => self.query(id, &grant, q),
            Op::Analyze(params) => self.analyze(id, &grant, params),
            Op::Cancel { job } => self.cancel(id, &grant, job),
        }
        None
    }

    /// Read-your-writes: waits (bounded) until the published state covers
    /// every seq acknowledged on this connection. False when it did not in
    /// time (then the request is answered `unavailable`).
    async fn caught_up(&self, id: Option<&Value>) -> bool {
        let acked = self.acked.get();
        if self.ctx.hub.published.reached(acked, READ_WAIT).await {
            return true;
        }
        let at = self.ctx.hub.published.get();
        self.error(
            id,
            ErrorCode::Unavailable,
            format!(
                "the engine is behind: the state is complete up to seq {at}, not yet up to seq {acked} acknowledged on this connection; retry"
            ),
        );
        false
    }

    fn auth(&mut self, id: Option<&Value>, token: &str) -> Option<CloseReason> {
        match self.ctx.auth.check(token) {
            Some(g) => {
                // A new grant: subscriptions made under the old one end.
                for (_, sub) in std::mem::take(&mut self.subs) {
                    self.end_sub(sub);
                }
                self.outbox.reply(result_json(id, g.to_json()));
                self.grant = Some(g);
                None
            }
            None => {
                self.auth_failures += 1;
                self.error(id, ErrorCode::Unauthorized, "invalid token");
                (self.auth_failures >= MAX_AUTH_FAILURES).then_some(CloseReason::AuthFailed)
            }
        }
    }

    fn account_allowed(&self, id: Option<&Value>, grant: &Grant, sel: &AccountSel) -> bool {
        match sel {
            AccountSel::One(a) if !grant.allows(a) => {
                self.error(id, ErrorCode::Forbidden, format!("account {a:?} is not allowed"));
                false
            }
            _ => true,
        }
    }

    fn subscribe(&mut self, id: Option<&Value>, grant: &Arc<Grant>, s: Subscribe) {
        let sel = match &s.target {
            Target::Positions(sel) | Target::Portfolio(sel) => Some(sel),
            Target::Ticks(_) | Target::Analysis => None,
        };
        if sel.is_some_and(|sel| !self.account_allowed(id, grant, sel)) {
            return;
        }
        if s.target == Target::Analysis && self.ml(id).is_none() {
            return;
        }
        if let Some(old) = self.subs.remove(&s.target) {
            self.end_sub(old);
        } else if self.subs.len() >= MAX_SUBSCRIPTIONS {
            self.error(
                id,
                ErrorCode::TooLarge,
                format!("at most {MAX_SUBSCRIPTIONS} subscriptions per connection"),
            );
            return;
        }
        let sub = self.next_sub;
        self.next_sub += 1;
        let spec = SubSpec {
            id: id.cloned(),
            channel: s.target.channel(),
            start_seq: 0,
            interval: s.min_interval_ms.map(Duration::from_millis),
            min_change: s.min_change.map(|m| m.raw()),
        };
        if s.target == Target::Analysis {
            self.subscribe_analysis(id, grant, sub, spec);
        } else {
            self.ctx
                .hub
                .subscribe(self.client, &self.outbox, grant, sub, &s.target, spec);
        }
        self.subs.insert(s.target, sub);
    }

    fn unsubscribe(&mut self, id: Option<&Value>, target: &Target) {
        match self.subs.remove(target) {
            Some(sub) => {
                self.end_sub(sub);
                self.outbox.reply(result_json(
                    id,
                    json!({ "unsubscribed": target.channel().as_str() }),
                ));
            }
            None => self.error(id, ErrorCode::NotFound, "no such subscription"),
        }
    }

    async fn submit(&mut self, id: Option<&Value>, grant: &Grant, events: Vec<kupala_engine::Event>) {
        for (i, e) in events.iter().enumerate() {
            if let Err(reason) = grant.may_submit(e) {
                self.error(id, ErrorCode::Forbidden, format!("line {}: {reason}", i + 1));
                return;
            }
        }
        if self.tasks.len() >= self.ctx.config.max_inflight {
            let max = self.ctx.config.max_inflight;
            self.error(
                id,
                ErrorCode::RateLimited,
                format!("at most {max} requests in flight"),
            );
            return;
        }
        if grant.role == Role::Feed {
            let Some(gate) = self.ctx.feeds.clone() else {
                self.error(id, ErrorCode::Unavailable, "this server has no feed queue");
                return;
            };
            let (outbox, metrics) = (Arc::clone(&self.outbox), Arc::clone(&self.ctx.metrics));
            self.tasks
                .spawn(feed_gate::offer(gate, events, outbox, metrics, id.cloned()));
            return;
        }
        let rx = match self.ctx.ingest.submit(events).await {
            Ok(rx) => rx,
            Err(_) => {
                self.error(id, ErrorCode::Unavailable, "the server is shutting down");
                return;
            }
        };
        let outbox = Arc::clone(&self.outbox);
        let metrics = Arc::clone(&self.ctx.metrics);
        let (acked, ingest) = (self.acked.clone(), self.ctx.ingest.clone());
        let id = id.cloned();
        self.tasks.spawn(async move {
            let (code, message) = match rx.await {
                Ok(Ok(seqs)) => {
                    // Raised before the ack is queued, so a read sent after
                    // the ack waits for these events. A repeated trade id
                    // has no seq of its own: its ack came once the journal
                    // was durable past the original, so that seq covers it.
                    let repeats = seqs.iter().any(Option::is_none);
                    let last = seqs.iter().flatten().copied().max().unwrap_or(0);
                    acked.raise(if repeats { last.max(ingest.durable()) } else { last });
                    return outbox.reply(ack_json(id.as_ref(), &seqs));
                }
                Ok(Err(e)) => e,
                Err(_) => (ErrorCode::Unavailable, "the server is shutting down".to_owned()),
            };
            metrics.error(code);
            outbox.reply(error_json(id.as_ref(), code, &message));
        });
    }

    fn query(&mut self, id: Option<&Value>, grant: &Arc<Grant>, q: Query) {
        let sel = match &q {
            Query::Positions(s) | Query::Portfolio(s) => s,
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
        let hub = &self.ctx.hub;
        let text = match &q {
            Query::Positions(sel) => {
                let list = hub.positions(grant, sel);
                hub.with_names(|n| result_json(id, render::positions(&list, n)))
            }
            Query::Portfolio(sel) => {
                let list = hub.portfolios(grant, sel);
                hub.with_names(|n| result_json(id, render::portfolios(&list, n)))
            }
            _ => {
                self.store_query(id, grant, q);
                return;
            }
        };
        self.outbox
            .reply(text.unwrap_or_else(|| result_json(id, Vec::<Value>::new())));
    }

    fn store_query(&mut self, id: Option<&Value>, grant: &Arc<Grant>, q: Query) {
        let (store, grant) = (Arc::clone(&self.ctx.store), Arc::clone(grant));
        let names = self.ctx.hub.names().cloned();
        self.blocking(id, move |qid| stored(&store, names.as_ref(), &grant, &q, qid));
    }

    /// Runs a blocking query on tokio's blocking pool; queues its answer
    /// (or its error) when done. Counts toward `max_inflight`.
    fn blocking(
        &mut self,
        id: Option<&Value>,
        work: impl FnOnce(Option<&Value>) -> Result<String, (ErrorCode, String)> + Send + 'static,
    ) {
        if self.tasks.len() >= self.ctx.config.max_inflight {
            self.error(id, ErrorCode::RateLimited, "too many requests in flight");
            return;
        }
        let (outbox, metrics, id) = (
            Arc::clone(&self.outbox),
            Arc::clone(&self.ctx.metrics),
            id.cloned(),
        );
        let query_id = id.clone();
        self.tasks.spawn(async move {
            let work = tokio::task::spawn_blocking(move || work(query_id.as_ref()));
            let (code, message) = match work.await {
                Ok(Ok(text)) => return outbox.reply(text),
                Ok(Err(e)) => e,
                Err(_) => (ErrorCode::Internal, "the query failed".to_owned()),
            };
            metrics.error(code);
            outbox.reply(error_json(id.as_ref(), code, &message));
        });
    }
}

/// Whether a request reads the published state (positions, totals, ticks,
/// the EOD, closed and proposal records the engine writes): those wait for
/// read-your-writes.
const fn reads_published(op: &Op) -> bool {
    match op {
        Op::Subscribe(s) => !matches!(s.target, Target::Analysis),
        Op::Query(q) => !matches!(q, Query::Analysis { .. } | Query::Feeds),
        _ => false,
    }
}
