//! What the server sends: error codes, close reasons and the JSON of each
//! server → client message (`snapshot`, `delta`, `ack`, `result`, `error`).
//! Re-exported by [`crate::protocol`].

use serde::Serialize;
use serde_json::Value;

/// Why a request failed: the `code` of an `error` message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Malformed JSON, a missing or ill-typed field, a bad event, an
    /// unknown `channel` or `what`; the request did nothing.
    BadRequest,
    /// `op` is not one of auth, subscribe, unsubscribe, submit, query,
    /// analyze, cancel.
    UnknownOp,
    /// Not authenticated (tokens are configured and no valid `auth` yet), or
    /// the token is wrong.
    Unauthorized,
    /// Authenticated, but the token's role or accounts do not allow this.
    Forbidden,
    /// Over the per-connection message rate, or too many submits in flight.
    RateLimited,
    /// The frame is over `max_frame_bytes`, or a submit has more than
    /// `max_submit_events` events.
    TooLarge,
    /// Nothing to return: no EOD for that date, no analysis yet, not subscribed.
    NotFound,
    /// A `feed` submit found the feed queue full past its wait bound (the
    /// engine is behind); the refused events were not queued.
    Busy,
    /// The server is shutting down and takes no more submits.
    Unavailable,
    /// The server failed (the journal could not make the events durable).
    Internal,
}

impl ErrorCode {
    /// Every code, in documentation order.
    pub const ALL: [Self; 10] = [
        Self::BadRequest,
        Self::UnknownOp,
        Self::Unauthorized,
        Self::Forbidden,
        Self::RateLimited,
        Self::TooLarge,
        Self::NotFound,
        Self::Busy,
        Self::Unavailable,
        Self::Internal,
    ];

    /// The code as it appears in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::BadRequest => "bad_request",
            Self::UnknownOp => "unknown_op",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::RateLimited => "rate_limited",
            Self::TooLarge => "too_large",
            Self::NotFound => "not_found",
            Self::Busy => "busy",
            Self::Unavailable => "unavailable",
            Self::Internal => "internal",
        }
    }
}

/// A failed request: the `id` to echo, the code and a human message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The request's id, when it could be read.
    pub id: Option<Value>,
    /// The error code.
    pub code: ErrorCode,
    /// What was wrong.
    pub message: String,
}

impl Failure {
    /// A failure of the request `id`.
    pub fn new(id: Option<&Value>, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            id: id.cloned(),
            code,
            message: message.into(),
        }
    }

    /// The `error` message as JSON text.
    #[must_use]
    pub fn to_json(&self) -> String {
        error_json(self.id.as_ref(), self.code, &self.message)
    }
}

/// Why the server closed a connection: the close frame's code and reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseReason {
    /// The server is shutting down (1001).
    Shutdown,
    /// The client did not drain its queue for `slow_client_secs` (1008).
    Slow,
    /// The client's queue held more than `client_queue` updates (1008).
    Overflow,
    /// Far over `max_msgs_per_sec` (1008).
    RateLimit,
    /// Too many failed `auth` attempts (1008).
    AuthFailed,
    /// No successful `auth` within `auth_timeout_secs` (1008).
    AuthTimeout,
    /// A message over the hard size limit (1009).
    TooBig,
    /// A WebSocket protocol violation (1002).
    Protocol,
    /// Nothing (not even a pong) heard for twice `ping_secs` (1001): the
    /// client or its network is gone.
    NoPong,
}

impl CloseReason {
    /// Every reason, in documentation order.
    pub const ALL: [Self; 9] = [
        Self::Shutdown,
        Self::Slow,
        Self::Overflow,
        Self::RateLimit,
        Self::AuthFailed,
        Self::AuthTimeout,
        Self::TooBig,
        Self::Protocol,
        Self::NoPong,
    ];

    /// The WebSocket close code.
    #[must_use]
    pub const fn code(self) -> u16 {
        match self {
            Self::Shutdown | Self::NoPong => 1001,
            Self::TooBig => 1009,
            Self::Protocol => 1002,
            _ => 1008,
        }
    }

    /// A short label (metrics).
    #[must_use]
    pub const fn label(self) -> &'static str {
        match self {
            Self::Shutdown => "shutdown",
            Self::Slow => "slow",
            Self::Overflow => "overflow",
            Self::RateLimit => "rate_limit",
            Self::AuthFailed => "auth_failed",
            Self::AuthTimeout => "auth_timeout",
            Self::TooBig => "too_big",
            Self::Protocol => "protocol",
            Self::NoPong => "no_pong",
        }
    }

    /// The close frame's reason text (at most 123 bytes).
    #[must_use]
    pub const fn text(self) -> &'static str {
        match self {
            Self::Shutdown => "server shutting down",
            Self::Slow => "slow consumer: updates not drained in time; reconnect and resubscribe",
            Self::Overflow => "queue overflow: too many pending updates; reconnect and resubscribe",
            Self::RateLimit => "rate limit: too many messages per second",
            Self::AuthFailed => "authentication failed",
            Self::AuthTimeout => "authentication timeout",
            Self::TooBig => "message too big",
            Self::Protocol => "protocol error",
            Self::NoPong => "no answer to ping",
        }
    }
}

#[derive(Serialize)]
struct ErrorMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    code: ErrorCode,
    message: &'a str,
}

/// An `error` message as JSON text.
#[must_use]
pub fn error_json(id: Option<&Value>, code: ErrorCode, message: &str) -> String {
    serde_json::to_string(&ErrorMsg {
        kind: "error",
        id,
        code,
        message,
    })
    .unwrap_or_default()
}

#[derive(Serialize)]
struct ResultMsg<'a, T: Serialize> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    data: T,
}

/// A `result` message as JSON text.
#[must_use]
pub fn result_json<T: Serialize>(id: Option<&Value>, data: T) -> String {
    serde_json::to_string(&ResultMsg {
        kind: "result",
        id,
        data,
    })
    .unwrap_or_default()
}

#[derive(Serialize)]
struct AckMsg<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<&'a Value>,
    seq: &'a [Option<u64>],
}

/// An `ack` message: one entry per submitted event, `null` for a repeated
/// trade id that was ignored.
#[must_use]
pub fn ack_json(id: Option<&Value>, seqs: &[Option<u64>]) -> String {
    serde_json::to_string(&AckMsg {
        kind: "ack",
        id,
        seq: seqs,
    })
    .unwrap_or_default()
}

/// A `snapshot` or `delta` of a subscription.
#[derive(Serialize)]
pub struct Update<'a, T: Serialize> {
    /// `snapshot` or `delta`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// The subscribe request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<&'a Value>,
    /// The channel.
    pub channel: &'static str,
    /// The subscription's message counter.
    pub seq: u64,
    /// The payload.
    pub data: T,
}
