//! Yahoo v8 chart JSON → priced points, exactly.
//!
//! The shape read (every other field is ignored):
//!
//! ```json
//! {"chart":{"result":[{"meta":{"symbol":"^GSPC","currency":"USD","gmtoffset":-18000,
//!   "regularMarketPrice":2830.71,"regularMarketTime":1587758400},
//!   "timestamp":[1587735000],
//!   "indicators":{"quote":[{"open":[..],"high":[..],"low":[..],"close":[2836.74],"volume":[..]}]}}],
//!   "error":null}}
//! ```
//!
//! Numbers are never read as `f64`: each is taken as its JSON text
//! ([`RawValue`]) and parsed as a decimal ([`crate::values::price`], which
//! rounds beyond 9 decimals half away from zero); an exponent (`2.8e3`) is
//! applied by moving the decimal point.

use std::collections::BTreeMap;

use kupala_engine::num::Price;
use kupala_engine::time::Timestamp;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::values;

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    chart: Chart<'a>,
}

#[derive(Deserialize)]
struct Chart<'a> {
    #[serde(borrow, default)]
    result: Option<Vec<ChartResult<'a>>>,
    #[serde(borrow, default)]
    error: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct ChartResult<'a> {
    #[serde(borrow)]
    meta: Meta<'a>,
    #[serde(default)]
    timestamp: Option<Vec<Option<i64>>>,
    #[serde(borrow, default)]
    indicators: Option<Indicators<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Meta<'a> {
    #[serde(default)]
    symbol: Option<String>,
    #[serde(default)]
    gmtoffset: Option<i64>,
    #[serde(borrow, default)]
    regular_market_price: Option<&'a RawValue>,
    #[serde(default)]
    regular_market_time: Option<i64>,
}

#[derive(Deserialize)]
struct Indicators<'a> {
    #[serde(borrow, default)]
    quote: Vec<Quote<'a>>,
}

#[derive(Deserialize)]
struct Quote<'a> {
    #[serde(borrow, default)]
    close: Option<Vec<Option<&'a RawValue>>>,
}

/// How a series' timestamps become tick timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stamping {
    /// Intraday bars: the bar's own timestamp; the meta's
    /// `regularMarketPrice` at `regularMarketTime` is a point too.
    Intraday,
    /// Daily (or longer) bars: the bar's exchange-local date at 21:00:00 UTC,
    /// the convention of the Yahoo CSV adapter ([`crate::yahoo`]).
    Daily,
}

/// What one response held.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Parsed {
    /// Usable points, by timestamp (a repeated timestamp keeps the later value).
    pub points: BTreeMap<Timestamp, Price>,
    /// Points skipped: a null, a value that is not a positive decimal within
    /// the bounds, a missing timestamp.
    pub skipped: u64,
}

/// Bounds a price must be within to be used.
#[derive(Clone, Copy, Debug)]
pub struct Bounds {
    /// Smallest price accepted (must be > 0).
    pub min: Price,
    /// Largest price accepted.
    pub max: Price,
}

const DAY_NANOS: i64 = 86_400_000_000_000;
const CLOSE_NANOS: i64 = 21 * 3_600_000_000_000;

/// Reads a chart response for `symbol`. An error (the whole response is
/// unusable) is a failed fetch; bad single points are only counted.
pub fn parse(body: &[u8], symbol: &str, stamping: Stamping, bounds: Bounds) -> Result<Parsed, String> {
    let env: Envelope<'_> = serde_json::from_slice(body).map_err(|e| format!("malformed chart JSON: {e}"))?;
    if let Some(err) = env.chart.error.filter(|e| e.get() != "null") {
        return Err(format!("chart error: {}", clip(err.get())));
    }
    let Some(result) = env.chart.result.and_then(|r| r.into_iter().next()) else {
        return Err("chart has no result".to_owned());
    };
    if let Some(got) = &result.meta.symbol
        && !got.eq_ignore_ascii_case(symbol)
    {
        return Err(format!("chart is for {got:?}, not {symbol:?}"));
    }
    let times = result.timestamp.unwrap_or_default();
    let closes = result
        .indicators
        .and_then(|i| i.quote.into_iter().next())
        .and_then(|q| q.close)
        .unwrap_or_default();
    if times.len() != closes.len() {
        return Err(format!("{} timestamps but {} closes", times.len(), closes.len()));
    }
    let offset = result.meta.gmtoffset.unwrap_or(0);
    let mut out = Parsed::default();
    for (secs, close) in times.into_iter().zip(closes) {
        let ts = secs.and_then(|s| stamp(s, offset, stamping));
        match (ts, close.and_then(|c| price(c.get(), bounds))) {
            (Some(ts), Some(p)) => {
                out.points.insert(ts, p);
            }
            _ => out.skipped += 1,
        }
    }
    if stamping == Stamping::Intraday
        && let (Some(secs), Some(raw)) = (result.meta.regular_market_time, result.meta.regular_market_price)
    {
        let last_bar = out.points.keys().next_back().copied();
        match (stamp(secs, 0, stamping), price(raw.get(), bounds)) {
            (Some(ts), Some(p)) if last_bar.is_none_or(|b| ts > b) => {
                out.points.insert(ts, p);
            }
            (Some(_), Some(_)) => {}
            _ => out.skipped += 1,
        }
    }
    Ok(out)
}

/// The tick timestamp of a bar starting at `secs` (Unix seconds).
fn stamp(secs: i64, gmtoffset: i64, stamping: Stamping) -> Option<Timestamp> {
    let nanos = secs.checked_mul(1_000_000_000)?;
    match stamping {
        Stamping::Intraday => Some(Timestamp(nanos)),
        Stamping::Daily => {
            let local = nanos.checked_add(gmtoffset.checked_mul(1_000_000_000)?)?;
            let day = local.div_euclid(DAY_NANOS);
            day.checked_mul(DAY_NANOS)?
                .checked_add(CLOSE_NANOS)
                .map(Timestamp)
        }
    }
}

/// A JSON number token as a price within `bounds`; `None` for anything
/// else (a string, `true`, zero, a negative, out of range...).
pub fn price(token: &str, bounds: Bounds) -> Option<Price> {
    let text = plain_decimal(token)?;
    let p = values::price(&text).ok()?;
    (p >= bounds.min && p <= bounds.max && p > Price::ZERO).then_some(p)
}

/// A JSON number token as a plain decimal (`-?digits[.digits]`), the
/// exponent applied exactly; `None` if it is not a number or its exponent
/// puts it far outside any price.
pub fn plain_decimal(token: &str) -> Option<String> {
    let (negative, body) = match token.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, token),
    };
    if !body.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let (mantissa, exp) = match body.find(['e', 'E']) {
        None => (body, 0i64),
        Some(i) => {
            let e = body[i + 1..].strip_prefix('+').unwrap_or(&body[i + 1..]);
            (&body[..i], e.parse::<i64>().ok().filter(|e| e.abs() <= 64)?)
        }
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let digit_str = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if int.is_empty() || !digit_str(int) || !digit_str(frac) || (mantissa.contains('.') && frac.is_empty()) {
        return None;
    }
    let sign = if negative { "-" } else { "" };
    if exp == 0 {
        return Some(format!("{sign}{mantissa}"));
    }
    // All digits, and where the point goes among them.
    let digits = format!("{int}{frac}");
    let point = i64::try_from(int.len()).ok()? + exp;
    let text = if point <= 0 {
        let zeros = "0".repeat(usize::try_from(-point).ok()?);
        format!("0.{zeros}{digits}")
    } else {
        let point = usize::try_from(point).ok()?;
        if point >= digits.len() {
            format!("{digits}{}", "0".repeat(point - digits.len()))
        } else {
            format!("{}.{}", &digits[..point], &digits[point..])
        }
    };
    Some(format!("{sign}{text}"))
}

/// At most 200 characters of `s`, for error messages.
fn clip(s: &str) -> &str {
    match s.char_indices().nth(200) {
        Some((i, _)) => &s[..i],
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WIDE: Bounds = Bounds {
        min: Price::from_raw(1),
        max: Price::from_raw(i64::MAX),
    };

    #[test]
    fn exponents_move_the_point_exactly() {
        let cases = [
            ("1455.219971", Some("1455.219971")),
            ("2.8e3", Some("2800")),
            ("2.83071E+3", Some("2830.71")),
            ("123e-2", Some("1.23")),
            ("5e-3", Some("0.005")),
            ("-1.5e1", Some("-15")),
            ("0", Some("0")),
            ("1e999", None),
            ("\"12\"", None),
            ("true", None),
            ("null", None),
            ("-", None),
            (".5", None),
        ];
        for (token, want) in cases {
            assert_eq!(plain_decimal(token).as_deref(), want, "{token}");
        }
    }

    #[test]
    fn only_positive_prices_within_bounds() {
        let p = |t: &str| price(t, WIDE).map(|p| p.to_string());
        assert_eq!(p("1455.2199707031"), Some("1455.219970703".to_owned()));
        assert_eq!(p("0"), None);
        assert_eq!(p("-3"), None);
        assert_eq!(p("1e-12"), None, "rounds to 0");
        assert_eq!(p("1e20"), None, "out of the price range");
        let narrow = Bounds {
            min: Price::from_int(1),
            max: Price::from_int(100),
        };
        assert_eq!(price("100", narrow), Some(Price::from_int(100)));
        assert_eq!(price("100.000000001", narrow), None);
        assert_eq!(price("0.5", narrow), None);
    }

    #[test]
    fn daily_bars_are_stamped_at_21_utc_of_the_local_date() {
        // 2020-04-24 09:30 New York (EDT, -4 h) = 13:30Z.
        let ts = stamp(1_587_735_000, -14_400, Stamping::Daily).map(|t| t.to_string());
        assert_eq!(ts.as_deref(), Some("2020-04-24T21:00:00Z"));
        // Tokyo 09:00 (+9 h) is 00:00Z of the same local date.
        let ts = stamp(1_587_686_400, 32_400, Stamping::Daily).map(|t| t.to_string());
        assert_eq!(ts.as_deref(), Some("2020-04-24T21:00:00Z"));
        assert_eq!(stamp(i64::MAX, 0, Stamping::Intraday), None);
    }

    #[test]
    fn responses_that_cannot_be_used_are_errors() {
        let err = |body: &str| {
            parse(body.as_bytes(), "X", Stamping::Daily, WIDE)
                .err()
                .unwrap_or_default()
        };
        assert!(err("{\"chart\":").starts_with("malformed chart JSON"));
        assert!(err("[]").starts_with("malformed chart JSON"));
        assert_eq!(
            err(r#"{"chart":{"result":null,"error":{"code":"Not Found","description":"No data found"}}}"#),
            r#"chart error: {"code":"Not Found","description":"No data found"}"#
        );
        assert_eq!(
            err(r#"{"chart":{"result":[],"error":null}}"#),
            "chart has no result"
        );
        assert_eq!(
            err(r#"{"chart":{"result":[{"meta":{"symbol":"Y"}}]}}"#),
            "chart is for \"Y\", not \"X\""
        );
        assert_eq!(
            err(
                r#"{"chart":{"result":[{"meta":{},"timestamp":[1,2],"indicators":{"quote":[{"close":[1]}]}}]}}"#
            ),
            "2 timestamps but 1 closes"
        );
    }

    #[test]
    fn bad_points_are_skipped_and_the_market_price_is_a_point() {
        let body = r#"{"chart":{"result":[{"meta":{"symbol":"x","regularMarketPrice":101.25,"regularMarketTime":300},
            "timestamp":[60,120,180,240,null],
            "indicators":{"quote":[{"close":[100.5,null,-1,"7",1],"open":[1,2,3,4,5]}]}}],"error":null}}"#;
        let got = parse(body.as_bytes(), "X", Stamping::Intraday, WIDE);
        let want: BTreeMap<Timestamp, Price> = [
            (Timestamp(60_000_000_000), Price::from_raw(100_500_000_000)),
            (Timestamp(300_000_000_000), Price::from_raw(101_250_000_000)),
        ]
        .into();
        assert_eq!(
            got,
            Ok(Parsed {
                points: want,
                skipped: 4
            })
        );
    }
}
