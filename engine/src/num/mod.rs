//! Fixed-point decimal types: every price, quantity, rate and amount of money
//! in kupala is an integer count of 10^-9 units, never an `f64`.
//!
//! Two scales exist, on purpose:
//! - the *global scale* (9 decimals) of [`Price`], [`Quantity`], [`Rate`],
//!   [`Money`]: what comes in and what goes out;
//! - the *exact scale* (18 decimals) of [`Notional`]: the exact product of two
//!   global-scale values (`qty × price`). P&L is accumulated there, so a sum of
//!   a million products never rounds; it is rounded to [`Money`] only when shown.

use std::fmt;
use std::str::FromStr;

use ethnum::I256;

mod text;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
pub use text::{div_round_billion, write_exact, write_global};

/// Decimal places of the global scale.
pub const SCALE_DIGITS: u32 = 9;
/// Raw units per whole unit at the global scale (10^9).
pub const UNIT: i64 = 1_000_000_000;
/// Raw units per whole unit at the exact scale (10^18).
pub const EXACT_UNIT: i128 = 1_000_000_000_000_000_000;

/// Why a string is not an acceptable decimal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecimalError {
    /// The string was empty.
    #[error("empty string is not a decimal")]
    Empty,
    /// Scientific notation such as `1e5`.
    #[error("{0:?} uses an exponent; write a plain decimal such as \"100000\"")]
    Exponent(String),
    /// More than nine digits after the point.
    #[error("{0:?} has more than 9 decimal places")]
    TooPrecise(String),
    /// Anything else that is not `-?digits[.digits]`.
    #[error("{0:?} is not a decimal number")]
    Invalid(String),
    /// The value does not fit the type's range.
    #[error("{0:?} is out of range")]
    OutOfRange(String),
}

/// Parses `-?\d+(\.\d+)?` into raw units at the global scale, exactly.
///
/// Leading `+`, whitespace, exponents, `NaN`, `inf` and more than nine decimals
/// are refused: the input is money, and guessing is worse than refusing.
pub fn parse_raw(s: &str) -> Result<i128, DecimalError> {
    if s.is_empty() {
        return Err(DecimalError::Empty);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if body.bytes().any(|b| b == b'e' || b == b'E') {
        return Err(DecimalError::Exponent(s.to_owned()));
    }
    let (int_part, frac_part) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(int_part) || frac_part.is_some_and(|f| !all_digits(f)) {
        return Err(DecimalError::Invalid(s.to_owned()));
    }
    let frac = frac_part.unwrap_or("");
    if frac.len() > SCALE_DIGITS as usize {
        return Err(DecimalError::TooPrecise(s.to_owned()));
    }
    // 30 integer digits is far beyond any type's range; stop before i128 overflows.
    if int_part.trim_start_matches('0').len() > 29 {
        return Err(DecimalError::OutOfRange(s.to_owned()));
    }
    let mut raw: i128 = 0;
    for b in int_part.bytes().chain(frac.bytes()) {
        raw = raw * 10 + i128::from(b - b'0');
    }
    for _ in frac.len()..SCALE_DIGITS as usize {
        raw *= 10;
    }
    Ok(if negative { -raw } else { raw })
}

/// Writes raw units at a scale of `digits` decimals, trimming trailing zeros
/// (`189500000000` at 9 digits is `189.5`). The two scales kupala uses (9
/// and 18) take the fast path of [`write_global`] and [`write_exact`].
pub fn write_raw(f: &mut impl fmt::Write, raw: i128, digits: u32) -> fmt::Result {
    match digits {
        SCALE_DIGITS => write_global(f, raw),
        d if d == 2 * SCALE_DIGITS => write_exact(f, raw),
        _ => write_raw_plain(f, raw, digits),
    }
}

/// [`write_raw`] through plain `u128` formatting, for any scale.
pub(crate) fn write_raw_plain(f: &mut impl fmt::Write, raw: i128, digits: u32) -> fmt::Result {
    let unit = 10u128.pow(digits);
    let abs = raw.unsigned_abs();
    let (int, mut frac) = (abs / unit, abs % unit);
    if raw < 0 {
        f.write_char('-')?;
    }
    write!(f, "{int}")?;
    if frac != 0 {
        let mut width = digits as usize;
        while frac % 10 == 0 {
            frac /= 10;
            width -= 1;
        }
        write!(f, ".{frac:0width$}")?;
    }
    Ok(())
}

/// `a × b / d`, rounded half away from zero, exact even when `a × b`
/// overflows i128 (then it is done in 256 bits). `d` must not be zero.
#[must_use]
pub fn mul_div_round(a: i128, b: i128, d: i128) -> i128 {
    debug_assert!(d != 0, "division by zero in mul_div_round");
    if let Some(p) = a.checked_mul(b) {
        return div_round(p, d);
    }
    let (p, d) = (I256::from(a) * I256::from(b), I256::from(d));
    let (q, r) = (p / d, p % d);
    let q = if r.unsigned_abs() * 2 >= d.unsigned_abs() {
        if (p < 0) == (d < 0) { q + 1 } else { q - 1 }
    } else {
        q
    };
    narrow(q)
}

/// A 256-bit result the sequencer's range bounds prove fits in i128.
fn narrow(v: I256) -> i128 {
    i128::try_from(v).unwrap_or_else(|_| out_of_bounds())
}

/// A bound the sequencer keeps (`limits`) was wrong: an amount left the
/// range it guarantees. Never reached from input; loud rather than wrapped.
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn out_of_bounds() -> ! {
    panic!(
        "kupala invariant broken: an amount left the range the sequencer's bounds \
         guarantee (docs/architecture.md, Numbers: Ranges)"
    )
}

/// `a + b` at the exact scale, which the range bounds prove cannot overflow.
#[inline]
#[must_use]
#[track_caller]
pub(crate) fn add(a: i128, b: i128) -> i128 {
    a.checked_add(b).unwrap_or_else(|| out_of_bounds())
}

/// `a - b` at the exact scale, which the range bounds prove cannot overflow.
#[inline]
#[must_use]
#[track_caller]
pub(crate) fn sub(a: i128, b: i128) -> i128 {
    a.checked_sub(b).unwrap_or_else(|| out_of_bounds())
}

/// `n / d` rounded half away from zero.
#[must_use]
pub fn div_round(n: i128, d: i128) -> i128 {
    let (q, r) = (n / d, n % d);
    if r.unsigned_abs() * 2 >= d.unsigned_abs() {
        if (n < 0) == (d < 0) { q + 1 } else { q - 1 }
    } else {
        q
    }
}

macro_rules! fixed_type {
    ($(#[$doc:meta])* $name:ident, $raw:ty) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
        pub struct $name($raw);

        impl $name {
            /// Zero.
            pub const ZERO: Self = Self(0);

            /// Wraps raw units at the global scale (10^-9).
            #[must_use]
            pub const fn from_raw(raw: $raw) -> Self {
                Self(raw)
            }

            /// The raw units at the global scale (10^-9).
            #[must_use]
            pub const fn raw(self) -> $raw {
                self.0
            }

            /// A whole number of units, e.g. `from_int(100)` is 100.
            #[must_use]
            pub const fn from_int(units: i64) -> Self {
                Self(units as $raw * UNIT as $raw)
            }

            /// Parses a plain decimal string, refusing anything inexact.
            pub fn parse(s: &str) -> Result<Self, DecimalError> {
                let raw = parse_raw(s)?;
                <$raw>::try_from(raw)
                    .map(Self)
                    .map_err(|_| DecimalError::OutOfRange(s.to_owned()))
            }
        }

        impl FromStr for $name {
            type Err = DecimalError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_raw(f, i128::from(self.0), SCALE_DIGITS)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }
    };
}

fixed_type!(
    /// A price per unit of an instrument, in its currency (i64 raw, 10^-9).
    Price, i64
);
fixed_type!(
    /// A quantity of an instrument; signed where it is a position (i64 raw, 10^-9).
    Quantity, i64
);
fixed_type!(
    /// An FX rate or a ratio (split ratio, multiplier) (i64 raw, 10^-9).
    Rate, i64
);
fixed_type!(
    /// An amount of money at the global scale (i128 raw, 10^-9): every
    /// P&L figure out.
    Money, i128
);
fixed_type!(
    /// A trade's fee (i64 raw, 10^-9: up to ≈ 9.2 × 10^9 units, the range
    /// of prices and quantities), in the instrument's currency.
    Fee, i64
);

impl Quantity {
    /// The quantity's sign as -1, 0 or 1.
    #[must_use]
    pub const fn signum(self) -> i64 {
        self.0.signum()
    }

    /// The absolute quantity.
    #[must_use]
    pub const fn abs(self) -> Self {
        Self(self.0.abs())
    }
}

impl Money {
    /// Rounds an exact-scale amount to money at the global scale.
    #[must_use]
    pub fn from_notional(n: Notional) -> Self {
        Self(div_round_billion(n.0))
    }
}

/// An exact amount at scale 10^-18: the product of two global-scale values,
/// kept unrounded so that sums of products stay exact.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Notional(pub i128);

impl Notional {
    /// Zero.
    pub const ZERO: Self = Self(0);

    /// The exact product `qty × price`.
    #[must_use]
    pub fn of(qty: Quantity, price: Price) -> Self {
        Self(i128::from(qty.raw()) * i128::from(price.raw()))
    }

    /// A money amount lifted to the exact scale (lossless).
    #[must_use]
    pub fn from_money(m: Money) -> Self {
        Self(m.raw() * i128::from(UNIT))
    }

    /// Rounded to money for display.
    #[must_use]
    pub fn to_money(self) -> Money {
        Money::from_notional(self)
    }
}

impl std::ops::Add for Notional {
    type Output = Self;
    fn add(self, o: Self) -> Self {
        Self(add(self.0, o.0))
    }
}

impl std::ops::Sub for Notional {
    type Output = Self;
    fn sub(self, o: Self) -> Self {
        Self(sub(self.0, o.0))
    }
}

impl std::ops::AddAssign for Notional {
    fn add_assign(&mut self, o: Self) {
        self.0 = add(self.0, o.0);
    }
}

impl std::ops::SubAssign for Notional {
    fn sub_assign(&mut self, o: Self) {
        self.0 = sub(self.0, o.0);
    }
}

impl std::ops::Neg for Notional {
    type Output = Self;
    fn neg(self) -> Self {
        Self(-self.0)
    }
}

impl fmt::Debug for Notional {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Notional(")?;
        write_raw(f, self.0, 2 * SCALE_DIGITS)?;
        f.write_str(")")
    }
}

/// A quantity after a split of `ratio` new units per old one (`q × ratio`,
/// rounded once); at the exact scale so it can also scale sums of quantities.
#[must_use]
pub fn split_qty(q: i128, ratio: Rate) -> i128 {
    mul_div_round(q, i128::from(ratio.raw()), i128::from(UNIT))
}

/// A price after a split of `ratio` (`price ÷ ratio`, rounded once).
#[must_use]
pub fn split_price(price: i64, ratio: Rate) -> i128 {
    mul_div_round(i128::from(price), i128::from(UNIT), i128::from(ratio.raw()))
}

/// A contract multiplier, with a fast path for whole numbers (the usual case:
/// 1, 50, 100, 1000) so the hot path multiplies instead of dividing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Multiplier {
    raw: i64,
    whole: Option<i64>,
}

impl Multiplier {
    /// Multiplier 1.
    pub const ONE: Self = Self {
        raw: UNIT,
        whole: Some(1),
    };

    /// From a positive rate.
    #[must_use]
    pub const fn new(rate: Rate) -> Self {
        let raw = rate.raw();
        Self {
            raw,
            whole: if raw % UNIT == 0 { Some(raw / UNIT) } else { None },
        }
    }

    /// The multiplier as a rate.
    #[must_use]
    pub const fn rate(self) -> Rate {
        Rate::from_raw(self.raw)
    }

    /// Scales an exact-scale amount by the multiplier.
    #[inline]
    #[must_use]
    pub fn apply(self, amount: i128) -> i128 {
        match self.whole {
            Some(1) => amount,
            Some(m) => amount
                .checked_mul(i128::from(m))
                .unwrap_or_else(|| out_of_bounds()),
            None => mul_div_round(amount, i128::from(self.raw), i128::from(UNIT)),
        }
    }
}

#[cfg(test)]
mod tests;
