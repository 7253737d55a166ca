//! Liveness and readiness, as an HTTP status code and a JSON body any
//! router can send (`/health/live`, `/health/ready`; `/health` is the
//! summary in `Context::health`).
//!
//! - Live: the process's async runtime answers a request: `200
//!   {"status":"live"}`. Nothing else is checked, so a supervisor restarts
//!   the process only when it is wedged, not when its disk is full.
//! - Ready: the engine recovered and its ingest thread runs, the journal is
//!   writable (no store failure), and the durable lag (events accepted but
//!   not yet fsynced) is at most a bound: `200 {"status":"ready",...}`;
//!   otherwise `503 {"status":"not_ready","reason":"..."}` with the first
//!   check that failed.

use serde_json::json;

/// The default bound on the durable lag, in events (`[server]
/// ready_max_durable_lag`).
pub const DEFAULT_MAX_DURABLE_LAG: u64 = 100_000;

/// What readiness is judged on, read from the running server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Probe {
    /// The ingest thread (the engine's owner, started once recovery
    /// finished) is running.
    pub running: bool,
    /// Why the store takes no more writes, once it failed.
    pub store_failure: Option<String>,
    /// The last seq the engine accepted (sequenced).
    pub accepted: u64,
    /// The last seq fsynced.
    pub durable: u64,
    /// The largest durable lag still ready.
    pub max_lag: u64,
}

impl Probe {
    /// Events accepted but not yet durable.
    #[must_use]
    pub const fn lag(&self) -> u64 {
        self.accepted.saturating_sub(self.durable)
    }

    /// Why the server is not ready, or `None` when it is.
    #[must_use]
    pub fn not_ready(&self) -> Option<String> {
        if !self.running {
            return Some("the engine is not running (recovering, or stopping)".to_owned());
        }
        if let Some(f) = &self.store_failure {
            return Some(format!("the journal is not writable: {f}"));
        }
        let lag = self.lag();
        (lag > self.max_lag).then(|| {
            format!(
                "durable lag {lag} events is over {} (accepted seq {}, durable seq {})",
                self.max_lag, self.accepted, self.durable
            )
        })
    }

    /// `/health/ready`: the status code and body.
    #[must_use]
    pub fn ready(&self) -> (u16, String) {
        match self.not_ready() {
            None => (
                200,
                json!({"status": "ready", "durable_lag": self.lag(), "durable_seq": self.durable})
                    .to_string(),
            ),
            Some(reason) => (503, json!({"status": "not_ready", "reason": reason}).to_string()),
        }
    }
}

/// `/health/live`: the status code and body.
#[must_use]
pub fn live() -> (u16, String) {
    (200, json!({"status": "live"}).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn ready() -> Probe {
        Probe {
            running: true,
            store_failure: None,
            accepted: 150,
            durable: 100,
            max_lag: 50,
        }
    }

    fn body(text: &str) -> Value {
        serde_json::from_str(text).unwrap_or_default()
    }

    #[test]
    fn ready_when_running_writable_and_within_the_lag_bound() {
        let (code, text) = ready().ready();
        assert_eq!(code, 200);
        assert_eq!(
            body(&text),
            json!({"status":"ready","durable_lag":50,"durable_seq":100})
        );
    }

    #[test]
    fn each_failed_check_is_a_503_with_its_reason() {
        let cases = [
            (
                Probe {
                    running: false,
                    ..ready()
                },
                "not running",
            ),
            (
                Probe {
                    store_failure: Some("journal fsync failed: disk full".into()),
                    ..ready()
                },
                "not writable: journal fsync failed: disk full",
            ),
            (
                Probe {
                    accepted: 151,
                    ..ready()
                },
                "durable lag 51 events is over 50",
            ),
        ];
        for (probe, reason) in cases {
            let (code, text) = probe.ready();
            let v = body(&text);
            assert_eq!((code, &v["status"]), (503, &json!("not_ready")), "{text}");
            assert!(v["reason"].as_str().is_some_and(|r| r.contains(reason)), "{text}");
        }
    }

    #[test]
    fn live_is_always_200() {
        assert_eq!(live(), (200, r#"{"status":"live"}"#.to_owned()));
    }
}
