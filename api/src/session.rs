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

#[path = "session_analysis.rs"]
mod analysis;

/// Subscriptions one connection may hold.
pub const MAX_SUBSCRIPTIONS: usize = 256;
/// Failed `auth` attempts before the connection is closed.
pub const MAX_AUTH_FAILURES: u32 = 3;

/// A token bucket: `rate` messages per second, bursts of `rate`.
struct Bucket {
    rate: f64,
    tokens: f64,
    last: Instant,
    over: u32,
    window: Instant,
}

enum Verdict {
    Ok,
    Limited,
    Close,
}

impl Bucket {
    fn new(rate: u32) -> Self {
        let now = Instant::now();
        let rate = f64::from(rate.max(1));
        Self {
            rate,
            tokens: rate,
            last: now,
            over: 0,
            window: now,
        }
    }

    fn take(&mut self, now: Instant) -> Verdict {
        let dt = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + dt * self.rate).min(self.rate);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Verdict::Ok;
        }
        if now.saturating_duration_since(self.window) > Duration::from_secs(1) {
            self.window = now;
            self.over = 0;
        }
        self.over += 1;
        if f64::from(self.over) > self.rate {
            Verdict::Close
        } else {
            Verdict::Limited
        }
    }
}

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
        if let Some(r) = self.limit() {
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
    /// handled (with `Some(None)` meaning "answered, keep open").
    fn limit(&mut self) -> Option<Option<CloseReason>> {
        match self.bucket.take(Instant::now()) {
            Verdict::Ok => None,
            Verdict::Limited => {
                let max = self.ctx.config.max_msgs_per_sec;
                self.error(
                    None,
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
        if let Some(r) = self.limit() {
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
        let id = id.cloned();
        self.tasks.spawn(async move {
            let (code, message) = match rx.await {
                Ok(Ok(seqs)) => return outbox.reply(ack_json(id.as_ref(), &seqs)),
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
