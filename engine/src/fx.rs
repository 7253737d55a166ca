//! FX rates and exact conversion of amounts between currencies.
//!
//! A conversion is a ratio `num / den` of integers, so an inverse rate
//! (`3000 JPY / 152`) or a cross through USD (`× 1.08 / 1.27`) is applied with
//! one rounding at the exact scale, not by multiplying rounded reciprocals.

use rustc_hash::FxHashMap;

use crate::ids::CurrencyId;
use crate::num::{Rate, UNIT, mul_div_round};

/// A conversion factor `num / den` from one currency into another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conversion {
    num: i128,
    den: i128,
}

impl Conversion {
    /// The identity (same currency).
    pub const IDENTITY: Self = Self { num: 1, den: 1 };

    /// Converts an exact-scale amount, rounding once.
    #[must_use]
    pub fn apply(self, amount: i128) -> i128 {
        if self.den == 1 && self.num == 1 {
            amount
        } else {
            mul_div_round(amount, self.num, self.den)
        }
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
        Self {
            num: i128::from(rate.raw()),
            den: i128::from(UNIT),
        }
    }

    fn inverse(rate: Rate) -> Self {
        Self {
            num: i128::from(UNIT),
            den: i128::from(rate.raw()),
        }
    }

    fn then(self, next: Self) -> Self {
        Self {
            num: self.num * next.num,
            den: self.den * next.den,
        }
    }
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
}
