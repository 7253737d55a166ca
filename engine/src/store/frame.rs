//! Framing of every stored value: a format byte, a CRC-32 of the payload, and
//! the rkyv archive. A torn or flipped value fails the checksum before rkyv
//! ever looks at it; rkyv then validates the archive itself.

use rkyv::api::high::{HighSerializer, HighValidator};
use rkyv::bytecheck::CheckBytes;
use rkyv::de::Pool;
use rkyv::rancor::{Error as RkyvError, Strategy};
use rkyv::ser::allocator::ArenaHandle;
use rkyv::util::AlignedVec;
use rkyv::{Archive, Deserialize, Serialize};

/// The frame format byte.
const FRAME_V1: u8 = 1;
const HEADER: usize = 5;

/// Why a stored value could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// Shorter than a frame header.
    #[error("value of {0} bytes is too short to be a kupala record")]
    Short(usize),
    /// Unknown frame format.
    #[error("unknown record format {0}")]
    Format(u8),
    /// The checksum does not match: a torn or corrupted write.
    #[error("checksum mismatch (stored {stored:08x}, computed {computed:08x})")]
    Checksum {
        /// The checksum in the header.
        stored: u32,
        /// The checksum of the payload.
        computed: u32,
    },
    /// The payload is not a valid archive of the expected type.
    #[error("invalid archive: {0}")]
    Archive(String),
}

/// Archives `value` and frames it.
pub fn encode<T>(value: &T) -> Result<Vec<u8>, FrameError>
where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RkyvError>>,
{
    encode_as(FRAME_V1, value)
}

/// The format byte of a framed value (`None` when too short to be one): a
/// record whose layout changed is framed with a new byte, and a reader
/// picks the layout by it.
#[must_use]
pub fn format_of(bytes: &[u8]) -> Option<u8> {
    (bytes.len() >= HEADER).then(|| bytes[0])
}

/// Archives `value` and frames it with format byte `format`.
pub fn encode_as<T>(format: u8, value: &T) -> Result<Vec<u8>, FrameError>
where
    T: for<'a> Serialize<HighSerializer<AlignedVec, ArenaHandle<'a>, RkyvError>>,
{
    let payload = rkyv::to_bytes::<RkyvError>(value).map_err(|e| FrameError::Archive(e.to_string()))?;
    let mut out = Vec::with_capacity(HEADER + payload.len());
    out.push(format);
    out.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(out)
}

/// Checks the frame (format byte `format`) and returns the payload, copied
/// to an aligned buffer (bytes read back from the store carry no alignment
/// guarantee).
pub fn payload_as(bytes: &[u8], format: u8) -> Result<AlignedVec<16>, FrameError> {
    if bytes.len() < HEADER {
        return Err(FrameError::Short(bytes.len()));
    }
    if bytes[0] != format {
        return Err(FrameError::Format(bytes[0]));
    }
    let stored = u32::from_le_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    let body = &bytes[HEADER..];
    let computed = crc32fast::hash(body);
    if stored != computed {
        return Err(FrameError::Checksum { stored, computed });
    }
    let mut aligned = AlignedVec::<16>::with_capacity(body.len());
    aligned.extend_from_slice(body);
    Ok(aligned)
}

/// Checks the frame, validates the archive and deserializes it.
pub fn decode<T>(bytes: &[u8]) -> Result<T, FrameError>
where
    T: Archive,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, RkyvError>> + Deserialize<T, Strategy<Pool, RkyvError>>,
{
    decode_as(bytes, FRAME_V1)
}

/// [`decode`] of a value framed with format byte `format`.
pub fn decode_as<T>(bytes: &[u8], format: u8) -> Result<T, FrameError>
where
    T: Archive,
    T::Archived: for<'a> CheckBytes<HighValidator<'a, RkyvError>> + Deserialize<T, Strategy<Pool, RkyvError>>,
{
    let aligned = payload_as(bytes, format)?;
    rkyv::from_bytes::<T, RkyvError>(&aligned).map_err(|e| FrameError::Archive(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small archived record (rkyv frames carry EOD, closed positions and
    /// proposals).
    #[derive(rkyv::Archive, rkyv::Serialize, rkyv::Deserialize, Debug, PartialEq, Eq)]
    struct FxImage {
        base: u32,
        quote: u32,
        rate: i64,
    }

    #[test]
    fn round_trip_and_detects_damage() {
        let v = FxImage {
            base: 1,
            quote: 0,
            rate: 1_085_000_000,
        };
        let Ok(mut bytes) = encode(&v) else {
            panic!("encode failed")
        };
        assert_eq!(decode::<FxImage>(&bytes), Ok(v));
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        assert!(matches!(
            decode::<FxImage>(&bytes),
            Err(FrameError::Checksum { .. })
        ));
        assert_eq!(decode::<FxImage>(&bytes[..3]), Err(FrameError::Short(3)));
        bytes[0] = 9;
        assert_eq!(decode::<FxImage>(&bytes), Err(FrameError::Format(9)));
    }
}
