//! The WebSocket protocol: what a client may send, how it is decoded, and
//! the error codes. Every request is one JSON text frame; every failure to understand one becomes an
//! [`ErrorCode`] with a message, never a panic and never a closed
//! connection. `docs/protocol.md` is the user-facing description.
//!
//! Decoding is serde's: `crate::protocol_decode` reads a frame's top level
//! and the op's fields as derived structs that refuse unknown fields; this
//! module checks what the fields mean together (a channel's target, a
//! query's kind) and decodes a submit's events one by one.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub use crate::messages::{CloseReason, ErrorCode, Failure, Update, ack_json, error_json, result_json};
pub use crate::protocol_decode::{MAX_ID_LEN, MAX_INTERVAL_MS, MAX_NAME_LEN};

use kupala_engine::Event;
use kupala_engine::num::Money;
use kupala_engine::store::history::Series;
use kupala_engine::time::{Date, Timestamp};

use crate::as_of::AsOfQuery;

use crate::protocol_decode::{
    self as decode, AuthFields, CancelFields, SubmitFields, SubscribeFields, TargetFields, echo,
};
use crate::protocol_query::{history_series, query};

/// A subscription channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Position deltas of one account or of every allowed account.
    Positions,
    /// Portfolio (account totals) deltas.
    Portfolio,
    /// Book (account × strategy totals) deltas.
    Books,
    /// The firm's totals.
    Firm,
    /// The last price of one instrument.
    Ticks,
    /// ML analysis results (the latest, then each new one).
    Analysis,
    /// One series of the P&L history: stored points, then each new one.
    History,
}

impl Channel {
    /// The channel's name in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Positions => "positions",
            Self::Portfolio => "portfolio",
            Self::Books => "books",
            Self::Firm => "firm",
            Self::Ticks => "ticks",
            Self::Analysis => "analysis",
            Self::History => "history",
        }
    }
}

/// Which accounts a positions or portfolio subscription or query covers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AccountSel {
    /// `"*"`: every account the client is allowed.
    All,
    /// One named account.
    One(String),
}

impl AccountSel {
    pub(crate) fn parse(s: &str) -> Self {
        if s == "*" {
            Self::All
        } else {
            Self::One(s.to_owned())
        }
    }
}

/// What a subscription is on; also its identity for `unsubscribe`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// `positions` of an account selection.
    Positions(AccountSel),
    /// `portfolio` of an account selection.
    Portfolio(AccountSel),
    /// `books` of an account selection.
    Books(AccountSel),
    /// The `firm` totals (a grant of every account only).
    Firm,
    /// `ticks` of one instrument.
    Ticks(String),
    /// `analysis` results.
    Analysis,
    /// One series of the P&L history (the firm, an account or a book).
    History(Series),
}

impl Target {
    /// The target's channel.
    #[must_use]
    pub const fn channel(&self) -> Channel {
        match self {
            Self::Positions(_) => Channel::Positions,
            Self::Portfolio(_) => Channel::Portfolio,
            Self::Books(_) => Channel::Books,
            Self::Firm => Channel::Firm,
            Self::Ticks(_) => Channel::Ticks,
            Self::Analysis => Channel::Analysis,
            Self::History(_) => Channel::History,
        }
    }
}

/// A subscription request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subscribe {
    /// What to subscribe to.
    pub target: Target,
    /// Send a key's update at most this often (the latest one wins).
    pub min_interval_ms: Option<u64>,
    /// Skip updates whose P&L (or price, for ticks) moved less than this
    /// since the last update sent for the same key.
    pub min_change: Option<Money>,
    /// Send the deltas queued together as one `deltas` message (an array)
    /// instead of one `delta` message each.
    pub batch: bool,
    /// `history` only: the stored points from this time on come first, in
    /// the snapshot (none: the snapshot holds no points).
    pub from: Option<Timestamp>,
}

/// What a `query` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Current positions.
    Positions(AccountSel),
    /// Current account totals.
    Portfolio(AccountSel),
    /// Current book totals.
    Books(AccountSel),
    /// The firm's totals now.
    Firm,
    /// The positions recorded at an EOD (default: the latest EOD).
    Eod {
        /// Accounts.
        accounts: AccountSel,
        /// Business date.
        date: Option<Date>,
    },
    /// Positions an EOD moved to the closed history (all dates by default).
    Closed {
        /// Accounts.
        accounts: AccountSel,
        /// Business date.
        date: Option<Date>,
    },
    /// Rebalancing proposals of an EOD (default: the latest EOD).
    Proposals {
        /// Accounts.
        accounts: AccountSel,
        /// Business date.
        date: Option<Date>,
    },
    /// An analysis job's status and result, or (no job) the latest result.
    Analysis {
        /// The job.
        job: Option<u64>,
    },
    /// The live feeds: refresher symbols (with `stale`), TCP endpoint and
    /// feed queue counters.
    Feeds,
    /// Positions, portfolios, books or the firm as of an earlier seq or
    /// time.
    AsOf(AsOfQuery),
    /// One series of the stored P&L history.
    History(HistoryQuery),
}

/// A P&L history query: a series and an inclusive time range (open ends
/// when absent).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryQuery {
    /// The firm, an account's totals or a book.
    pub series: Series,
    /// The earliest point.
    pub from: Option<Timestamp>,
    /// The latest point.
    pub to: Option<Timestamp>,
}

/// A decoded client operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Op {
    /// `auth`: present a token.
    Auth {
        /// The token.
        token: String,
    },
    /// `subscribe`.
    Subscribe(Subscribe),
    /// `unsubscribe` from a target.
    Unsubscribe(Target),
    /// `submit` events, all or nothing.
    Submit(Vec<Event>),
    /// `query`.
    Query(Query),
    /// `analyze`: queue an ML analysis; the request's other fields, checked
    /// by the analyzer (`crate::analysis`).
    Analyze(Map<String, Value>),
    /// `cancel` an analysis job.
    Cancel {
        /// The job.
        job: u64,
    },
}

/// A decoded request: its optional id and the operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The client's id, echoed in the answer (a number or a string).
    pub id: Option<Value>,
    /// The operation.
    pub op: Op,
}

/// The `id` of a request that is not otherwise decoded (too large): a
/// number or a short string at the top level, if the text is JSON.
#[must_use]
pub fn peek_id(text: &str) -> Option<Value> {
    #[derive(serde::Deserialize)]
    struct IdOnly {
        #[serde(default)]
        id: Option<decode::Id>,
    }
    let v: IdOnly = serde_json::from_str(text).ok()?;
    v.id?.0
}

/// Decodes one text frame. `max_events` bounds a submit's batch.
pub fn parse_request(text: &str, max_events: usize) -> Result<Request, Failure> {
    let bad = |id: Option<&Value>, m: String| Failure::new(id, ErrorCode::BadRequest, m);
    let frame = decode::frame(text).map_err(|m| bad(None, m))?;
    let id = frame.id().map_err(|m| bad(None, m))?;
    let op_name = frame.op().map_err(|m| bad(id.as_ref(), m))?;
    let op = match &*op_name {
        "auth" => decode::fields(frame.rest).map(|f: AuthFields| Op::Auth { token: f.token }),
        "subscribe" => decode::fields(frame.rest).and_then(subscribe).map(Op::Subscribe),
        "unsubscribe" => decode::fields(frame.rest)
            .and_then(|f: TargetFields| target(f.channel, f.account, f.instrument, f.strategy))
            .map(Op::Unsubscribe),
        "submit" => {
            let f: SubmitFields<'_> = decode::fields(frame.rest).map_err(|m| bad(id.as_ref(), m))?;
            Ok(Op::Submit(events(&f.events, id.as_ref(), max_events)?))
        }
        "query" => decode::fields(frame.rest).and_then(query).map(Op::Query),
        "analyze" => decode::open_fields(frame.rest).map(Op::Analyze),
        "cancel" => decode::fields(frame.rest).and_then(|f: CancelFields| match f.job.flatten() {
            Some(job) => Ok(Op::Cancel { job }),
            None => Err("missing field `job`".to_owned()),
        }),
        other => {
            return Err(Failure::new(
                id.as_ref(),
                ErrorCode::UnknownOp,
                format!(
                    "unknown op {:?} (auth, subscribe, unsubscribe, submit, query, analyze, cancel)",
                    echo(other)
                ),
            ));
        }
    };
    match op {
        Ok(op) => Ok(Request { id, op }),
        Err(m) => Err(bad(id.as_ref(), m)),
    }
}

/// What a subscription or an unsubscribe is on, from its fields
/// (`strategy`: `Some` when given, `history` only).
fn target(
    channel: String,
    account: Option<String>,
    instrument: Option<String>,
    strategy: Option<Option<String>>,
) -> Result<Target, String> {
    if channel == "history" {
        if instrument.is_some() {
            return Err("channel history takes `account` and `strategy`, not `instrument`".into());
        }
        return history_series(account, strategy).map(Target::History);
    }
    if strategy.is_some() {
        return Err(format!("channel {} takes no `strategy`", echo(&channel)));
    }
    match (channel.as_str(), account, instrument) {
        ("positions" | "portfolio" | "books", Some(_), Some(_)) => {
            Err(format!("channel {channel} takes `account`, not `instrument`"))
        }
        ("positions", Some(a), None) => Ok(Target::Positions(AccountSel::parse(&a))),
        ("portfolio", Some(a), None) => Ok(Target::Portfolio(AccountSel::parse(&a))),
        ("books", Some(a), None) => Ok(Target::Books(AccountSel::parse(&a))),
        ("positions" | "portfolio" | "books", None, _) => Err("missing field `account`".into()),
        ("firm", None, None) => Ok(Target::Firm),
        ("firm", ..) => Err("channel firm takes no `account` or `instrument`".into()),
        ("ticks", None, Some(i)) => Ok(Target::Ticks(i)),
        ("ticks", Some(_), _) => Err("channel ticks takes `instrument`, not `account`".into()),
        ("ticks", None, None) => Err("missing field `instrument`".into()),
        ("analysis", None, None) => Ok(Target::Analysis),
        ("analysis", ..) => Err("channel analysis takes no `account` or `instrument`".into()),
        (other, ..) => Err(format!(
            "unknown channel {:?} (positions, portfolio, books, firm, ticks, analysis, history)",
            echo(other)
        )),
    }
}

/// A subscription from its fields; a zero throttle is none. `from` is
/// the `history` channel's; `min_change` is not (every point is sent).
fn subscribe(f: SubscribeFields) -> Result<Subscribe, String> {
    let target = target(f.channel, f.account, f.instrument, f.strategy)?;
    let history = matches!(target, Target::History(_));
    if f.from.is_some() && !history {
        return Err(format!("channel {} takes no `from`", target.channel().as_str()));
    }
    if f.min_change.is_some() && history {
        return Err("channel history takes no `min_change`: every point is sent".into());
    }
    Ok(Subscribe {
        target,
        min_interval_ms: f.min_interval_ms.filter(|&ms| ms > 0),
        min_change: f.min_change.filter(|&m| m > Money::ZERO),
        batch: f.batch.unwrap_or(false),
        from: f.from,
    })
}

/// A submit's events, each decoded once from its slice of the frame; a
/// refusal names the event by its 1-based `line`.
fn events(list: &[&RawValue], id: Option<&Value>, max_events: usize) -> Result<Vec<Event>, Failure> {
    if list.is_empty() {
        return Err(Failure::new(id, ErrorCode::BadRequest, "events is empty"));
    }
    if list.len() > max_events {
        return Err(Failure::new(
            id,
            ErrorCode::TooLarge,
            format!(
                "{} events in one submit; at most {max_events} (max_submit_events)",
                list.len()
            ),
        ));
    }
    list.iter()
        .enumerate()
        .map(|(i, raw)| {
            Event::from_json(raw.get())
                .map_err(|e| Failure::new(id, ErrorCode::BadRequest, format!("line {}: {e}", i + 1)))
        })
        .collect()
}

#[cfg(test)]
#[path = "protocol_tests.rs"]
mod tests;
