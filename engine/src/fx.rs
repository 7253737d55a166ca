//! FX rates and exact conversion of amounts between currencies.
//!
//! A conversion is a ratio `num / den` of integers, so an inverse rate
//! (`3000 JPY / 152`) or a cross through USD (`× 1.08 / 1.27`) is applied with
//! one rounding at the exact scale, not by multiplying rounded reciprocals.

use rustc_hash::FxHashMap;

use crate::ids::CurrencyId;
use crate::num::{Rate, UNIT, mul_div_round};

/// A conversion factor `num / den` from one currency into another, with
/// `den`'s reciprocal kept so that converting divides by multiplying (the
/// tick loop converts every cross-currency holder twice per tick).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversion {
    num: i128,
    den: i128,
    /// `⌊(2^128 − 1) / den⌋` when `num > 0` and `den > 1`, else 0 (then
    /// [`mul_div_round`] divides).
    recip: u128,
}

impl Conversion {
    /// The identity (same currency).
    pub const IDENTITY: Self = Self {
        num: 1,
        den: 1,
        recip: 0,
    };

    /// `num / den`, with the reciprocal of `den`.
    fn new(num: i128, den: i128) -> Self {
        let recip = if num > 0 && den > 1 {
            u128::MAX / den.unsigned_abs()
        } else {
            0
        };
        Self { num, den, recip }
    }

    /// Converts an exact-scale amount, rounding once (half away from zero),
    /// exactly as `mul_div_round(amount, num, den)`.
    #[must_use]
    pub fn apply(self, amount: i128) -> i128 {
        if self.den == 1 && self.num == 1 {
            return amount;
        }
        match self.fast(amount) {
            Some(v) => v,
            None => mul_div_round(amount, self.num, self.den),
        }
    }

    /// [`Conversion::apply`] by the reciprocal, when `|amount| × num` fits
    /// in 127 bits (else `None`). The estimate `⌊p × recip / 2^128⌋` is the
    /// quotient or one below it (`recip` is within 1 of `2^128 / den` and
    /// `p < 2^127`), so one correction makes it exact; the remainder then
    /// rounds it.
    fn fast(self, amount: i128) -> Option<i128> {
        if self.recip == 0 {
            return None;
        }
        let p = amount
            .unsigned_abs()
            .checked_mul(self.num.unsigned_abs())
            .filter(|&p| p <= i128::MAX.unsigned_abs())?;
        let d = self.den.unsigned_abs();
        let mut q = mul_high(p, self.recip);
        let mut r = p - q * d;
        if r >= d {
            q += 1;
            r -= d;
        }
        if r >= d - r {
            q += 1;
        }
        // q ≤ p < 2^127.
        let q = i128::try_from(q).ok()?;
        Some(if amount < 0 { -q } else { q })
    }

    /// The factor `num / den` at 10^-9, rounded up (an upper bound, for the
    /// sequencer's range checks).
    #[must_use]
    pub(crate) fn factor_ceil(self) -> ethnum::U256 {
        let (num, den) = (
            ethnum::U256::from(self.num.unsigned_abs()) * ethnum::U256::from(UNIT.unsigned_abs()),
            ethnum::U256::from(self.den.unsigned_abs().max(1)),
        );
        (num + den - 1) / den
    }

    fn direct(rate: Rate) -> Self {
        Self::new(i128::from(rate.raw()), i128::from(UNIT))
    }

    fn inverse(rate: Rate) -> Self {
        Self::new(i128::from(UNIT), i128::from(rate.raw()))
    }

    fn then(self, next: Self) -> Self {
        Self::new(self.num * next.num, self.den * next.den)
    }
}

/// The high 128 bits of the 256-bit product `a × b`.
fn mul_high(a: u128, b: u128) -> u128 {
    let low = u128::from(u64::MAX);
    let (a0, a1) = (a & low, a >> 64);
    let (b0, b1) = (b & low, b >> 64);
    let (p00, p01, p10, p11) = (a0 * b0, a0 * b1, a1 * b0, a1 * b1);
    let mid = (p00 >> 64) + (p01 & low) + (p10 & low);
    p11 + (p01 >> 64) + (p10 >> 64) + (mid >> 64)
}

/// The latest rate of every pair seen, as quoted (`BASE/QUOTE`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FxRates {
    rates: FxHashMap<(CurrencyId, CurrencyId), Rate>,
}

impl FxRates {
    /// Records `1 base = rate quote`.
    pub fn set(&mut self, base: CurrencyId, quote: CurrencyId, rate: Rate) {
        self.rates.insert((base, quote), rate);
    }

    /// Every pair and its latest rate.
    pub fn iter(&self) -> impl Iterator<Item = ((CurrencyId, CurrencyId), Rate)> + '_ {
        self.rates.iter().map(|(&k, &v)| (k, v))
    }

    /// How to convert `from` into `to`: the direct pair, else the inverse
    /// pair, else a cross through USD; `None` while no usable rate exists.
    #[must_use]
    pub fn conversion(&self, from: CurrencyId, to: CurrencyId) -> Option<Conversion> {
        if from == to {
            return Some(Conversion::IDENTITY);
        }
        if let Some(c) = self.pair(from, to) {
            return Some(c);
        }
        if from == CurrencyId::USD || to == CurrencyId::USD {
            return None;
        }
        Some(
            self.pair(from, CurrencyId::USD)?
                .then(self.pair(CurrencyId::USD, to)?),
        )
    }

    fn pair(&self, from: CurrencyId, to: CurrencyId) -> Option<Conversion> {
        if let Some(&r) = self.rates.get(&(from, to)) {
            return Some(Conversion::direct(r));
        }
        self.rates.get(&(to, from)).map(|&r| Conversion::inverse(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::EXACT_UNIT;

    const EUR: CurrencyId = CurrencyId(1);
    const JPY: CurrencyId = CurrencyId(2);
    const GBP: CurrencyId = CurrencyId(3);

    fn rate(s: &str) -> Rate {
        Rate::parse(s).unwrap_or_default()
    }

    #[test]
    fn direct_inverse_and_cross() {
        let mut fx = FxRates::default();
        assert_eq!(fx.conversion(EUR, CurrencyId::USD), None);
        fx.set(EUR, CurrencyId::USD, rate("1.08"));
        fx.set(CurrencyId::USD, JPY, rate("150"));
        let amount = 3000 * EXACT_UNIT;
        let conv = |fx: &FxRates, f, t| fx.conversion(f, t).map(|c| c.apply(amount));
        assert_eq!(conv(&fx, EUR, CurrencyId::USD), Some(3240 * EXACT_UNIT));
        assert_eq!(conv(&fx, JPY, CurrencyId::USD), Some(20 * EXACT_UNIT));
        // EUR → JPY crosses through USD: 3000 × 1.08 × 150
        assert_eq!(conv(&fx, EUR, JPY), Some(486_000 * EXACT_UNIT));
        // JPY → EUR: 3000 / 150 / 1.08 = 18.518518518518518518…
        assert_eq!(conv(&fx, JPY, EUR), Some(18_518_518_518_518_518_519));
        assert_eq!(conv(&fx, GBP, EUR), None);
        fx.set(JPY, CurrencyId::USD, rate("0.01"));
        assert_eq!(
            conv(&fx, JPY, CurrencyId::USD),
            Some(30 * EXACT_UNIT),
            "direct beats inverse"
        );
    }

    fn slow(c: Conversion, a: i128) -> i128 {
        mul_div_round(a, c.num, c.den)
    }

    #[test]
    fn the_reciprocal_rounds_exactly_as_the_division_at_the_edges() {
        let dens = [
            2,
            3,
            7,
            1 << 40,
            (1 << 40) + 1,
            1_000_000_000,
            152_340_000_000,
            1_270_000_000_000_000_000,
        ];
        let amounts = [
            0,
            1,
            -1,
            i128::MAX,
            i128::MIN,
            i128::MAX / 3,
            -(i128::MAX / 7),
            (1i128 << 100) + 12_345,
            -((1i128 << 96) - 1),
            500_000_000,
            1_500_000_000,
        ];
        let mut checked = 0;
        for den in dens {
            for num in [
                1,
                2,
                999_999_999,
                1_085_000_000,
                1_000_000_000,
                i128::from(u64::MAX),
            ] {
                let c = Conversion::new(num, den);
                // Exact multiples of the denominator: a remainder of exactly
                // `den` after the estimate is the correction's edge.
                let multiples =
                    [3, 1_000_003, 1 << 40, (1 << 60) + 1].map(|k: i128| den.saturating_mul(k) / num.max(1));
                let edges = [den / 2, -(den / 2), den / 2 + 1, den - 1];
                for a in amounts.iter().copied().chain(edges).chain(multiples) {
                    // Beyond 127 bits the conversion divides in 256 bits
                    // (and a result out of range is a broken bound).
                    if a.checked_mul(num).is_some() {
                        assert_eq!(c.apply(a), slow(c, a), "{a} × {num} / {den}");
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 500, "{checked}");
    }

    proptest::proptest! {
        #[test]
        fn the_reciprocal_equals_the_division(
            bits in 1u32..126,
            mantissa in proptest::prelude::any::<i128>(),
            num_mantissa in proptest::prelude::any::<u64>(),
            den in 2i128..(1i128 << 100),
        ) {
            // |a| < 2^bits and num < 2^(126 − bits): the product fits.
            let a = mantissa >> (127 - bits);
            let shift = 64 - (126 - bits).clamp(1, 63);
            let num = (i128::from(num_mantissa) >> shift).max(1);
            let c = Conversion::new(num, den);
            proptest::prop_assert_eq!(c.apply(a), slow(c, a));
            // An exact tie: a remainder of half an odd denominator rounds up.
            let odd = (den | 1).max(3);
            let tie = Conversion::new(1, odd);
            let at = (odd / 2) + odd * i128::from(num_mantissa >> 40);
            proptest::prop_assert_eq!(tie.apply(at), slow(tie, at));
            proptest::prop_assert_eq!(tie.apply(-at), slow(tie, -at));
        }
    }
}
