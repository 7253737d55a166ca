//! One client's protocol state: authentication, rate limit, subscriptions,
//! and the handling of each request, one at a time in arrival order. Every
//! answer takes its place in the client's queue in that order (see
//! `outbox_slots.rs`): one ready at once is queued at once; slow work
//! (durable acks, store reads, reads waiting for read-your-writes) runs in
//! tasks that fill the answer reserved for them, and the answers behind it
//! wait, never the connection's reading or its deltas.

use std::sync::Arc;
use std::time::{Duration, Instant};

use rustc_hash::FxHashMap;
use serde_json::{Value, json};
use tokio::task::JoinSet;

use crate::auth::Grant;
use crate::client_id::ClientId;
use crate::context::Context;
use crate::outbox::{Outbox, SubId, SubSpec};
use crate::protocol::{
    AccountSel, CloseReason, ErrorCode, Failure, Op, Request, Subscribe, Target, parse_request, result_json,
};
use crate::watermark::Acked;

#[path = "session_analysis.rs"]
mod analysis;
#[path = "session_answers.rs"]
mod answers;
#[path = "session_history.rs"]
mod history;
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
    /// The answer slot of the last submit: a read handled before it is
    /// released waits for it (it is answered after the ack).
    last_submit: Option<u64>,
    /// Tasks filling reserved answers: submits waiting for durability,
    /// store queries, reads waiting for read-your-writes.
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
            last_submit: None,
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
        if self.over_inflight(None) {
            return None;
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

    /// Refuses (`rate_limited`, queued in order) a request arriving while
    /// `max_inflight` requests await their answer on this connection.
    fn over_inflight(&self, text: Option<&str>) -> bool {
        let max = self.ctx.config.max_inflight;
        if self.outbox.awaiting() < max {
            return false;
        }
        let id = text.and_then(crate::protocol::peek_id);
        self.error(
            id.as_ref(),
            ErrorCode::RateLimited,
            format!("at most {max} requests awaiting their answer (max_inflight)"),
        );
        true
    }

    /// Handles one text frame; `Some(reason)` closes the connection.
    pub(crate) async fn text(&mut self, text: &str) -> Option<CloseReason> {
        if let Some(r) = self.limit(Some(text)) {
            return r;
        }
        if self.over_inflight(Some(text)) {
            return None;
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

    /// True when `grant` may see the firm's totals; else answers with an
    /// error.
    pub(super) fn firm_allowed(&self, id: Option<&Value>, grant: &Grant) -> bool {
        if grant.sees_all() {
            return true;
        }
        self.error(
            id,
            ErrorCode::Forbidden,
            "the firm's totals need a token of every account (\"*\")",
        );
        false
    }

    fn subscribe(&mut self, id: Option<&Value>, grant: &Arc<Grant>, s: Subscribe) {
        let sel = match &s.target {
            Target::Positions(sel) | Target::Portfolio(sel) | Target::Books(sel) => Some(sel),
            Target::Ticks(_) | Target::Analysis | Target::Firm | Target::History(_) => None,
        };
        if sel.is_some_and(|sel| !self.account_allowed(id, grant, sel)) {
            return;
        }
        if let Target::History(series) = &s.target
            && !(self.series_allowed(id, grant, series) && self.history_on(id))
        {
            return;
        }
        if s.target == Target::Firm && !self.firm_allowed(id, grant) {
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
            batch: s.batch,
        };
        let gate = self.read_gate();
        if let Target::Positions(sel) = &s.target {
            // Deltas from now on; the snapshot is a cut taken after.
            self.ctx.hub.want(sel);
        }
        if s.target == Target::Analysis {
            self.subscribe_analysis(id, grant, sub, spec);
        } else if let Target::History(series) = &s.target {
            self.subscribe_history(gate, sub, series.clone(), s.from, spec);
        } else if gate.is_some() || matches!(s.target, Target::Positions(_)) {
            self.subscribe_later(gate, grant, sub, s.target.clone(), spec);
        } else {
            self.ctx
                .hub
                .subscribe(self.client, &self.outbox, grant, sub, &s.target, spec);
        }
        self.subs.insert(s.target, sub);
    }

    fn unsubscribe(&mut self, id: Option<&Value>, target: &Target) {
        // A subscription whose deferred snapshot failed (read-your-writes
        // timed out) was ended by its task: it is not found.
        match self.subs.remove(target) {
            Some(sub) if self.outbox.has_sub(sub) => {
                self.end_sub(sub);
                self.outbox.reply(result_json(
                    id,
                    json!({ "unsubscribed": target.channel().as_str() }),
                ));
            }
            _ => self.error(id, ErrorCode::NotFound, "no such subscription"),
        }
    }
}
