//! Decimal text for fixed-point raws, fast: every figure the server and the
//! CLI print goes through here, so it avoids what `u128` formatting costs
//! (a 128-bit division per digit). A raw is split into base-10^9 chunks by
//! long division over 32-bit limbs (each step a `u64` division by a
//! constant, which compiles to a multiply), and each chunk is written by
//! `itoa`, zero-padded where it is not the leading one.

use std::fmt;

use super::SCALE_DIGITS;

/// 10^9 as the divisor of every chunk.
const BILLION: u64 = 1_000_000_000;

/// Zeros to pad a chunk with.
const ZEROS: &str = "000000000";

/// `(n / 10^9, n % 10^9)`, with `u64` arithmetic only.
#[inline]
#[must_use]
pub(crate) fn div_rem_billion(n: u128) -> (u128, u64) {
    if let Ok(small) = u64::try_from(n) {
        return (u128::from(small / BILLION), small % BILLION);
    }
    let mut rem = 0u64;
    let mut q = 0u128;
    for shift in [96u32, 64, 32, 0] {
        // rem < 10^9, so `cur` < 10^9 · 2^32 < 2^62 and its quotient < 2^32.
        let cur = (rem << 32) | ((n >> shift) as u64 & 0xFFFF_FFFF);
        q |= u128::from(cur / BILLION) << shift;
        rem = cur % BILLION;
    }
    (q, rem)
}

/// `n / 10^9` rounded half away from zero: the same as
/// [`div_round`](super::div_round)`(n, 10^9)`, without an `i128` division.
#[inline]
#[must_use]
pub fn div_round_billion(n: i128) -> i128 {
    let (q, r) = div_rem_billion(n.unsigned_abs());
    let q = q + u128::from(2 * r >= BILLION);
    // |n| / 10^9 + 1 is far inside i128 for any i128 n.
    let q = q as i128;
    if n < 0 { -q } else { q }
}

/// Writes `raw` at the global scale (9 decimals), trailing zeros trimmed:
/// `189500000000` is `189.5`, zero is `0`.
#[inline]
pub fn write_global(f: &mut impl fmt::Write, raw: i128) -> fmt::Result {
    let (int, frac) = div_rem_billion(raw.unsigned_abs());
    if raw < 0 {
        f.write_char('-')?;
    }
    write_int(f, int)?;
    if frac != 0 {
        f.write_char('.')?;
        write_trimmed(f, frac)?;
    }
    Ok(())
}

/// Writes `raw` at the exact scale (18 decimals), trailing zeros trimmed.
pub fn write_exact(f: &mut impl fmt::Write, raw: i128) -> fmt::Result {
    let (hi, low) = div_rem_billion(raw.unsigned_abs());
    let (int, high) = div_rem_billion(hi);
    if raw < 0 {
        f.write_char('-')?;
    }
    write_int(f, int)?;
    if low != 0 {
        f.write_char('.')?;
        write_padded(f, high, SCALE_DIGITS as usize)?;
        write_trimmed(f, low)?;
    } else if high != 0 {
        f.write_char('.')?;
        write_trimmed(f, high)?;
    }
    Ok(())
}

/// An integer part: its head without leading zeros, then the nine-digit
/// chunks below `u64` range, zero-padded.
#[inline]
fn write_int(f: &mut impl fmt::Write, int: u128) -> fmt::Result {
    if let Ok(head) = u64::try_from(int) {
        return f.write_str(itoa::Buffer::new().format(head));
    }
    // u128::MAX has 39 digits: a head of at most 12 and three chunks.
    let mut chunks = [0u64; 3];
    let (mut n, mut k) = (int, 0);
    let head = loop {
        if let Ok(head) = u64::try_from(n) {
            break head;
        }
        let (q, chunk) = div_rem_billion(n);
        chunks[k] = chunk;
        (n, k) = (q, k + 1);
    };
    f.write_str(itoa::Buffer::new().format(head))?;
    chunks[..k]
        .iter()
        .rev()
        .try_for_each(|&c| write_padded(f, c, SCALE_DIGITS as usize))
}

/// The last nine-digit chunk of a fraction (not zero), trailing zeros
/// trimmed.
#[inline]
fn write_trimmed(f: &mut impl fmt::Write, mut frac: u64) -> fmt::Result {
    // At most eight zeros: strip them four, two, then one at a time.
    let mut width = SCALE_DIGITS as usize;
    if frac.is_multiple_of(10_000) {
        frac /= 10_000;
        width -= 4;
        if frac.is_multiple_of(10_000) {
            frac /= 10_000;
            width -= 4;
        }
    }
    if frac.is_multiple_of(100) {
        frac /= 100;
        width -= 2;
    }
    if frac.is_multiple_of(10) {
        frac /= 10;
        width -= 1;
    }
    write_padded(f, frac, width)
}

/// `n` (fewer than `width` ≤ 9 digits) as exactly `width` digits.
#[inline]
fn write_padded(f: &mut impl fmt::Write, n: u64, width: usize) -> fmt::Result {
    let mut buf = itoa::Buffer::new();
    let digits = buf.format(n);
    f.write_str(&ZEROS[..width.saturating_sub(digits.len())])?;
    f.write_str(digits)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::num::{div_round, write_raw_plain};
    use proptest::prelude::*;

    /// The plain `u128` formatting: the oracle.
    fn slow(raw: i128, digits: u32) -> String {
        let mut s = String::new();
        let _ = write_raw_plain(&mut s, raw, digits);
        s
    }

    fn fast(raw: i128, digits: u32) -> String {
        let mut s = String::new();
        let _ = if digits == 9 {
            write_global(&mut s, raw)
        } else {
            write_exact(&mut s, raw)
        };
        s
    }

    #[test]
    fn edges_match_the_plain_formatting() {
        let cases = [
            0,
            1,
            -1,
            999_999_999,
            1_000_000_000,
            189_500_000_000,
            -189_500_000_000,
            i128::from(u64::MAX),
            i128::from(u64::MAX) + 1,
            i128::MAX,
            i128::MIN,
            i128::MIN + 1,
            10i128.pow(27) + 5,
        ];
        for raw in cases {
            for digits in [9, 18] {
                assert_eq!(fast(raw, digits), slow(raw, digits), "{raw} at {digits}");
            }
        }
        assert_eq!(fast(189_500_000_000, 9), "189.5");
        assert_eq!(fast(-5, 9), "-0.000000005");
        assert_eq!(fast(-5, 18), "-0.000000000000000005");
    }

    #[test]
    fn rounding_edges_match_div_round() {
        let b = i128::from(BILLION);
        for n in [
            0,
            1,
            b / 2 - 1,
            b / 2,
            b / 2 + 1,
            b,
            3 * b / 2,
            i128::MAX,
            i128::MIN,
            i128::MIN + 1,
        ] {
            for n in [n, n.saturating_neg()] {
                assert_eq!(div_round_billion(n), div_round(n, b), "{n}");
            }
        }
    }

    proptest! {
        #[test]
        fn any_raw_matches_the_plain_formatting(raw in any::<i128>(), small in any::<i64>(), shift in 0u32..100) {
            for r in [raw, i128::from(small), raw >> shift] {
                prop_assert_eq!(fast(r, 9), slow(r, 9));
                prop_assert_eq!(fast(r, 18), slow(r, 18));
                prop_assert_eq!(div_round_billion(r), div_round(r, i128::from(BILLION)));
            }
        }
    }
}
