//! ML analysis as the server sees it: the `analyze` and `cancel` ops, the
//! answer to `query what:"analysis"` and the `analysis` channel.
//!
//! The work is done by an [`Analyzer`] the binary hands in (`kupala serve`
//! wraps `kupala_ml::Worker`), so this crate does not depend on the ML crate
//! and the dependency stays one way (binary → api, binary → ml). The
//! binary's bridge thread calls [`Analysis::job_event`] for every status
//! change of every job, in order; this module turns them into `progress`
//! messages for the connection that asked for the job and into `analysis`
//! channel deltas for subscribers.
//!
//! Access: a result's per-account part is `analytics.accounts` (one object
//! per account, with its `name`). Every path that sends a result — the
//! channel's snapshot and deltas, the query, the final `progress` of an
//! `analyze` — goes through [`visible`], which keeps only the accounts the
//! client's grant allows (failing closed on an unexpected shape).

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use rustc_hash::FxHashMap;
use serde::Serialize;
use serde_json::{Map, Value, json};

use crate::analysis_jobs::{JobCounts, JobTally};
use crate::auth::{Accounts, Grant};
use crate::client_id::ClientId;
use crate::outbox::{Item, Key, Outbox, SubId, SubSpec};
use crate::protocol::{ErrorCode, result_json};

/// An analysis job's id.
pub type JobId = u64;

/// Why the analyzer refused a request: the `error` code and its message.
pub type Refusal = (ErrorCode, String);

/// The ML sidecar behind the `analyze`, `cancel` and `query` ops. Status
/// objects are JSON objects with `job`, `state` (`queued`, `running`,
/// `done`, `failed` or `cancelled`) and the state's own fields.
pub trait Analyzer: Send + Sync + 'static {
    /// Queues an analysis and returns at once. `params` are the `analyze`
    /// request's fields other than `op` and `id`; unknown or ill-typed ones
    /// are refused with `bad_request`.
    fn submit(&self, params: Map<String, Value>) -> Result<JobId, Refusal>;
    /// A job's status (`None`: unknown). Never blocks.
    fn status(&self, job: JobId) -> Option<Value>;
    /// Asks a job to stop; false when it is unknown or already finished.
    /// Never blocks.
    fn cancel(&self, job: JobId) -> bool;
    /// A finished job's result (may read the store: blocking).
    fn result(&self, job: JobId) -> Result<Option<Value>, Refusal>;
}

/// A result as `grant` may see it: `analytics.accounts` keeps only the
/// allowed accounts (an entry without a name is dropped, a non-list
/// emptied), and `data.accounts` counts what is left.
#[must_use]
pub fn visible(result: &Value, grant: &Grant) -> Value {
    let mut v = result.clone();
    if grant.accounts == Accounts::All {
        return v;
    }
    let kept = match v.pointer_mut("/analytics/accounts") {
        Some(Value::Array(list)) => {
            list.retain(|a| {
                a.get("name")
                    .and_then(Value::as_str)
                    .is_some_and(|n| grant.allows(n))
            });
            list.len()
        }
        Some(other) => {
            *other = Value::Array(Vec::new());
            0
        }
        None => 0,
    };
    if let Some(count) = v.pointer_mut("/data/accounts") {
        *count = json!(kept);
    }
    v
}

/// True for the states a job never leaves.
fn is_final(status: &Value) -> bool {
    matches!(
        status.get("state").and_then(Value::as_str),
        Some("done" | "failed" | "cancelled")
    )
}

/// A `progress` message: the status object's fields, the request's `id`,
/// and the (filtered) result with the final `done`.
#[derive(Serialize)]
struct Progress<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    #[serde(flatten)]
    status: &'a Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<Value>,
}

fn progress_json(id: Option<&Value>, status: &Value, result: Option<Value>) -> String {
    let p = Progress {
        kind: "progress",
        id,
        status,
        result,
    };
    serde_json::to_string(&p).unwrap_or_default()
}

/// A client waiting for its job's progress.
struct Watcher {
    client: ClientId,
    outbox: Arc<Outbox>,
    id: Option<Value>,
    grant: Arc<Grant>,
}

/// An `analysis` channel subscription.
struct ChannelSub {
    client: ClientId,
    sub: SubId,
    outbox: Arc<Outbox>,
    grant: Arc<Grant>,
}

#[derive(Default)]
struct State {
    latest: Option<Arc<Value>>,
    subs: Vec<ChannelSub>,
    watchers: FxHashMap<JobId, Vec<Watcher>>,
    jobs: JobTally,
}

/// The server's side of the ML sidecar: the analyzer, the latest result,
/// the channel's subscribers and the clients watching their jobs, under one
/// lock (so a snapshot or an `analyze` answer is never overtaken by a delta
/// or a progress message of the same job).
pub struct Analysis {
    analyzer: Arc<dyn Analyzer>,
    state: Mutex<State>,
}

impl std::fmt::Debug for Analysis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analysis").finish_non_exhaustive()
    }
}

impl Analysis {
    /// Serves `analyzer`; `latest` is the newest stored result (the
    /// channel's first snapshot), if any.
    #[must_use]
    pub fn new(analyzer: Arc<dyn Analyzer>, latest: Option<Value>) -> Arc<Self> {
        let state = State {
            latest: latest.map(Arc::new),
            ..State::default()
        };
        Arc::new(Self {
            analyzer,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A job's status changed (`status` as in [`Analyzer`]); `result` is
    /// the job's result when the status is `done`. Sends `progress` to the
    /// clients watching the job and, for a result, a delta to every
    /// channel subscriber. Never blocks on a client.
    pub fn job_event(&self, status: &Value, result: Option<Value>) {
        let Some(job) = status.get("job").and_then(Value::as_u64) else {
            return;
        };
        let state = status.get("state").and_then(Value::as_str).unwrap_or("");
        let done = state == "done";
        let result = result.filter(|_| done).map(Arc::new);
        let mut st = self.lock();
        st.jobs.saw(job, state);
        let watchers = if is_final(status) {
            st.watchers.remove(&job).unwrap_or_default()
        } else {
            Vec::new()
        };
        for w in st.watchers.get(&job).into_iter().flatten().chain(&watchers) {
            let shown = result.as_ref().map(|r| visible(r, &w.grant));
            w.outbox.notice(progress_json(w.id.as_ref(), status, shown));
        }
        let Some(result) = result else { return };
        st.latest = Some(Arc::clone(&result));
        let now = Instant::now();
        for s in &st.subs {
            let data = Arc::from(visible(&result, &s.grant).to_string());
            let item = Item::Analysis {
                snapshot: false,
                data,
            };
            s.outbox.push(Key::Analysis(s.sub, job), item, 0, now);
        }
    }

    /// The jobs seen so far (for `/metrics`).
    #[must_use]
    pub fn jobs(&self) -> JobCounts {
        self.lock().jobs.counts()
    }

    /// Queues a job for a client and answers `{"job":N,"state":"queued"}`;
    /// its `progress` messages follow. Under the lock, so the answer comes
    /// first.
    pub(crate) fn analyze(
        &self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        grant: &Arc<Grant>,
        id: Option<&Value>,
        params: Map<String, Value>,
    ) -> Result<(), Refusal> {
        let mut st = self.lock();
        let job = self.analyzer.submit(params)?;
        // Every status change of the job, from `queued` on, reaches
        // `job_event` after this lock is released, so the watcher sees them
        // all (the last one removes it).
        outbox.reply(result_json(id, json!({"job": job, "state": "queued"})));
        st.watchers.entry(job).or_default().push(Watcher {
            client,
            outbox: Arc::clone(outbox),
            id: id.cloned(),
            grant: Arc::clone(grant),
        });
        Ok(())
    }

    /// Cancels a job: `{"job":N,"cancelled":bool}` (false: already finished).
    pub(crate) fn cancel(&self, job: JobId) -> Result<Value, Refusal> {
        if self.analyzer.status(job).is_none() {
            return Err(unknown(job));
        }
        Ok(json!({"job": job, "cancelled": self.analyzer.cancel(job)}))
    }

    /// Answers `query what:"analysis"` (blocking: may read the store): a
    /// job's status with its result once done, or the latest result.
    pub(crate) fn query(
        &self,
        grant: &Grant,
        job: Option<JobId>,
        id: Option<&Value>,
    ) -> Result<String, Refusal> {
        let Some(job) = job else {
            let latest = self.lock().latest.clone();
            return latest
                .map(|r| result_json(id, visible(&r, grant)))
                .ok_or_else(|| (ErrorCode::NotFound, "no analysis result yet".to_owned()));
        };
        let status = self.analyzer.status(job);
        let wants_result = status.as_ref().is_none_or(|s| s["state"] == "done");
        let result = if wants_result {
            self.analyzer.result(job)?
        } else {
            None
        };
        let mut answer = match (status, &result) {
            (Some(s), _) => s,
            (None, Some(_)) => json!({"job": job, "state": "done"}),
            (None, None) => return Err(unknown(job)),
        };
        if let (Some(r), Value::Object(m)) = (result, &mut answer) {
            m.insert("result".to_owned(), visible(&r, grant));
        }
        Ok(result_json(id, answer))
    }

    /// Queues the channel's snapshot (the latest result or `null`) and
    /// registers the subscription, under the lock deltas are sent under.
    pub(crate) fn subscribe(
        &self,
        client: ClientId,
        outbox: &Arc<Outbox>,
        grant: &Arc<Grant>,
        sub: SubId,
        spec: SubSpec,
    ) {
        let mut st = self.lock();
        let data = st
            .latest
            .as_ref()
            .map_or_else(|| "null".to_owned(), |r| visible(r, grant).to_string());
        let snapshot = Item::Analysis {
            snapshot: true,
            data: Arc::from(data),
        };
        outbox.open_sub(sub, spec, snapshot);
        st.subs.push(ChannelSub {
            client,
            sub,
            outbox: Arc::clone(outbox),
            grant: Arc::clone(grant),
        });
    }

    /// Forgets one channel subscription.
    pub(crate) fn unsubscribe(&self, client: ClientId, sub: SubId) {
        self.lock().subs.retain(|s| !(s.client == client && s.sub == sub));
    }

    /// Forgets a connection: its subscriptions and the jobs it watches.
    pub(crate) fn unregister(&self, client: ClientId) {
        let mut st = self.lock();
        st.subs.retain(|s| s.client != client);
        for list in st.watchers.values_mut() {
            list.retain(|w| w.client != client);
        }
        st.watchers.retain(|_, l| !l.is_empty());
    }
}

fn unknown(job: JobId) -> Refusal {
    (ErrorCode::NotFound, format!("no analysis job {job}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;

    fn grant(accounts: &[&str]) -> Grant {
        Grant {
            role: Role::Read,
            accounts: Accounts::Only(accounts.iter().map(|&a| a.to_owned()).collect()),
        }
    }

    #[test]
    fn visible_keeps_only_the_granted_accounts() {
        let r = json!({"job":3,"data":{"accounts":3},"analytics":{"accounts":[
            {"name":"A1","sharpe":1.0},{"name":"A2","sharpe":2.0},{"sharpe":3.0}]}});
        let v = visible(&r, &grant(&["A1"]));
        assert_eq!(v["analytics"]["accounts"], json!([{"name":"A1","sharpe":1.0}]));
        assert_eq!(v["data"]["accounts"], json!(1));
        assert_eq!(visible(&r, &Grant::full()), r);
        let odd = json!({"analytics":{"accounts":{"A2":{"sharpe":2.0}}}});
        assert_eq!(visible(&odd, &grant(&["A1"]))["analytics"]["accounts"], json!([]));
    }

    #[test]
    fn progress_carries_the_id_and_the_status_fields() {
        let s = json!({"job":4,"state":"running","progress":0.5,"stage":"features"});
        let text = progress_json(Some(&json!(7)), &s, None);
        let v: Value = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(v["type"], "progress");
        assert_eq!(v["id"], 7);
        assert_eq!(v["job"], 4);
        assert_eq!(v["progress"], 0.5);
        assert!(v.get("result").is_none());
        assert!(is_final(&json!({"state":"cancelled"})) && !is_final(&s));
    }
}
