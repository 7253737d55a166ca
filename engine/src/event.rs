//! The input events of docs/events.md, with names as strings (the edge form), and
//! their JSON encoding: decimals are strings both ways.
//!
//! Decoding is strict and explains itself: a wrong value names the field and
//! what was wrong (`qty: must be > 0`), an unknown field or type is refused.

use serde::{Deserialize, Serialize};

#[path = "event_decode.rs"]
mod decode;
use decode::RawEvent;

use crate::num::{Fee, Price, Quantity, Rate};
use crate::time::{Date, Timestamp};

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Increases the position.
    Buy,
    /// Decreases the position.
    Sell,
}

impl Side {
    /// +1 for a buy, -1 for a sell.
    #[must_use]
    pub const fn sign(self) -> i64 {
        match self {
            Self::Buy => 1,
            Self::Sell => -1,
        }
    }
}

/// Declares an instrument's currency and contract multiplier.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct InstrumentDef {
    /// The instrument's name, e.g. `AAPL`.
    pub id: String,
    /// ISO currency code its prices are quoted in.
    pub currency: String,
    /// Contract multiplier: scales every money amount (> 0).
    pub multiplier: Rate,
}

/// A fill: a change of a position.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Trade {
    /// Optional trade id; a repeated id is ignored (idempotent resubmission).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// When the trade happened, as given.
    pub ts: Timestamp,
    /// The account holding the position.
    pub account: String,
    /// The instrument traded.
    pub instrument: String,
    /// Buy or sell.
    pub side: Side,
    /// Quantity traded (> 0).
    pub qty: Quantity,
    /// Price per unit in the instrument's currency.
    pub price: Price,
    /// Fee in the instrument's currency (default 0).
    #[serde(skip_serializing_if = "is_zero")]
    pub fee: Fee,
    /// Optional strategy tag that portfolios can be grouped by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Specific lots: the ids of the opening trades whose lots this trade
    /// closes first, in order (then the account's cost method for the
    /// rest). Empty for none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub close_lots: Vec<String>,
}

/// The most lots one trade's `close_lots` may name.
pub const MAX_CLOSE_LOTS: usize = 1_000;

#[allow(
    clippy::trivially_copy_pass_by_ref,
    reason = "serde's skip_serializing_if passes a reference"
)]
fn is_zero(m: &Fee) -> bool {
    *m == Fee::ZERO
}

/// A market price for an instrument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Tick {
    /// When the price was observed.
    pub ts: Timestamp,
    /// The instrument priced.
    pub instrument: String,
    /// The price.
    pub price: Price,
}

/// An FX rate: `1 base = rate quote` for the pair `BASE/QUOTE`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Fx {
    /// When the rate was observed.
    pub ts: Timestamp,
    /// The pair as `BASE/QUOTE`, e.g. `EUR/USD`.
    pub pair: String,
    /// Units of quote currency per unit of base currency (> 0).
    pub rate: Rate,
}

impl Fx {
    /// The pair's two currency codes, `(base, quote)`.
    #[must_use]
    pub fn currencies(&self) -> Option<(&str, &str)> {
        self.pair.split_once('/')
    }
}

/// End of day: sets the day-P&L baseline and rolls flat positions into history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Eod {
    /// The business date that ends.
    pub date: Date,
}

/// A stock split: one old share becomes `ratio` new ones.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Split {
    /// When the split takes effect.
    pub ts: Timestamp,
    /// The instrument split.
    pub instrument: String,
    /// New shares per old share (> 0; 0.5 is a 1:2 reverse split).
    pub ratio: Rate,
}

/// A cash dividend: `amount` per unit, in the instrument's currency, paid
/// to every holder on the quantity held at that moment (a short pays it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Dividend {
    /// When it is paid (the quantity held then receives it).
    pub ts: Timestamp,
    /// The instrument paying it.
    pub instrument: String,
    /// Cash per unit held (> 0), in the instrument's currency.
    pub amount: Price,
}

/// Every input event kupala accepts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Event {
    /// Declares an instrument.
    Instrument(InstrumentDef),
    /// A fill.
    Trade(Trade),
    /// A market price.
    Tick(Tick),
    /// An FX rate.
    Fx(Fx),
    /// End of day.
    Eod(Eod),
    /// A split.
    Split(Split),
    /// A cash dividend.
    Dividend(Dividend),
}

impl Event {
    /// The event's `type` tag as in JSON.
    #[must_use]
    pub const fn kind(&self) -> &'static str {
        match self {
            Self::Instrument(_) => "instrument",
            Self::Trade(_) => "trade",
            Self::Tick(_) => "tick",
            Self::Fx(_) => "fx",
            Self::Eod(_) => "eod",
            Self::Split(_) => "split",
            Self::Dividend(_) => "dividend",
        }
    }

    /// Sets the timestamp of an event that carries one (an instrument
    /// definition and an EOD keep theirs: they have none of their own).
    pub const fn restamp(&mut self, ts: Timestamp) {
        match self {
            Self::Trade(t) => t.ts = ts,
            Self::Tick(t) => t.ts = ts,
            Self::Fx(f) => f.ts = ts,
            Self::Split(s) => s.ts = ts,
            Self::Dividend(d) => d.ts = ts,
            Self::Instrument(_) | Self::Eod(_) => {}
        }
    }

    /// The instrument the event is about, if it is about one.
    #[must_use]
    pub fn instrument(&self) -> Option<&str> {
        match self {
            Self::Instrument(i) => Some(&i.id),
            Self::Trade(t) => Some(&t.instrument),
            Self::Tick(t) => Some(&t.instrument),
            Self::Split(s) => Some(&s.instrument),
            Self::Dividend(d) => Some(&d.instrument),
            Self::Fx(_) | Self::Eod(_) => None,
        }
    }

    /// Decodes one JSON object, then checks every value against the rules of
    /// docs/events.md (qty > 0, rates > 0, a `BASE/QUOTE` pair...).
    pub fn from_json(text: &str) -> Result<Self, EventError> {
        if !text.trim_start().starts_with('{') {
            return Err(EventError::Json("an event must be a JSON object".into()));
        }
        // Fast path: plain serde. Only a failing line pays for
        // serde_path_to_error, which names the field in the message.
        let raw: RawEvent<'_> = match serde_json::from_str(text) {
            Ok(raw) => raw,
            Err(_) => return Err(Self::explain(text)),
        };
        let event = raw.into_event()?;
        event.validate()?;
        Ok(event)
    }

    /// Decodes a line known to be bad again, tracking the path, for a
    /// message that names the field at fault.
    fn explain(text: &str) -> EventError {
        let mut de = serde_json::Deserializer::from_str(text);
        let result: Result<RawEvent<'_>, _> = serde_path_to_error::deserialize(&mut de);
        match result {
            Err(e) => {
                let path = e.path().to_string();
                let inner = EventError::from_json(e.inner());
                if path == "." || path == "?" || e.inner().is_syntax() || e.inner().is_eof() {
                    inner
                } else {
                    EventError::Json(format!("{path}: {inner}"))
                }
            }
            Ok(_) => match de.end() {
                Err(e) => EventError::from_json(&e),
                Ok(()) => EventError::Json("malformed JSON".into()),
            },
        }
    }

    /// Encodes the event as one line of JSON (decimals as strings).
    #[must_use]
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Checks the rules serde cannot express.
    pub fn validate(&self) -> Result<(), EventError> {
        let positive = |field: &'static str, raw: i64| {
            if raw > 0 {
                Ok(())
            } else {
                Err(EventError::field(field, "must be > 0"))
            }
        };
        let named = |field: &'static str, s: &str| {
            if s.is_empty() || s.len() > 128 || s.chars().any(char::is_control) {
                Err(EventError::field(field, "must be 1 to 128 printable characters"))
            } else {
                Ok(())
            }
        };
        match self {
            Self::Instrument(i) => {
                named("id", &i.id)?;
                currency_code("currency", &i.currency)?;
                positive("multiplier", i.multiplier.raw())?;
                if i.multiplier > Rate::from_int(1_000_000) {
                    return Err(EventError::field("multiplier", "must be at most 1000000"));
                }
                Ok(())
            }
            Self::Trade(t) => {
                if let Some(id) = &t.id {
                    named("id", id)?;
                }
                named("account", &t.account)?;
                named("instrument", &t.instrument)?;
                positive("qty", t.qty.raw())?;
                close_lots(&t.close_lots, named)
            }
            Self::Tick(t) => named("instrument", &t.instrument),
            Self::Fx(f) => {
                let (b, q) = f
                    .currencies()
                    .ok_or_else(|| EventError::field("pair", "must look like \"EUR/USD\""))?;
                currency_code("pair", b)?;
                currency_code("pair", q)?;
                if b == q {
                    return Err(EventError::field("pair", "names the same currency twice"));
                }
                positive("rate", f.rate.raw())
            }
            Self::Eod(_) => Ok(()),
            Self::Split(s) => {
                named("instrument", &s.instrument)?;
                positive("ratio", s.ratio.raw())?;
                if s.ratio < Rate::parse("0.000001").unwrap_or(Rate::ZERO)
                    || s.ratio > Rate::from_int(1_000_000)
                {
                    return Err(EventError::field("ratio", "must be between 0.000001 and 1000000"));
                }
                Ok(())
            }
            Self::Dividend(d) => {
                named("instrument", &d.instrument)?;
                positive("amount", d.amount.raw())
            }
        }
    }
}

/// A trade's `close_lots`: at most [`MAX_CLOSE_LOTS`] ids, each a valid
/// id, none twice.
fn close_lots(
    ids: &[String],
    named: impl Fn(&'static str, &str) -> Result<(), EventError>,
) -> Result<(), EventError> {
    if ids.len() > MAX_CLOSE_LOTS {
        return Err(EventError::field(
            "close_lots",
            format!("names {} lots; at most {MAX_CLOSE_LOTS}", ids.len()),
        ));
    }
    for (i, id) in ids.iter().enumerate() {
        named("close_lots", id)?;
        if ids[..i].contains(id) {
            return Err(EventError::field("close_lots", format!("names lot {id:?} twice")));
        }
    }
    Ok(())
}

fn currency_code(field: &'static str, code: &str) -> Result<(), EventError> {
    if (2..=8).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(EventError::field(
            field,
            format!("{code:?} is not an upper-case currency code such as \"USD\""),
        ))
    }
}

/// Why an event was refused: what was wrong and, where it helps, the field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EventError {
    /// The text is not valid JSON, or not an object of a known shape.
    #[error("{0}")]
    Json(String),
    /// A field holds a value that breaks a rule.
    #[error("{field}: {reason}")]
    Field {
        /// The field's name.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

impl EventError {
    /// A rule broken by one field.
    pub fn field(field: &'static str, reason: impl Into<String>) -> Self {
        Self::Field {
            field,
            reason: reason.into(),
        }
    }

    /// Turns serde's message into ours: drops the position (the line number
    /// is the caller's) and says "malformed JSON" for syntax errors.
    fn from_json(e: &serde_json::Error) -> Self {
        let text = e.to_string();
        let text = match text.rfind(" at line ") {
            Some(i) => text[..i].to_owned(),
            None => text,
        };
        let text = match (text.starts_with("unknown field"), text.find(", expected")) {
            (true, Some(i)) => text[..i].to_owned(),
            _ => text,
        };
        let text = text.replace("unknown variant", "unknown event type").replace(
            "missing field `type`",
            "missing field `type` (instrument, trade, tick, fx, eod, split or dividend)",
        );
        if e.is_syntax() || e.is_eof() {
            Self::Json(format!("malformed JSON: {text}"))
        } else {
            Self::Json(text)
        }
    }
}

#[cfg(test)]
#[path = "event_tests.rs"]
mod tests;
