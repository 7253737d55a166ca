//! The varint primitives of the store's compact encodings (journal
//! batches and snapshots): LEB128 unsigned varints, zigzag for signed
//! numbers, fixed-point decimals with their trailing zeros folded in, and
//! length-prefixed texts, with a reader that refuses bad bytes with a
//! clear error and never panics.

use crate::store::frame::FrameError;

/// Bytes before a value's payload: its format byte and the CRC-32 of the
/// payload.
pub(crate) const HEADER: usize = 5;

/// The payload of a value of format `format`, its format and checksum
/// checked first.
pub(crate) fn payload(bytes: &[u8], format: u8) -> Result<&[u8], FrameError> {
    if bytes.len() < HEADER {
        return Err(FrameError::Short(bytes.len()));
    }
    if bytes[0] != format {
        return Err(FrameError::Format(bytes[0]));
    }
    let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let computed = crc32fast::hash(&bytes[HEADER..]);
    if stored != computed {
        return Err(FrameError::Checksum { stored, computed });
    }
    Ok(&bytes[HEADER..])
}

/// The varint that announces an unfolded decimal (see `Writer::decimal`).
const ESCAPE: u128 = 18;

/// `n` as an unsigned varint of its sign folded into the low bit.
pub(crate) const fn zigzag(n: i128) -> u128 {
    ((n << 1) ^ (n >> 127)) as u128
}

pub(crate) const fn unzigzag(u: u128) -> i128 {
    ((u >> 1) as i128) ^ -((u & 1) as i128)
}

pub(crate) const fn zigzag64(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

pub(crate) const fn unzigzag64(u: u64) -> i64 {
    ((u >> 1) as i64) ^ -((u & 1) as i64)
}

/// 10^0 ..= 10^18.
const POW10: [i128; 19] = {
    let mut t = [1i128; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// Appends varints, decimals and texts to a byte buffer.
pub(crate) struct Writer(pub(crate) Vec<u8>);

impl Writer {
    /// A writer of a value of format `format` (room for `capacity` bytes):
    /// its header first, the checksum filled in by [`Writer::seal`].
    pub(crate) fn framed(format: u8, capacity: usize) -> Self {
        let mut buf = Vec::with_capacity(HEADER + capacity);
        buf.extend_from_slice(&[format, 0, 0, 0, 0]);
        Self(buf)
    }

    /// The value, its payload's checksum in its header.
    pub(crate) fn seal(mut self) -> Vec<u8> {
        let crc = crc32fast::hash(&self.0[HEADER..]);
        self.0[1..HEADER].copy_from_slice(&crc.to_le_bytes());
        self.0
    }

    /// An unsigned LEB128 varint.
    pub(crate) fn uint(&mut self, mut v: u128) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }

    /// An exact amount (any i128): its zigzag as a length byte and that
    /// many little-endian bytes, so a zero costs one byte and a typical
    /// amount at 10^-18 ten, decoded without a loop over 7-bit groups.
    pub(crate) fn amount(&mut self, v: i128) {
        let z = zigzag(v);
        let len = 16 - (z.leading_zeros() / 8) as usize;
        self.0.push(len as u8);
        self.0.extend_from_slice(&z.to_le_bytes()[..len]);
    }

    /// A fixed-point raw value as `zigzag(mantissa) × 19 + zeros` (at most
    /// 18 trailing decimal zeros folded). A value too large to fold (beyond
    /// ±2^122, never a price or a quantity) is written as the escape 18
    /// (mantissa 0 with 18 zeros, which folding never produces: 0 has no
    /// zeros) and then its plain zigzag.
    pub(crate) fn decimal(&mut self, raw: i128) {
        if let Ok(small) = i64::try_from(raw) {
            // The common case, in 64-bit arithmetic: |m| < 2^63 folds into
            // at most 2^64 × 19 + 18, which fits a u128.
            let (mut m, mut zeros) = (small, 0u8);
            while m != 0 && m % 10 == 0 && zeros < 18 {
                m /= 10;
                zeros += 1;
            }
            self.uint(u128::from(zigzag64(m)) * 19 + u128::from(zeros));
            return;
        }
        let (mut m, mut zeros) = (raw, 0u8);
        while m != 0 && m % 10 == 0 && zeros < 18 {
            m /= 10;
            zeros += 1;
        }
        match zigzag(m)
            .checked_mul(19)
            .and_then(|v| v.checked_add(u128::from(zeros)))
        {
            Some(v) => self.uint(v),
            None => {
                self.uint(ESCAPE);
                self.uint(zigzag(raw));
            }
        }
    }

    /// A length-prefixed UTF-8 text.
    pub(crate) fn text(&mut self, s: &str) {
        self.uint(s.len() as u128);
        self.0.extend_from_slice(s.as_bytes());
    }
}

/// Reads what a [`Writer`] wrote, refusing truncated, overlong or
/// out-of-range input with an error naming `context`; never panics.
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    context: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader over `bytes`; errors say they come from `context`.
    pub(crate) const fn new(bytes: &'a [u8], context: &'static str) -> Self {
        Self {
            bytes,
            at: 0,
            context,
        }
    }

    /// How many bytes are left: a bound on any count read next (each item
    /// takes a byte at least), so a bad count cannot make a huge allocation.
    pub(crate) const fn remaining(&self) -> usize {
        self.bytes.len() - self.at
    }

    /// Whether every byte was read.
    pub(crate) const fn is_done(&self) -> bool {
        self.at == self.bytes.len()
    }

    /// An error about `what`, in this reader's context.
    pub(crate) fn bad(&self, what: &str) -> FrameError {
        FrameError::Archive(format!("{}: {what}", self.context))
    }

    /// The next `len` bytes, as they are.
    pub(crate) fn bytes(&mut self, len: usize) -> Result<&'a [u8], FrameError> {
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.bad("truncated"))?;
        let b = &self.bytes[self.at..end];
        self.at = end;
        Ok(b)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, FrameError> {
        let b = *self.bytes.get(self.at).ok_or_else(|| self.bad("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    pub(crate) fn uint(&mut self) -> Result<u128, FrameError> {
        // One byte (ids, counts, small numbers) without the loop.
        if let Some(&b) = self.bytes.get(self.at)
            && b < 0x80
        {
            self.at += 1;
            return Ok(u128::from(b));
        }
        // Up to nine bytes (63 bits) in 64-bit arithmetic, the rest in 128.
        let mut v = 0u64;
        for shift in (0..63).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(u128::from(v));
            }
        }
        let mut v = u128::from(v);
        for shift in (63..128).step_by(7) {
            let b = self.byte()?;
            let part = u128::from(b & 0x7f);
            if shift == 126 && part > 3 {
                return Err(self.bad("varint overflows 128 bits"));
            }
            v |= part << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.bad("varint longer than 128 bits"))
    }

    pub(crate) fn int<T: TryFrom<u128>>(&mut self, what: &str) -> Result<T, FrameError> {
        T::try_from(self.uint()?).map_err(|_| self.bad(&format!("{what} out of range")))
    }

    pub(crate) fn signed<T: TryFrom<i128>>(&mut self, what: &str) -> Result<T, FrameError> {
        T::try_from(unzigzag(self.uint()?)).map_err(|_| self.bad(&format!("{what} out of range")))
    }

    /// What [`Writer::amount`] wrote.
    pub(crate) fn amount(&mut self, what: &str) -> Result<i128, FrameError> {
        let len = usize::from(self.byte()?);
        if len > 16 {
            return Err(self.bad(&format!("{what}: length {len} beyond 16 bytes")));
        }
        let mut le = [0u8; 16];
        le[..len].copy_from_slice(self.bytes(len)?);
        if len > 0 && le[len - 1] == 0 {
            return Err(self.bad(&format!("{what}: not in its shortest form")));
        }
        Ok(unzigzag(u128::from_le_bytes(le)))
    }

    pub(crate) fn decimal<T: TryFrom<i128>>(&mut self, what: &str) -> Result<T, FrameError> {
        let v = self.uint()?;
        let raw = if v == ESCAPE {
            unzigzag(self.uint()?)
        } else if let Ok(small) = u64::try_from(v) {
            let zeros = (small % 19) as usize;
            i128::from(unzigzag64(small / 19))
                .checked_mul(POW10[zeros])
                .ok_or_else(|| self.bad(&format!("{what} out of range")))?
        } else {
            let zeros = (v % 19) as usize;
            unzigzag(v / 19)
                .checked_mul(POW10[zeros])
                .ok_or_else(|| self.bad(&format!("{what} out of range")))?
        };
        T::try_from(raw).map_err(|_| self.bad(&format!("{what} out of range")))
    }

    pub(crate) fn text(&mut self) -> Result<String, FrameError> {
        let len: usize = self.int("text length")?;
        let end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| self.bad("truncated text"))?;
        let s = std::str::from_utf8(&self.bytes[self.at..end]).map_err(|_| self.bad("text is not UTF-8"))?;
        self.at = end;
        Ok(s.to_owned())
    }
}
