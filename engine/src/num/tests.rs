//! Unit tests of `mod.rs`.

use super::*;
use proptest::prelude::*;

#[test]
fn parses_plain_decimals_exactly() {
    assert_eq!(Price::parse("189.50").map(Price::raw), Ok(189_500_000_000));
    assert_eq!(Price::parse("-0.000000001").map(Price::raw), Ok(-1));
    assert_eq!(Quantity::parse("100").map(Quantity::raw), Ok(100 * UNIT));
    assert_eq!(Money::parse("0").map(Money::raw), Ok(0));
}

#[test]
fn refuses_inexact_or_odd_input() {
    assert!(matches!(Price::parse("1e5"), Err(DecimalError::Exponent(_))));
    assert!(matches!(Price::parse("abc"), Err(DecimalError::Invalid(_))));
    assert!(matches!(Price::parse(""), Err(DecimalError::Empty)));
    assert!(matches!(Price::parse("+1"), Err(DecimalError::Invalid(_))));
    assert!(matches!(Price::parse("1."), Err(DecimalError::Invalid(_))));
    assert!(matches!(Price::parse(".5"), Err(DecimalError::Invalid(_))));
    assert!(matches!(Price::parse(" 1"), Err(DecimalError::Invalid(_))));
    assert!(matches!(
        Price::parse("0.0000000001"),
        Err(DecimalError::TooPrecise(_))
    ));
    assert!(matches!(
        Price::parse("99999999999"),
        Err(DecimalError::OutOfRange(_))
    ));
}

#[test]
fn displays_trimmed() {
    assert_eq!(Price::from_raw(189_500_000_000).to_string(), "189.5");
    assert_eq!(Money::from_raw(-345 * i128::from(UNIT)).to_string(), "-345");
    assert_eq!(Money::from_raw(-5).to_string(), "-0.000000005");
    assert_eq!(Money::ZERO.to_string(), "0");
}

#[test]
fn rounds_half_away_from_zero() {
    assert_eq!(div_round(15, 10), 2);
    assert_eq!(div_round(-15, 10), -2);
    assert_eq!(div_round(14, 10), 1);
    assert_eq!(div_round(-14, 10), -1);
    assert_eq!(mul_div_round(i128::MAX / 2, 4, 8), i128::MAX / 4 + 1);
    assert_eq!(mul_div_round(-(i128::MAX / 2), 4, 8), -(i128::MAX / 4 + 1));
}

#[test]
fn serde_uses_strings() {
    let p: Price = serde_json::from_str("\"12.40\"").unwrap_or_default();
    assert_eq!(p.raw(), 12_400_000_000);
    assert_eq!(serde_json::to_string(&p).ok().as_deref(), Some("\"12.4\""));
    assert!(serde_json::from_str::<Price>("12.4").is_err());
}

proptest! {
    #[test]
    fn display_parse_round_trip(raw in any::<i64>()) {
        let p = Price::from_raw(raw);
        prop_assert_eq!(Price::parse(&p.to_string()), Ok(p));
    }

    #[test]
    fn money_round_trip(raw in any::<i128>().prop_map(|r| r / 1000)) {
        let m = Money::from_raw(raw);
        prop_assert_eq!(Money::parse(&m.to_string()), Ok(m));
    }

    #[test]
    fn mul_div_matches_wide_reference(a in any::<i64>(), b in any::<i64>(), d in 1i64..i64::MAX) {
        let (a, b, d) = (i128::from(a), i128::from(b), i128::from(d));
        let wide = mul_div_round(a, b, d);
        // reference on exact 256-bit integers
        let p = I256::from(a) * I256::from(b);
        let lo = p / I256::from(d);
        let diff = (p - lo * I256::from(d)).unsigned_abs() * 2;
        let expect = if diff >= I256::from(d).unsigned_abs() { if p < 0 { lo - 1 } else { lo + 1 } } else { lo };
        prop_assert_eq!(I256::from(wide), expect);
    }

    #[test]
    fn notional_sum_is_exact(qs in proptest::collection::vec((1i64..1_000_000_000_000, 1i64..1_000_000_000_000), 1..50)) {
        let total: i128 = qs.iter().map(|&(q, p)| Notional::of(Quantity::from_raw(q), Price::from_raw(p)).0).sum();
        let direct: i128 = qs.iter().map(|&(q, p)| i128::from(q) * i128::from(p)).sum();
        prop_assert_eq!(total, direct);
    }
}
