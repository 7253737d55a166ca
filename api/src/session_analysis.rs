//! A session's ML requests: `analyze` and `cancel` (role admin), `query
//! what:"analysis"` and the `analysis` channel (any role), all answered
//! through [`crate::analysis`]. A server without the ML sidecar answers
//! them `unavailable`.

use std::sync::Arc;

use serde_json::{Map, Value};

use super::Session;
use crate::analysis::Analysis;
use crate::auth::{Grant, Role};
use crate::outbox::SubSpec;
use crate::protocol::{ErrorCode, result_json};

impl Session {
    /// The ML sidecar, or an `unavailable` answer when it is off.
    pub(super) fn ml(&self, id: Option<&Value>) -> Option<Arc<Analysis>> {
        let a = self.ctx.analysis.clone();
        if a.is_none() {
            self.error(
                id,
                ErrorCode::Unavailable,
                "the ML sidecar is not running ([ml] enabled = false)",
            );
        }
        a
    }

    fn admin(&self, id: Option<&Value>, grant: &Grant, op: &str) -> bool {
        if grant.role < Role::Admin {
            self.error(id, ErrorCode::Forbidden, format!("{op} needs role admin"));
            return false;
        }
        true
    }

    /// `analyze`: the job's status now, then its `progress` messages.
    pub(super) fn analyze(&mut self, id: Option<&Value>, grant: &Arc<Grant>, params: Map<String, Value>) {
        if !self.admin(id, grant, "analyze") {
            return;
        }
        let Some(ml) = self.ml(id) else { return };
        if let Err((code, message)) = ml.analyze(self.client, &self.outbox, grant, id, params) {
            self.error(id, code, message);
        }
    }

    /// `cancel`: `{"job":N,"cancelled":bool}`; the job's watchers then get
    /// its `cancelled` progress.
    pub(super) fn cancel(&mut self, id: Option<&Value>, grant: &Grant, job: u64) {
        if !self.admin(id, grant, "cancel") {
            return;
        }
        let Some(ml) = self.ml(id) else { return };
        match ml.cancel(job) {
            Ok(v) => self.outbox.reply(result_json(id, v)),
            Err((code, message)) => self.error(id, code, message),
        }
    }

    /// `query what:"analysis"`, on the blocking pool (it may read the store).
    pub(super) fn query_analysis(&mut self, id: Option<&Value>, grant: &Arc<Grant>, job: Option<u64>) {
        let Some(ml) = self.ml(id) else { return };
        let grant = Arc::clone(grant);
        self.blocking(id, None, move |qid| ml.query(&grant, job, qid));
    }

    /// Subscribes to the `analysis` channel: the latest result, then deltas.
    pub(super) fn subscribe_analysis(
        &mut self,
        id: Option<&Value>,
        grant: &Arc<Grant>,
        sub: u64,
        spec: SubSpec,
    ) {
        let Some(ml) = self.ml(id) else { return };
        ml.subscribe(self.client, &self.outbox, grant, sub, spec);
    }

    /// Ends one subscription, wherever it is served.
    pub(super) fn end_sub(&self, sub: u64) {
        self.ctx.hub.unsubscribe(self.client, &self.outbox, sub);
        if let Some(ml) = &self.ctx.analysis {
            ml.unsubscribe(self.client, sub);
        }
    }
}
