//! The synthetic market's own random numbers: splitmix64 for uniform bits,
//! Box-Muller for normals, inversion for exponential waits. Small, fast and
//! fully determined by the seed.

/// A splitmix64 generator with a cached second Box-Muller normal.
#[derive(Clone, Debug)]
pub(super) struct Rng {
    state: u64,
    spare: Option<f64>,
}

impl Rng {
    /// A generator for `seed`; `stream` separates independent uses of one seed.
    pub(super) fn new(seed: u64, stream: u64) -> Self {
        let mut r = Self {
            state: seed ^ stream.wrapping_mul(0xD1B5_4A32_D192_ED03),
            spare: None,
        };
        r.next_u64();
        r
    }

    /// 64 uniform bits.
    pub(super) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)` with 53 random bits.
    pub(super) fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `(0, 1]`: safe to take the logarithm of.
    fn open_unit(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`0` when `n` is 0).
    pub(super) fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// True with probability `p`.
    pub(super) fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// A standard normal by Box-Muller; the second value of each pair is kept
    /// for the next call.
    pub(super) fn normal(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        let r = (-2.0 * self.open_unit().ln()).sqrt();
        let theta = std::f64::consts::TAU * self.unit();
        self.spare = Some(r * theta.sin());
        r * theta.cos()
    }

    /// An exponential variate with the given mean (a Poisson process's wait).
    pub(super) fn exponential(&mut self, mean: f64) -> f64 {
        -self.open_unit().ln() * mean
    }
}

#[cfg(test)]
mod tests {
    use super::Rng;

    #[test]
    fn normals_have_mean_zero_and_unit_variance() {
        let mut r = Rng::new(7, 0);
        let n = 200_000;
        let xs: Vec<f64> = (0..n).map(|_| r.normal()).collect();
        let mean = xs.iter().sum::<f64>() / f64::from(n);
        let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / f64::from(n);
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
    }

    #[test]
    fn exponential_waits_have_the_asked_mean() {
        let mut r = Rng::new(8, 0);
        let n = 100_000;
        let mean = (0..n).map(|_| r.exponential(0.25)).sum::<f64>() / f64::from(n);
        assert!((mean - 0.25).abs() < 0.01, "mean {mean}");
    }
}
