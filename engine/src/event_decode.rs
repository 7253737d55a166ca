//! Strict decoding of an event object: one flat pass over the JSON with
//! borrowed strings, then per-type checks that name the field at fault.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

use super::{Dividend, Eod, Event, EventError, Fx, InstrumentDef, Side, Split, Tick, Trade};
use crate::num::{DecimalError, Fee, Price, Quantity, Rate};
use crate::time::{Date, Timestamp};

/// A JSON string field; any other JSON type is refused with a message that
/// says decimals are written as strings.
#[derive(Debug)]
pub(crate) struct Str<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Str<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Str<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON string (decimals are strings, e.g. \"189.50\")")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Str(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(std::marker::PhantomData))
    }
}

/// A field that may be absent but, when present, must be a string (a JSON
/// `null` is refused rather than read as absent).
#[derive(Debug, Default)]
pub(crate) struct F<'a>(Option<Str<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for F<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Str::deserialize(d).map(|s| F(Some(s)))
    }
}

impl<'a> std::ops::Deref for F<'a> {
    type Target = Option<Str<'a>>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

/// Every field any event type may carry; which ones a type allows is checked
/// after decoding, so the message can say "not a field of a tick".
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawEvent<'a> {
    #[serde(rename = "type", default, borrow)]
    kind: F<'a>,
    #[serde(default, borrow)]
    id: F<'a>,
    #[serde(default, borrow)]
    ts: F<'a>,
    #[serde(default, borrow)]
    account: F<'a>,
    #[serde(default, borrow)]
    instrument: F<'a>,
    #[serde(default, borrow)]
    side: F<'a>,
    #[serde(default, borrow)]
    qty: F<'a>,
    #[serde(default, borrow)]
    price: F<'a>,
    #[serde(default, borrow)]
    fee: F<'a>,
    #[serde(default, borrow)]
    strategy: F<'a>,
    #[serde(default, borrow)]
    currency: F<'a>,
    #[serde(default, borrow)]
    multiplier: F<'a>,
    #[serde(default, borrow)]
    pair: F<'a>,
    #[serde(default, borrow)]
    rate: F<'a>,
    #[serde(default, borrow)]
    date: F<'a>,
    #[serde(default, borrow)]
    ratio: F<'a>,
    #[serde(default, borrow)]
    amount: F<'a>,
    #[serde(default, borrow)]
    close_lots: Lots<'a>,
}

/// A trade's `close_lots`: absent, or an array of strings (a JSON `null`
/// is refused rather than read as absent).
#[derive(Debug, Default)]
pub(crate) struct Lots<'a>(Option<Vec<Str<'a>>>);

impl<'de: 'a, 'a> Deserialize<'de> for Lots<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<Str<'a>>::deserialize(d).map(|v| Lots(Some(v)))
    }
}

/// The ids of `close_lots`, refusing an empty array (absent means none).
fn lot_ids(v: &Lots<'_>) -> Result<Vec<String>, EventError> {
    match &v.0 {
        None => Ok(Vec::new()),
        Some(ids) if ids.is_empty() => Err(EventError::field(
            "close_lots",
            "names no lot (leave it out to close by the account's cost method)",
        )),
        Some(ids) => Ok(ids.iter().map(|s| s.0.clone().into_owned()).collect()),
    }
}

fn req<'s>(field: &'static str, v: &'s F<'_>) -> Result<&'s str, EventError> {
    v.as_ref()
        .map(|s| s.0.as_ref())
        .ok_or_else(|| EventError::field(field, "required field is missing"))
}

fn dec<T>(
    field: &'static str,
    v: &F<'_>,
    parse: fn(&str) -> Result<T, DecimalError>,
) -> Result<T, EventError> {
    parse(req(field, v)?).map_err(|e| EventError::field(field, e.to_string()))
}

fn ts(v: &F<'_>) -> Result<Timestamp, EventError> {
    Timestamp::parse(req("ts", v)?).map_err(|e| EventError::field("ts", e))
}

fn owned(v: &F<'_>) -> Option<String> {
    v.as_ref().map(|s| s.0.clone().into_owned())
}

impl RawEvent<'_> {
    /// Names of the fields that are present.
    fn present(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("id", self.id.is_some()),
            ("ts", self.ts.is_some()),
            ("account", self.account.is_some()),
            ("instrument", self.instrument.is_some()),
            ("side", self.side.is_some()),
            ("qty", self.qty.is_some()),
            ("price", self.price.is_some()),
            ("fee", self.fee.is_some()),
            ("strategy", self.strategy.is_some()),
            ("currency", self.currency.is_some()),
            ("multiplier", self.multiplier.is_some()),
            ("pair", self.pair.is_some()),
            ("rate", self.rate.is_some()),
            ("date", self.date.is_some()),
            ("ratio", self.ratio.is_some()),
            ("amount", self.amount.is_some()),
            ("close_lots", self.close_lots.0.is_some()),
        ]
        .into_iter()
        .filter_map(|(name, here)| here.then_some(name))
    }

    /// Builds the typed event, refusing fields that do not belong to its type.
    pub(crate) fn into_event(self) -> Result<Event, EventError> {
        let kind = self.kind.as_ref().map(|s| s.0.as_ref()).ok_or_else(|| {
            EventError::field(
                "type",
                "missing (instrument, trade, tick, fx, eod, split or dividend)",
            )
        })?;
        let allowed: &[&str] = match kind {
            "instrument" => &["id", "currency", "multiplier"],
            "trade" => &[
                "id",
                "ts",
                "account",
                "instrument",
                "side",
                "qty",
                "price",
                "fee",
                "strategy",
                "close_lots",
            ],
            "tick" => &["ts", "instrument", "price"],
            "fx" => &["ts", "pair", "rate"],
            "eod" => &["date"],
            "split" => &["ts", "instrument", "ratio"],
            "dividend" => &["ts", "instrument", "amount"],
            other => {
                return Err(EventError::field(
                    "type",
                    format!(
                        "unknown event type {other:?} (instrument, trade, tick, fx, eod, split or dividend)"
                    ),
                ));
            }
        };
        if let Some(extra) = self.present().find(|f| !allowed.contains(f)) {
            let article = if kind.starts_with(['a', 'e', 'i', 'o', 'u']) {
                "an"
            } else {
                "a"
            };
            return Err(EventError::field(
                extra,
                format!("is not a field of {article} {kind} event"),
            ));
        }
        Ok(match kind {
            "instrument" => Event::Instrument(InstrumentDef {
                id: req("id", &self.id)?.to_owned(),
                currency: self.currency.as_ref().map_or("USD", |s| s.0.as_ref()).to_owned(),
                multiplier: match &*self.multiplier {
                    Some(_) => dec("multiplier", &self.multiplier, Rate::parse)?,
                    None => Rate::from_int(1),
                },
            }),
            "trade" => Event::Trade(Trade {
                id: owned(&self.id),
                ts: ts(&self.ts)?,
                account: req("account", &self.account)?.to_owned(),
                instrument: req("instrument", &self.instrument)?.to_owned(),
                side: match req("side", &self.side)? {
                    "buy" => Side::Buy,
                    "sell" => Side::Sell,
                    other => {
                        return Err(EventError::field(
                            "side",
                            format!("{other:?} is not \"buy\" or \"sell\""),
                        ));
                    }
                },
                qty: dec("qty", &self.qty, Quantity::parse)?,
                price: dec("price", &self.price, Price::parse)?,
                fee: match &*self.fee {
                    Some(_) => dec("fee", &self.fee, Fee::parse)?,
                    None => Fee::ZERO,
                },
                strategy: owned(&self.strategy),
                close_lots: lot_ids(&self.close_lots)?,
            }),
            "tick" => Event::Tick(Tick {
                ts: ts(&self.ts)?,
                instrument: req("instrument", &self.instrument)?.to_owned(),
                price: dec("price", &self.price, Price::parse)?,
            }),
            "fx" => Event::Fx(Fx {
                ts: ts(&self.ts)?,
                pair: req("pair", &self.pair)?.to_owned(),
                rate: dec("rate", &self.rate, Rate::parse)?,
            }),
            "eod" => Event::Eod(Eod {
                date: Date::parse(req("date", &self.date)?).map_err(|e| EventError::field("date", e))?,
            }),
            "split" => Event::Split(Split {
                ts: ts(&self.ts)?,
                instrument: req("instrument", &self.instrument)?.to_owned(),
                ratio: dec("ratio", &self.ratio, Rate::parse)?,
            }),
            _ => Event::Dividend(Dividend {
                ts: ts(&self.ts)?,
                instrument: req("instrument", &self.instrument)?.to_owned(),
                amount: dec("amount", &self.amount, Price::parse)?,
            }),
        })
    }
}

/// Accepts only a JSON object (serde's derive would also take an array,
/// field by field).
struct ObjectOnly<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ObjectOnly<'a> {
    type Value = RawEvent<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<M: de::MapAccess<'de>>(self, map: M) -> Result<Self::Value, M::Error> {
        RawEvent::deserialize(de::value::MapAccessDeserializer::new(map))
    }
}

impl<'a> RawEvent<'a> {
    /// Reads an object, refusing arrays and scalars.
    pub(crate) fn from_object<'de: 'a, D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(ObjectOnly(std::marker::PhantomData))
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = RawEvent::from_object(d)?;
        let event = raw.into_event().map_err(de::Error::custom)?;
        event.validate().map_err(de::Error::custom)?;
        Ok(event)
    }
}
