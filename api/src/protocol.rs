//! The WebSocket protocol (design.md, "WebSocket protocol"): what a client
//! may send, how it is decoded, and the error codes. Every request is one
//! JSON text frame; every failure to understand one becomes an
//! [`ErrorCode`] with a message, never a panic and never a closed
//! connection. `docs/protocol.md` is the user-facing description.

use serde_json::{Map, Value};

pub use crate::messages::{CloseReason, ErrorCode, Failure, Update, ack_json, error_json, result_json};

use kupala_engine::Event;
use kupala_engine::num::Money;
use kupala_engine::time::Date;

/// The longest request `id` string accepted (it is echoed back).
pub const MAX_ID_LEN: usize = 128;
/// The longest account or instrument name accepted in a request.
pub const MAX_NAME_LEN: usize = 256;
/// The largest `min_interval_ms` a subscription may ask for.
pub const MAX_INTERVAL_MS: u64 = 60_000;

/// A subscription channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Channel {
    /// Position deltas of one account or of every allowed account.
    Positions,
    /// Portfolio (account totals) deltas.
    Portfolio,
    /// The last price of one instrument.
    Ticks,
    /// ML analysis results (the latest, then each new one).
    Analysis,
}

impl Channel {
    /// The channel's name in JSON.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Positions => "positions",
            Self::Portfolio => "portfolio",
            Self::Ticks => "ticks",
            Self::Analysis => "analysis",
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
    fn parse(s: &str) -> Self {
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
    /// `ticks` of one instrument.
    Ticks(String),
    /// `analysis` results.
    Analysis,
}

impl Target {
    /// The target's channel.
    #[must_use]
    pub const fn channel(&self) -> Channel {
        match self {
            Self::Positions(_) => Channel::Positions,
            Self::Portfolio(_) => Channel::Portfolio,
            Self::Ticks(_) => Channel::Ticks,
            Self::Analysis => Channel::Analysis,
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
}

/// What a `query` asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Query {
    /// Current positions.
    Positions(AccountSel),
    /// Current account totals.
    Portfolio(AccountSel),
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
        id: Option<Value>,
    }
    let v: IdOnly = serde_json::from_str(text).ok()?;
    match v.id? {
        v @ Value::Number(_) => Some(v),
        Value::String(s) if s.len() <= MAX_ID_LEN => Some(Value::String(s)),
        _ => None,
    }
}

/// Decodes one text frame. `max_events` bounds a submit's batch.
pub fn parse_request(text: &str, max_events: usize) -> Result<Request, Failure> {
    match crate::submit_decode::decode(text, max_events) {
        Some(submit) => submit,
        None => parse_general(text, max_events),
    }
}

/// Decodes any request through a `Value` tree, wording every refusal.
fn parse_general(text: &str, max_events: usize) -> Result<Request, Failure> {
    let bad = |id: Option<&Value>, m: String| Failure::new(id, ErrorCode::BadRequest, m);
    let value: Value = serde_json::from_str(text).map_err(|e| bad(None, format!("malformed JSON: {e}")))?;
    let Value::Object(mut obj) = value else {
        return Err(bad(None, "a request must be a JSON object".into()));
    };
    let id = match obj.remove("id") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Number(_)) => Some(v),
        Some(Value::String(s)) if s.len() <= MAX_ID_LEN => Some(Value::String(s)),
        Some(_) => {
            return Err(bad(
                None,
                format!("id must be a number or a string of at most {MAX_ID_LEN} bytes"),
            ));
        }
    };
    let id = id.as_ref();
    let op = match obj.remove("op") {
        Some(Value::String(op)) => op,
        Some(_) => return Err(bad(id, "op must be a string".into())),
        None => return Err(bad(id, "missing field `op`".into())),
    };
    let mut fields = Fields { obj, id };
    let op = match op.as_str() {
        "auth" => Op::Auth {
            token: fields.string("token")?.ok_or_else(|| fields.missing("token"))?,
        },
        "subscribe" => Op::Subscribe(fields.subscribe()?),
        "unsubscribe" => Op::Unsubscribe(fields.target()?),
        "submit" => Op::Submit(fields.events(max_events)?),
        "query" => Op::Query(fields.query()?),
        "analyze" => Op::Analyze(std::mem::take(&mut fields.obj)),
        "cancel" => Op::Cancel {
            job: fields.job()?.ok_or_else(|| fields.missing("job"))?,
        },
        other => {
            return Err(Failure::new(
                id,
                ErrorCode::UnknownOp,
                format!(
                    "unknown op {:?} (auth, subscribe, unsubscribe, submit, query, analyze, cancel)",
                    truncate(other, 64)
                ),
            ));
        }
    };
    fields.done()?;
    Ok(Request { id: id.cloned(), op })
}

/// The remaining fields of a request object, taken one by one; whatever is
/// left at the end is an unknown field.
struct Fields<'a> {
    obj: Map<String, Value>,
    id: Option<&'a Value>,
}

impl Fields<'_> {
    fn fail(&self, message: String) -> Failure {
        Failure::new(self.id, ErrorCode::BadRequest, message)
    }

    fn missing(&self, field: &str) -> Failure {
        self.fail(format!("missing field `{field}`"))
    }

    fn string(&mut self, field: &str) -> Result<Option<String>, Failure> {
        match self.obj.remove(field) {
            None => Ok(None),
            Some(Value::String(s)) if s.len() <= MAX_NAME_LEN => Ok(Some(s)),
            Some(Value::String(_)) => Err(self.fail(format!("{field} is longer than {MAX_NAME_LEN} bytes"))),
            Some(_) => Err(self.fail(format!("{field} must be a string"))),
        }
    }

    fn job(&mut self) -> Result<Option<u64>, Failure> {
        match self.obj.remove("job") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64()),
            Some(_) => Err(self.fail("job must be a job id (a non-negative integer)".into())),
        }
    }

    fn done(self) -> Result<(), Failure> {
        match self.obj.keys().next() {
            Some(k) => Err(self.fail(format!("unknown field `{}`", truncate(k, 64)))),
            None => Ok(()),
        }
    }

    fn target(&mut self) -> Result<Target, Failure> {
        let channel = self.string("channel")?.ok_or_else(|| self.missing("channel"))?;
        let account = self.string("account")?;
        let instrument = self.string("instrument")?;
        match (channel.as_str(), account, instrument) {
            ("positions" | "portfolio", Some(_), Some(_)) => {
                Err(self.fail(format!("channel {channel} takes `account`, not `instrument`")))
            }
            ("positions", Some(a), None) => Ok(Target::Positions(AccountSel::parse(&a))),
            ("portfolio", Some(a), None) => Ok(Target::Portfolio(AccountSel::parse(&a))),
            ("positions" | "portfolio", None, _) => Err(self.missing("account")),
            ("ticks", None, Some(i)) => Ok(Target::Ticks(i)),
            ("ticks", Some(_), _) => Err(self.fail("channel ticks takes `instrument`, not `account`".into())),
            ("ticks", None, None) => Err(self.missing("instrument")),
            ("analysis", None, None) => Ok(Target::Analysis),
            ("analysis", ..) => Err(self.fail("channel analysis takes no `account` or `instrument`".into())),
            (other, ..) => Err(self.fail(format!(
                "unknown channel {:?} (positions, portfolio, ticks, analysis)",
                truncate(other, 64)
            ))),
        }
    }

    fn subscribe(&mut self) -> Result<Subscribe, Failure> {
        let target = self.target()?;
        let min_interval_ms = match self.obj.remove("min_interval_ms") {
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_u64() {
                Some(ms) if ms <= MAX_INTERVAL_MS => Some(ms).filter(|&ms| ms > 0),
                _ => {
                    return Err(self.fail(format!(
                        "min_interval_ms must be an integer from 0 to {MAX_INTERVAL_MS}"
                    )));
                }
            },
            Some(_) => return Err(self.fail("min_interval_ms must be a number".into())),
        };
        let min_change = match self.string("min_change")? {
            None => None,
            Some(s) => match Money::parse(&s) {
                Ok(m) if m >= Money::ZERO => Some(m).filter(|&m| m > Money::ZERO),
                Ok(_) => return Err(self.fail("min_change must be >= 0".into())),
                Err(e) => return Err(self.fail(format!("min_change: {e}"))),
            },
        };
        Ok(Subscribe {
            target,
            min_interval_ms,
            min_change,
        })
    }

    fn events(&mut self, max_events: usize) -> Result<Vec<Event>, Failure> {
        let list = match self.obj.remove("events") {
            Some(Value::Array(list)) => list,
            Some(_) => return Err(self.fail("events must be an array of event objects".into())),
            None => return Err(self.missing("events")),
        };
        if list.is_empty() {
            return Err(self.fail("events is empty".into()));
        }
        if list.len() > max_events {
            return Err(Failure::new(
                self.id,
                ErrorCode::TooLarge,
                format!(
                    "{} events in one submit; at most {max_events} (max_submit_events)",
                    list.len()
                ),
            ));
        }
        let mut events = Vec::with_capacity(list.len());
        for (i, v) in list.into_iter().enumerate() {
            let text = v.to_string();
            match Event::from_json(&text) {
                Ok(e) => events.push(e),
                Err(e) => return Err(self.fail(format!("line {}: {e}", i + 1))),
            }
        }
        Ok(events)
    }

    fn query(&mut self) -> Result<Query, Failure> {
        let what = self.string("what")?.ok_or_else(|| self.missing("what"))?;
        if what == "analysis" {
            // Takes only `job`: any `account` or `date` is left over, refused.
            return Ok(Query::Analysis { job: self.job()? });
        }
        if what == "feeds" {
            // Takes nothing: any `account` or `date` is left over, refused.
            return Ok(Query::Feeds);
        }
        let accounts = self
            .string("account")?
            .map_or(AccountSel::All, |a| AccountSel::parse(&a));
        let date = match self.string("date")? {
            None => None,
            Some(d) => Some(Date::parse(&d).map_err(|e| self.fail(format!("date: {e}")))?),
        };
        let no_date = |f: &Self, q: Query| match date {
            Some(_) => Err(f.fail(format!("query {what} takes no `date`"))),
            None => Ok(q),
        };
        match what.as_str() {
            "positions" => no_date(self, Query::Positions(accounts)),
            "portfolio" => no_date(self, Query::Portfolio(accounts)),
            "eod" => Ok(Query::Eod { accounts, date }),
            "closed" => Ok(Query::Closed { accounts, date }),
            "proposals" | "rebalance" => Ok(Query::Proposals { accounts, date }),
            other => Err(self.fail(format!(
                "unknown query {:?} (positions, portfolio, eod, closed, proposals, analysis, feeds)",
                truncate(other, 64)
            ))),
        }
    }
}

fn truncate(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str) -> Option<ErrorCode> {
        parse_request(text, 10).err().map(|f| f.code)
    }

    #[test]
    fn decodes_each_op_and_refuses_the_rest() {
        let r = parse_request(
            r#"{"op":"subscribe","id":1,"channel":"positions","account":"A1"}"#,
            10,
        );
        assert_eq!(
            r.map(|r| (r.id, r.op)),
            Ok((
                Some(Value::from(1)),
                Op::Subscribe(Subscribe {
                    target: Target::Positions(AccountSel::One("A1".into())),
                    min_interval_ms: None,
                    min_change: None,
                })
            ))
        );
        assert_eq!(code("{"), Some(ErrorCode::BadRequest));
        assert_eq!(code(r#"{"op":"fly"}"#), Some(ErrorCode::UnknownOp));
        assert_eq!(
            code(r#"{"op":"subscribe","channel":"x","account":"A"}"#),
            Some(ErrorCode::BadRequest)
        );
        assert_eq!(
            code(r#"{"op":"query","what":"positions","extra":1}"#),
            Some(ErrorCode::BadRequest)
        );
        let big = format!(
            r#"{{"op":"submit","events":[{}]}}"#,
            [r#"{"type":"eod","date":"2026-01-02"}"#; 11].join(",")
        );
        assert_eq!(code(&big), Some(ErrorCode::TooLarge));
        let f = parse_request(
            r#"{"op":"submit","id":"x","events":[{"type":"trade","account":"A","instrument":"I","side":"buy","qty":"0","price":"1","ts":"2026-01-01T00:00:00Z"}]}"#,
            10,
        )
        .err();
        assert_eq!(f.as_ref().and_then(|f| f.id.clone()), Some(Value::from("x")));
        assert!(f.is_some_and(|f| f.message.starts_with("line 1: qty")));
        assert!(
            ErrorCode::ALL
                .iter()
                .all(|c| serde_json::to_value(c).ok() == Some(Value::from(c.as_str())))
        );
    }

    #[test]
    fn a_submit_decoded_from_its_text_answers_as_the_general_path() {
        let tick = r#"{"type":"tick","instrument":"AAPL","price":"189.5","ts":"2026-01-02T15:00:00Z"}"#;
        let bad = r#"{"type":"tick","instrument":"AAPL","price":"1e5","ts":"2026-01-02T15:00:00Z"}"#;
        let frames = [
            format!(r#"{{"op":"submit","id":7,"events":[{tick},{tick}]}}"#),
            format!(r#"{{"id":"s","op":"submit","events":[ {tick} ]}}"#),
            format!(r#"{{"op":"submit","id":null,"events":[{tick}]}}"#),
            format!(r#"{{"op":"submit","id":"x","events":[{tick},{bad}]}}"#),
            format!(r#"{{"op":"submit","events":[{tick},5]}}"#),
            r#"{"op":"submit","id":1,"events":[]}"#.to_owned(),
            format!(r#"{{"op":"submit","events":[{}]}}"#, [tick; 11].join(",")),
            format!(r#"{{"op":"submit","events":[{tick}],"extra":1}}"#),
            format!(r#"{{"op":"submit","id":[1],"events":[{tick}]}}"#),
            format!(r#"{{"op":"\u0073ubmit","events":[{tick}]}}"#),
            format!(r#"{{"op":"submit","events":{tick}}}"#),
        ];
        for f in &frames {
            assert_eq!(parse_request(f, 10), parse_general(f, 10), "{f}");
        }
        // The fast path took the plain ones.
        assert!(crate::submit_decode::decode(&frames[0], 10).is_some());
        assert!(crate::submit_decode::decode(&frames[7], 10).is_none());
        let Ok(Request {
            op: Op::Submit(events),
            ..
        }) = parse_request(&frames[0], 10)
        else {
            panic!("a plain submit was refused");
        };
        assert_eq!(events.len(), 2);
    }
}
