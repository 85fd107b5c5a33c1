//! The portable byte format of an index.
//!
//! ```text
//! offset  size  field
//! 0       8     magic "GRAPEIDX"
//! 8       2     format version, little-endian (currently 2; 1 is still read)
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
/// The format version this build writes (and the newest it reads).
///
/// Version 2 added quantized vectors (quantizer and codes) and indexes that
/// keep only codes; version 1 bodies still load.
pub const FORMAT_VERSION: u16 = 2;
/// The oldest format version this build reads.
pub const OLDEST_FORMAT_VERSION: u16 = 1;
/// Bytes of the header before the body.
pub(crate) const HEADER: usize = 24;

pub(crate) fn config() -> impl bincode::config::Config {
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

/// What the 24-byte header says about the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Header {
    pub(crate) version: u16,
    pub(crate) body_len: u64,
    pub(crate) crc: u32,
}

/// Checks the header of bytes `total` long whose first `min(total, 24)`
/// bytes are `start`: magic, version, reserved field, and that the body
/// length matches `total` exactly (shorter: [`Error::Truncated`], longer:
/// trailing bytes). The one header parser, for slices and sources alike.
pub(crate) fn header(start: &[u8], total: u64) -> Result<Header> {
    let got = usize::try_from(total).unwrap_or(usize::MAX);
    if start.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(start) {
            Error::Truncated {
                expected: HEADER,
                got,
            }
        } else {
            Error::BadMagic
        });
    }
    if start[..8] != MAGIC {
        return Err(Error::BadMagic);
    }
    if start.len() < HEADER {
        return Err(Error::Truncated {
            expected: HEADER,
            got,
        });
    }
    let u16_at = |i: usize| u16::from_le_bytes([start[i], start[i + 1]]);
    let version = u16_at(8);
    if !(OLDEST_FORMAT_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(Error::UnsupportedVersion {
            found: version,
            supported: FORMAT_VERSION,
        });
    }
    if u16_at(10) != 0 {
        return Err(Error::Corrupted("reserved header field is not zero".into()));
    }
    let mut len8 = [0u8; 8];
    len8.copy_from_slice(&start[12..20]);
    let body_len = u64::from_le_bytes(len8);
    let mut crc4 = [0u8; 4];
    crc4.copy_from_slice(&start[20..24]);
    let crc = u32::from_le_bytes(crc4);
    let have = total - HEADER as u64;
    if body_len > have {
        let expected = usize::try_from(body_len)
            .unwrap_or(usize::MAX)
            .saturating_add(HEADER);
        return Err(Error::Truncated { expected, got });
    }
    if body_len < have {
        return Err(Error::Corrupted(alloc::format!(
            "{} unexpected bytes after the body",
            have - body_len
        )));
    }
    Ok(Header {
        version,
        body_len,
        crc,
    })
}

/// Checks the header and checksum; returns the format version and the body.
pub(crate) fn open(bytes: &[u8]) -> Result<(u16, &[u8])> {
    let h = header(&bytes[..bytes.len().min(HEADER)], bytes.len() as u64)?;
    let body = &bytes[HEADER..];
    if crc32fast::hash(body) != h.crc {
        return Err(Error::ChecksumMismatch);
    }
    Ok((h.version, body))
}

/// A body whose header (and checksum) were checked, ready to decode as
/// one type or another (the version decides which).
pub(crate) trait CheckedBody {
    /// The format version of the body.
    fn version(&self) -> u16;
    /// Decodes the body; it must be used whole.
    fn decode<T: bincode::Decode<()>>(self) -> Result<T>;
}

/// A body in memory.
pub(crate) struct SliceBody<'a> {
    version: u16,
    body: &'a [u8],
}

impl<'a> SliceBody<'a> {
    /// Checks the header and checksum of `bytes`.
    pub(crate) fn open(bytes: &'a [u8]) -> Result<Self> {
        let (version, body) = open(bytes)?;
        Ok(SliceBody { version, body })
    }
}

impl CheckedBody for SliceBody<'_> {
    fn version(&self) -> u16 {
        self.version
    }

    fn decode<T: bincode::Decode<()>>(self) -> Result<T> {
        let (value, used) = bincode::decode_from_slice(self.body, config()).map_err(undecodable)?;
        if used != self.body.len() {
            return Err(trailing());
        }
        Ok(value)
    }
}

pub(crate) fn undecodable(e: bincode::error::DecodeError) -> Error {
    Error::Corrupted(alloc::format!("cannot decode body: {e}"))
}

pub(crate) fn trailing() -> Error {
    Error::Corrupted("body has trailing bytes".into())
}

#[cfg(test)]
mod tests {
    use crate::{AnyIndex, SearchParams, VectorIndex};

    /// The committed golden file (written on x86_64) loads and searches the
    /// same on every target these unit tests run on, wasm32 included.
    #[test]
    fn golden_v1_loads_on_this_target() {
        let bytes = include_bytes!("../../../tests/data/golden-v1.hnsw");
        let AnyIndex::Hnsw(h) = AnyIndex::from_bytes(bytes).unwrap() else {
            panic!("golden file is not an HNSW index");
        };
        assert_eq!(h.len(), 55);
        // Re-encoded in the current version, it loads again unchanged.
        let again = h.to_bytes();
        assert_eq!(
            u16::from_le_bytes([again[8], again[9]]),
            super::FORMAT_VERSION
        );
        let AnyIndex::Hnsw(h2) = AnyIndex::from_bytes(&again).unwrap() else {
            panic!("re-encoded golden file is not an HNSW index");
        };
        assert_eq!(h2.to_bytes(), again);
        let q = [11.0, 0.0, 0.0, 0.5];
        let graph = h.search(&q, &SearchParams::top(3), None).unwrap();
        let exact = h
            .search(&q, &SearchParams::top(3).with_exact(true), None)
            .unwrap();
        assert_eq!(
            graph.iter().map(|x| x.id).collect::<alloc::vec::Vec<_>>(),
            exact.iter().map(|x| x.id).collect::<alloc::vec::Vec<_>>()
        );
        assert!(
            graph
                .iter()
                .all(|x| ![101, 117, 130, 142, 159].contains(&x.id))
        );
        let flat =
            AnyIndex::from_bytes(include_bytes!("../../../tests/data/golden-v1.flat")).unwrap();
        assert_eq!(flat.as_index().vector(6), Some(&[2.0, -1.0, 1.0][..]));
    }

    /// The quantized golden files (format 2, written on x86_64) load and
    /// search on every target: int8 codes rescored to the true top 3, and
    /// product codes without originals.
    #[test]
    fn golden_v2_quantized_loads_on_this_target() {
        use crate::{QuantSearch, Quantization};
        let q = [11.0, 0.0, 0.0, 0.5];
        let bytes = include_bytes!("../../../tests/data/golden-v2-int8.hnsw");
        let AnyIndex::Hnsw(h) = AnyIndex::from_bytes(bytes).unwrap() else {
            panic!("golden file is not an HNSW index");
        };
        assert_eq!(h.quantization(), Some(Quantization::int8()));
        assert_eq!(h.to_bytes(), bytes.as_slice());
        let ignore = QuantSearch {
            ignore: true,
            ..QuantSearch::default()
        };
        let exact = h
            .search(
                &q,
                &SearchParams::top(3)
                    .with_exact(true)
                    .with_quantization(ignore),
                None,
            )
            .unwrap();
        // Nearly parallel vectors, closer than int8 resolves: rescore all.
        let over = QuantSearch {
            oversampling: Some(20.0),
            ..QuantSearch::default()
        };
        let found = h
            .search(&q, &SearchParams::top(3).with_quantization(over), None)
            .unwrap();
        assert_eq!(found, exact);
        let bytes = include_bytes!("../../../tests/data/golden-v2-pq.hnsw");
        let AnyIndex::Hnsw(pq) = AnyIndex::from_bytes(bytes).unwrap() else {
            panic!("golden file is not an HNSW index");
        };
        assert!(!pq.keeps_originals());
        assert_eq!(pq.to_bytes(), bytes.as_slice());
        assert_eq!(pq.search(&q, &SearchParams::top(3), None).unwrap().len(), 3);
    }

    #[test]
    fn empty_and_short_inputs() {
        use crate::Error;
        assert_eq!(
            AnyIndex::from_bytes(&[]).unwrap_err(),
            Error::Truncated {
                expected: 24,
                got: 0
            }
        );
        assert_eq!(
            AnyIndex::from_bytes(b"GRAPE").unwrap_err(),
            Error::Truncated {
                expected: 24,
                got: 5
            }
        );
        assert_eq!(
            AnyIndex::from_bytes(b"GRAPEIDY").unwrap_err(),
            Error::BadMagic
        );
    }
}
