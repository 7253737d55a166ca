//! Cell values: exact decimals (never `f64`) and the engine's event rules.
//!
//! Prices with more than 9 decimals are rounded half away from zero to 9
//! (`1.0000000005` → `1.000000001`): market-data files sometimes carry
//! float noise, and a price to 10^-9 is already finer than any tick size.
//! Quantities and fees are never rounded: more than 9 decimals is an error.

use kupala_engine::Event;
use kupala_engine::num::{DecimalError, Fee, Price, Quantity, SCALE_DIGITS, parse_raw};

/// A price, exact to 9 decimals, rounded half away from zero beyond.
pub fn price(s: &str) -> Result<Price, String> {
    let raw = match parse_raw(s) {
        Err(DecimalError::TooPrecise(_)) => round_to_scale(s)?,
        other => other.map_err(|e| e.to_string())?,
    };
    i64::try_from(raw)
        .map(Price::from_raw)
        .map_err(|_| DecimalError::OutOfRange(s.to_owned()).to_string())
}

/// A quantity, exactly (more than 9 decimals is an error).
pub fn quantity(s: &str) -> Result<Quantity, String> {
    Quantity::parse(s).map_err(|e| e.to_string())
}

/// A fee, exactly (more than 9 decimals is an error).
pub fn fee(s: &str) -> Result<Fee, String> {
    Fee::parse(s).map_err(|e| e.to_string())
}

/// `s` (known to have more than 9 decimals) cut to 9 decimals, then moved
/// one unit away from zero when the first dropped digit is 5 or more.
fn round_to_scale(s: &str) -> Result<i128, String> {
    let keep = s.find('.').map_or(s.len(), |dot| dot + 1 + SCALE_DIGITS as usize);
    let (head, dropped) = s.split_at(keep.min(s.len()));
    if !dropped.bytes().all(|b| b.is_ascii_digit()) {
        return Err(DecimalError::Invalid(s.to_owned()).to_string());
    }
    let cut = parse_raw(head).map_err(|_| DecimalError::Invalid(s.to_owned()).to_string())?;
    let up = dropped.as_bytes().first().is_some_and(|&d| d >= b'5');
    Ok(match (up, s.starts_with('-')) {
        (false, _) => cut,
        (true, false) => cut + 1,
        (true, true) => cut - 1,
    })
}

/// The event if it passes the rules of docs/events.md (names, qty > 0...).
pub fn checked(event: Event) -> Result<Event, String> {
    event.validate().map(|()| event).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> Result<String, String> {
        price(s).map(|p| p.to_string())
    }

    #[test]
    fn prices_are_exact_to_nine_decimals() {
        assert_eq!(p("1469.250000"), Ok("1469.25".into()));
        assert_eq!(p("86.655"), Ok("86.655".into()));
        assert_eq!(p("0.000000001"), Ok("0.000000001".into()));
        assert_eq!(p("-3.5"), Ok("-3.5".into()));
    }

    #[test]
    fn more_decimals_round_half_away_from_zero() {
        assert_eq!(p("1.0000000005"), Ok("1.000000001".into()));
        assert_eq!(p("1.00000000049999"), Ok("1".into()));
        assert_eq!(p("-1.0000000005"), Ok("-1.000000001".into()));
        assert_eq!(p("0.9999999999"), Ok("1".into()));
        assert_eq!(p("-0.00000000051"), Ok("-0.000000001".into()));
    }

    #[test]
    fn refuses_what_is_not_a_plain_decimal() {
        assert!(p("1e5").is_err_and(|e| e.contains("exponent")));
        assert!(p("abc").is_err_and(|e| e.contains("not a decimal")));
        assert!(p("1.00000000001x").is_err_and(|e| e.contains("not a decimal")));
        assert!(p("").is_err());
        assert!(p("null").is_err());
        assert!(p("99999999999").is_err_and(|e| e.contains("out of range")));
        assert!(quantity("1.0000000001").is_err_and(|e| e.contains("more than 9")));
        assert!(fee("0.0000000001").is_err());
        assert!(fee("9223372037").is_err(), "a fee beyond the range of prices");
    }
}
