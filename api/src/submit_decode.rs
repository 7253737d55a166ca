//! A `submit` frame decoded straight from its text: the envelope is read
//! with its events as raw JSON slices, and each event is decoded once by
//! [`Event::from_json`] from its own slice. A submit carries up to
//! `max_submit_events` events, so it skips what the general path costs (a
//! `serde_json::Value` tree of the whole frame, each event written back to
//! text and parsed again). Any frame this does not take as a well-formed
//! submit envelope (another op, an unknown field, a wrong type, an escaped
//! `op`) goes to the general path, which words the error; the answers are
//! the same either way.

use serde::Deserialize;
use serde_json::Value;
use serde_json::value::RawValue;

use kupala_engine::Event;

use crate::protocol::{ErrorCode, Failure, MAX_ID_LEN, Op, Request};

/// The envelope of a submit, borrowed from the frame.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Envelope<'a> {
    op: &'a str,
    #[serde(default)]
    id: Option<Value>,
    #[serde(borrow)]
    events: Vec<&'a RawValue>,
}

/// The request, if `text` is a submit envelope; `None` sends the frame to
/// the general decoder.
pub(crate) fn decode(text: &str, max_events: usize) -> Option<Result<Request, Failure>> {
    let env: Envelope<'_> = serde_json::from_str(text).ok()?;
    if env.op != "submit" {
        return None;
    }
    let id = match env.id {
        None | Some(Value::Null) => None,
        Some(v @ Value::Number(_)) => Some(v),
        Some(Value::String(s)) if s.len() <= MAX_ID_LEN => Some(Value::String(s)),
        // The general path words this refusal.
        Some(_) => return None,
    };
    Some(
        events(&env.events, id.as_ref(), max_events).map(|events| Request {
            id,
            op: Op::Submit(events),
        }),
    )
}

/// Each event decoded from its slice, with the general path's errors.
pub(crate) fn events(
    list: &[&RawValue],
    id: Option<&Value>,
    max_events: usize,
) -> Result<Vec<Event>, Failure> {
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
