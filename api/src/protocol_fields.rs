//! One decoder per request field (see `protocol_decode`), each naming
//! its field when it refuses a value.

use serde::Deserialize;
use serde::de::{Deserializer, Error};
use serde_json::Number;
use serde_json::value::RawValue;

use kupala_engine::as_of::AsOf;
use kupala_engine::num::Money;
use kupala_engine::time::{Date, Timestamp};

use super::{MAX_INTERVAL_MS, MAX_NAME_LEN};

fn name<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<String, D::Error> {
    let s = String::deserialize(d).map_err(|_| D::Error::custom(format!("{field} must be a string")))?;
    if s.len() > MAX_NAME_LEN {
        return Err(D::Error::custom(format!(
            "{field} is longer than {MAX_NAME_LEN} bytes"
        )));
    }
    Ok(s)
}

pub(super) fn token<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    name(d, "token")
}

pub(super) fn channel<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    name(d, "channel")
}

pub(super) fn what<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    name(d, "what")
}

pub(super) fn account<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "account").map(Some)
}

pub(super) fn instrument<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    name(d, "instrument").map(Some)
}

pub(super) fn date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Date>, D::Error> {
    let s = name(d, "date")?;
    Date::parse(&s)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("date: {e}")))
}

pub(super) fn strategy<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    match Option::<String>::deserialize(d)
        .map_err(|_| D::Error::custom("strategy must be a string or null"))?
    {
        Some(s) if s.len() > MAX_NAME_LEN => Err(D::Error::custom(format!(
            "strategy is longer than {MAX_NAME_LEN} bytes"
        ))),
        s => Ok(Some(s)),
    }
}

fn time<'de, D: Deserializer<'de>>(d: D, field: &str) -> Result<Option<Timestamp>, D::Error> {
    let s = name(d, field)?;
    Timestamp::parse(&s)
        .map(Some)
        .map_err(|e| D::Error::custom(format!("{field}: {e}")))
}

pub(super) fn from<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    time(d, "from")
}

pub(super) fn to<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
    time(d, "to")
}

pub(super) fn min_change<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
    let s = name(d, "min_change")?;
    match Money::parse(&s) {
        Ok(m) if m >= Money::ZERO => Ok(Some(m)),
        Ok(_) => Err(D::Error::custom("min_change must be >= 0")),
        Err(e) => Err(D::Error::custom(format!("min_change: {e}"))),
    }
}

pub(super) fn min_interval_ms<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let n =
        Option::<Number>::deserialize(d).map_err(|_| D::Error::custom("min_interval_ms must be a number"))?;
    match n.map(|n| n.as_u64()) {
        None => Ok(None),
        Some(Some(ms)) if ms <= MAX_INTERVAL_MS => Ok(Some(ms)),
        Some(_) => Err(D::Error::custom(format!(
            "min_interval_ms must be an integer from 0 to {MAX_INTERVAL_MS}"
        ))),
    }
}

pub(super) fn batch<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Option::<bool>::deserialize(d).map_err(|_| D::Error::custom("batch must be true or false"))
}

pub(super) fn job<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<u64>>, D::Error> {
    let bad = || D::Error::custom("job must be a job id (a non-negative integer)");
    match Option::<Number>::deserialize(d).map_err(|_| bad())? {
        None => Ok(Some(None)),
        Some(n) => n.as_u64().map(|j| Some(Some(j))).ok_or_else(bad),
    }
}

pub(super) fn as_of<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AsOf>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Point {
        Seq(u64),
        Ts(String),
    }
    let bad = || D::Error::custom("as_of must be a journal seq (an integer >= 0) or a timestamp");
    match Point::deserialize(d).map_err(|_| bad())? {
        Point::Seq(seq) => Ok(Some(AsOf::Seq(seq))),
        Point::Ts(ts) => Timestamp::parse(&ts)
            .map(|t| Some(AsOf::Ts(t)))
            .map_err(|e| D::Error::custom(format!("as_of: {e}"))),
    }
}

pub(super) fn events<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<&'de RawValue>, D::Error> {
    Vec::<&'de RawValue>::deserialize(d)
        .map_err(|_| D::Error::custom("events must be an array of event objects"))
}
