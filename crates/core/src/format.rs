//! The portable byte format of an index.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "GRAPEIDX"
//! 8       2     format version, little-endian (currently 1)
//! 10      2     reserved, zero
//! 12      8     body length in bytes, little-endian
//! 20      4     CRC-32 (IEEE) of the body, little-endian
//! 24      ...   body: bincode 2 (standard config: little-endian, varint integers)
//! ```
//!
//! Every integer is little-endian and no field depends on the pointer
//! width, so the same bytes load on x86_64 and wasm32.

use alloc::vec::Vec;

use crate::error::{Error, Result};

/// First eight bytes of every Grape index.
pub const MAGIC: [u8; 8] = *b"GRAPEIDX";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
const HEADER: usize = 24;

fn config() -> impl bincode::config::Config {
    bincode::config::standard()
}

/// Encodes `body` and wraps it in the header.
pub(crate) fn seal<T: bincode::Encode>(body: &T) -> Vec<u8> {
    let encoded = bincode::encode_to_vec(body, config())
        .expect("encoding into a Vec cannot fail for these types");
    let mut out = Vec::with_capacity(HEADER + encoded.len());
    out.extend_from_slice(&MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&(encoded.len() as u64).to_le_bytes());
    out.extend_from_slice(&crc32fast::hash(&encoded).to_le_bytes());
    out.extend_from_slice(&encoded);
    out
}

/// Checks the header and checksum, then decodes the body.
pub(crate) fn open<T: bincode::Decode<()>>(bytes: &[u8]) -> Result<T> {
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            Error::Truncated {
                expected: HEADER,
                got: bytes.len(),
            }
        } else {
            Error::BadMagic
        });
    }
    if bytes[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    if bytes.len() < HEADER {
        return Err(Error::Truncated {
            expected: HEADER,
            got: bytes.len(),
        });
    }
    let u16_at = |i: usize| u16::from_le_bytes([bytes[i], bytes[i + 1]]);
    let version = u16_at(8);
    if version != FORMAT_VERSION {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if u16_at(10) != 0 {
        return Err(Error::Corrupted("reserved header field is not zero".into()));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&bytes[12..20]);
    let body_len = u64::from_le_bytes(len8);
    let mut crc4 = [0u8; 4];
    crc4.copy_from_slice(&bytes[20..24]);
    let crc = u32::from_le_bytes(crc4);
    let have = (bytes.len() - HEADER) as u64;
    if body_len > have {
        let expected = usize::try_from(body_len)
            .unwrap_or(usize::MAX)
            .saturating_add(HEADER);
        return Err(Error::Truncated {
            expected,
            got: bytes.len(),
        });
    }
    if body_len < have {
        return Err(Error::Corrupted(alloc::format!(
            "{} unexpected bytes after the body",
            have - body_len
        )));
    }
    let body = &bytes[HEADER..];
    if crc32fast::hash(body) != crc {
        return Err(Error::ChecksumMismatch);
    }
    let (value, used) = bincode::decode_from_slice(body, config())
        .map_err(|e| Error::Corrupted(alloc::format!("cannot decode body: {e}")))?;
    if used != body.len() {
        return Err(Error::Corrupted("body has trailing bytes".into()));
    }
    Ok(value)
}
