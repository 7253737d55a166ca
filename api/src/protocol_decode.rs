//! The wire form of a request, read by serde straight from the frame text:
//! first the frame's top level ([`Frame`]: `id` and `op` as raw JSON
//! slices, every other member kept as its raw slice), then the op's own
//! fields as a derived struct that refuses unknown fields ([`AuthFields`],
//! [`SubscribeFields`]...), each field decoded by a function that names it
//! when it refuses the value. The frame is scanned once and no
//! `serde_json::Value` tree is built (except `analyze`'s open parameters);
//! a submit's events stay raw slices, each decoded once by the engine.
//!
//! This is the bottom layer: it knows nothing of the public request types,
//! which [`crate::protocol`] builds from these.

use std::borrow::Cow;
use std::fmt;

use serde::de::value::MapDeserializer;
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

/// The longest request `id` string accepted (it is echoed back).
pub const MAX_ID_LEN: usize = 128;
/// The longest account or instrument name accepted in a request.
pub const MAX_NAME_LEN: usize = 256;
/// The largest `min_interval_ms` a subscription may ask for.
pub const MAX_INTERVAL_MS: u64 = 60_000;

/// How much of a client's name (an op, a field, a channel) a refusal echoes.
const ECHO_LEN: usize = 64;

/// The members of a frame, as raw slices of its text.
type Members<'a> = Vec<(Cow<'a, str>, &'a RawValue)>;

/// A request frame's top level, borrowed from its text.
pub(crate) struct Frame<'a> {
    /// The raw `id`, if given.
    id: Option<&'a RawValue>,
    /// The raw `op`, if given.
    op: Option<&'a RawValue>,
    /// `id` or `op` was given twice.
    twice: Option<&'static str>,
    /// Every other member, in the frame's order: the op's fields.
    pub(crate) rest: Members<'a>,
}

/// Reads a frame's top level; the refusal says whether the text is not
/// JSON or not an object.
pub(crate) fn frame(text: &str) -> Result<Frame<'_>, String> {
    serde_json::from_str(text).map_err(|e| {
        if !e.is_data() {
            return format!("malformed JSON: {e}");
        }
        // A type error at the top: JSON that is no object, unless the
        // text is broken further on as well.
        match serde_json::from_str::<IgnoredAny>(text) {
            Ok(_) => "a request must be a JSON object".to_owned(),
            Err(e) => format!("malformed JSON: {e}"),
        }
    })
}

impl<'a> Frame<'a> {
    /// The request's id: `None` when absent or `null`.
    pub(crate) fn id(&self) -> Result<Option<Value>, String> {
        if self.twice == Some("id") {
            return Err("duplicate field `id`".into());
        }
        match self.id {
            None => Ok(None),
            Some(raw) => Id::deserialize(raw)
                .map(|Id(id)| id)
                .map_err(|_| format!("id must be a number or a string of at most {MAX_ID_LEN} bytes")),
        }
    }

    /// The op's name.
    pub(crate) fn op(&self) -> Result<Cow<'a, str>, String> {
        if self.twice == Some("op") {
            return Err("duplicate field `op`".into());
        }
        let raw = self.op.ok_or("missing field `op`")?;
        Key::deserialize(raw)
            .map(|Key(op)| op)
            .map_err(|_| "op must be a string".into())
    }
}

impl<'de> Deserialize<'de> for Frame<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(FrameVisitor)
    }
}

struct FrameVisitor;

impl<'de> Visitor<'de> for FrameVisitor {
    type Value = Frame<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Frame<'de>, A::Error> {
        let mut frame = Frame {
            id: None,
            op: None,
            twice: None,
            rest: Vec::new(),
        };
        while let Some(Key(key)) = map.next_key()? {
            let raw: &RawValue = map.next_value()?;
            let (slot, name) = match &*key {
                "id" => (&mut frame.id, "id"),
                "op" => (&mut frame.op, "op"),
                _ => {
                    frame.rest.push((key, raw));
                    continue;
                }
            };
            if slot.replace(raw).is_some() {
                frame.twice.get_or_insert(name);
            }
        }
        Ok(frame)
    }
}

/// A member name or `op`, borrowed from the frame unless it has escapes.
#[derive(serde::Deserialize)]
struct Key<'a>(#[serde(borrow)] Cow<'a, str>);

/// A request id: a number or a string of at most [`MAX_ID_LEN`] bytes;
/// `null` is none. Anything else is refused without being built.
pub(crate) struct Id(pub(crate) Option<Value>);

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "a number or a string of at most {MAX_ID_LEN} bytes")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Id, E> {
        Ok(Id(None))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
        Ok(Id(Some(Value::from(v))))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
        Ok(Id(Some(Value::from(v))))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Id, E> {
        Number::from_f64(v)
            .map(|n| Id(Some(Value::Number(n))))
            .ok_or_else(|| E::custom("id is not a finite number"))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
        if v.len() > MAX_ID_LEN {
            return Err(E::custom("id is too long"));
        }
        Ok(Id(Some(Value::String(v.to_owned()))))
    }
}

/// `T`, the op's fields, decoded from the frame's other members: a derived
/// struct refuses a missing, unknown or repeated field by name.
pub(crate) fn fields<'a, T: Deserialize<'a>>(rest: Members<'a>) -> Result<T, String> {
    // No field name is near ECHO_LEN bytes long, so a cut name is as
    // unknown as the whole one, and the refusal echoes only its start.
    let members = rest.into_iter().map(|(key, raw)| (cut(key), raw));
    T::deserialize(MapDeserializer::new(members)).map_err(|e| e.to_string())
}

/// `analyze`'s parameters as an open map, for the analyzer to check; only
/// a field given twice is refused here.
pub(crate) fn open_fields(rest: Members<'_>) -> Result<Map<String, Value>, String> {
    let mut map = Map::new();
    for (key, raw) in rest {
        let value: Value = serde_json::from_str(raw.get()).map_err(|e| format!("{}: {e}", echo(&key)))?;
        if map.contains_key(&*key) {
            return Err(format!("duplicate field `{}`", echo(&key)));
        }
        map.insert(key.into_owned(), value);
    }
    Ok(map)
}

/// The start of a client's string that a refusal echoes.
pub(crate) fn echo(s: &str) -> &str {
    let mut end = s.len().min(ECHO_LEN);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn cut(key: Cow<'_, str>) -> Cow<'_, str> {
    match key {
        Cow::Borrowed(k) => Cow::Borrowed(echo(k)),
        Cow::Owned(mut k) => {
            let end = echo(&k).len();
            k.truncate(end);
            Cow::Owned(k)
        }
    }
}

/// `auth`'s fields.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuthFields {
    /// The token.
    #[serde(deserialize_with = "field::token")]
    pub(crate) token: String,
}

/// `unsubscribe`'s fields: the subscription's target.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct TargetFields {
    /// The channel's name.
    #[serde(deserialize_with = "field::channel")]
    pub(crate) channel: String,
    /// An account name or `"*"`.
    #[serde(default, deserialize_with = "field::account")]
    pub(crate) account: Option<String>,
    /// An instrument name.
    #[serde(default, deserialize_with = "field::instrument")]
    pub(crate) instrument: Option<String>,
    /// `Some` when given (`history`): a book's strategy, or `None` for
    /// `null` (the default book).
    #[serde(default, deserialize_with = "field::strategy")]
    pub(crate) strategy: Option<Option<String>>,
}

/// `subscribe`'s fields: a target and its throttles.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubscribeFields {
    /// The channel's name.
    #[serde(deserialize_with = "field::channel")]
    pub(crate) channel: String,
    /// An account name or `"*"`.
    #[serde(default, deserialize_with = "field::account")]
    pub(crate) account: Option<String>,
    /// An instrument name.
    #[serde(default, deserialize_with = "field::instrument")]
    pub(crate) instrument: Option<String>,
    /// 0 to [`MAX_INTERVAL_MS`]; `null` is none.
    #[serde(default, deserialize_with = "field::min_interval_ms")]
    pub(crate) min_interval_ms: Option<u64>,
    /// A decimal string >= 0.
    #[serde(default, deserialize_with = "field::min_change")]
    pub(crate) min_change: Option<kupala_engine::num::Money>,
    /// `true` for `deltas` messages; `null` is false.
    #[serde(default, deserialize_with = "field::batch")]
    pub(crate) batch: Option<bool>,
    /// `Some` when given (`history`): a book's strategy, or `None` for
    /// `null` (the default book).
    #[serde(default, deserialize_with = "field::strategy")]
    pub(crate) strategy: Option<Option<String>>,
    /// `history`: the backfill's first point's time (inclusive).
    #[serde(default, deserialize_with = "field::from")]
    pub(crate) from: Option<kupala_engine::time::Timestamp>,
}

/// `submit`'s fields: the events, each a raw slice of the frame.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SubmitFields<'a> {
    /// The events, in order.
    #[serde(borrow, deserialize_with = "field::events")]
    pub(crate) events: Vec<&'a RawValue>,
}

/// `query`'s fields; which of them a query takes depends on `what`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct QueryFields {
    /// The kind of query.
    #[serde(deserialize_with = "field::what")]
    pub(crate) what: String,
    /// An account name or `"*"`.
    #[serde(default, deserialize_with = "field::account")]
    pub(crate) account: Option<String>,
    /// A business date.
    #[serde(default, deserialize_with = "field::date")]
    pub(crate) date: Option<kupala_engine::time::Date>,
    /// `Some` when given: an analysis job id, or `None` for `null`.
    #[serde(default, deserialize_with = "field::job")]
    pub(crate) job: Option<Option<u64>>,
    /// An earlier point: a journal seq or a timestamp.
    #[serde(default, deserialize_with = "field::as_of")]
    pub(crate) as_of: Option<kupala_engine::as_of::AsOf>,
    /// `Some` when given: a book's strategy, or `None` for `null` (the
    /// default book).
    #[serde(default, deserialize_with = "field::strategy")]
    pub(crate) strategy: Option<Option<String>>,
    /// The start of a time range (inclusive).
    #[serde(default, deserialize_with = "field::from")]
    pub(crate) from: Option<kupala_engine::time::Timestamp>,
    /// The end of a time range (inclusive).
    #[serde(default, deserialize_with = "field::to")]
    pub(crate) to: Option<kupala_engine::time::Timestamp>,
}

/// `cancel`'s fields.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CancelFields {
    /// The job; `None` for `null`.
    #[serde(deserialize_with = "field::job")]
    pub(crate) job: Option<Option<u64>>,
}

#[path = "protocol_fields.rs"]
mod field;
