//! Loading the byte format in pieces, from a [`ByteSource`], so that the
//! bytes never need to be in memory whole: a JS caller holds them as
//! chunks of a stream, copies one 64 KiB block at a time into wasm memory
//! and drops the chunks the loader has consumed.
//!
//! Two passes over the source, with the guarantees of
//! [`Collection::from_bytes`](crate::Collection::from_bytes): the first
//! reads the header, checks it as the slice loader does (the same parser)
//! and computes the checksum of the body block by block, so damaged bytes
//! are rejected before anything is decoded; the second decodes the body
//! from buffered blocks, checksumming again (a source whose bytes changed
//! between the passes is rejected as well).

use alloc::vec;
use alloc::vec::Vec;

use bincode::de::read::Reader;
use bincode::error::DecodeError;

use crate::error::{Error, Result};
use crate::format::{self, CheckedBody, HEADER, Header};

/// Bytes of the portable format that the loader reads in pieces
/// ([`Collection::from_source`](crate::Collection::from_source)).
///
/// Reads are sequential within each of the loader's two passes (checksum,
/// then decoding) and never cross [`ByteSource::len`].
pub trait ByteSource {
    /// Total length of the bytes.
    fn len(&self) -> u64;

    /// True when there are no bytes.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Fills `buf` with the bytes at `offset..offset + buf.len()`. An error
    /// is passed on to the caller of the loader unchanged.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// Called in the decoding pass: the loader will not read the bytes
    /// before `up_to` again, so the source may release them.
    fn consumed(&mut self, _up_to: u64) {}
}

impl ByteSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let at = usize::try_from(offset).unwrap_or(usize::MAX);
        let src = at
            .checked_add(buf.len())
            .and_then(|end| self.get(at..end))
            .ok_or_else(|| Error::Corrupted("read beyond the end of the bytes".into()))?;
        buf.copy_from_slice(src);
        Ok(())
    }
}

/// The size of the blocks read from a source (the loader's only buffer).
pub(crate) const BLOCK: usize = 64 * 1024;

/// A source whose header and checksum were checked (the first pass).
pub(crate) struct SourceBody<'s, S: ByteSource + ?Sized> {
    source: &'s mut S,
    header: Header,
    block: Vec<u8>,
}

impl<'s, S: ByteSource + ?Sized> SourceBody<'s, S> {
    /// Reads and checks the header, then checksums the body block by block.
    pub(crate) fn open(source: &'s mut S) -> Result<Self> {
        let total = source.len();
        let mut start = [0u8; HEADER];
        let n = usize::try_from(total).map_or(HEADER, |t| t.min(HEADER));
        source.read_at(0, &mut start[..n])?;
        let header = format::header(&start[..n], total)?;
        let block_len = usize::try_from(header.body_len).map_or(BLOCK, |b| b.min(BLOCK));
        let mut block = vec![0u8; block_len];
        let mut crc = crc32fast::Hasher::new();
        let mut at = HEADER as u64;
        while at < total {
            let n = block_len.min((total - at) as usize);
            source.read_at(at, &mut block[..n])?;
            crc.update(&block[..n]);
            at += n as u64;
        }
        if crc.finalize() != header.crc {
            return Err(Error::ChecksumMismatch);
        }
        Ok(SourceBody {
            source,
            header,
            block,
        })
    }
}

impl<S: ByteSource + ?Sized> CheckedBody for SourceBody<'_, S> {
    fn version(&self) -> u16 {
        self.header.version
    }

    fn decode<T: bincode::Decode<()>>(self) -> Result<T> {
        let mut reader = BlockReader {
            source: self.source,
            block: self.block,
            pos: 0,
            filled: 0,
            next: HEADER as u64,
            end: HEADER as u64 + self.header.body_len,
            crc: crc32fast::Hasher::new(),
            failed: None,
        };
        let decoded = bincode::decode_from_reader(&mut reader, format::config());
        if let Some(e) = reader.failed.take() {
            return Err(e);
        }
        let value = decoded.map_err(format::undecodable)?;
        if reader.pos != reader.filled || reader.next != reader.end {
            return Err(format::trailing());
        }
        if reader.crc.finalize() != self.header.crc {
            return Err(Error::Corrupted(
                "the bytes changed between the checksum pass and decoding".into(),
            ));
        }
        Ok(value)
    }
}

/// bincode's view of the body: one buffered block at a time (reads of a
/// block or more go straight from the source into the decoded value).
struct BlockReader<'s, S: ByteSource + ?Sized> {
    source: &'s mut S,
    block: Vec<u8>,
    /// Next unread byte of `block`.
    pos: usize,
    /// Bytes of `block` holding data.
    filled: usize,
    /// Offset in the source of the byte after `block`'s data.
    next: u64,
    /// End of the body in the source.
    end: u64,
    /// Checksum of the body bytes read so far.
    crc: crc32fast::Hasher,
    /// The source's error, which bincode's error type cannot carry.
    failed: Option<Error>,
}

impl<S: ByteSource + ?Sized> BlockReader<'_, S> {
    /// Reads `buf.len()` bytes at `next` from the source (within the body).
    fn fetch(&mut self, buf: &mut [u8]) -> core::result::Result<(), DecodeError> {
        if let Err(e) = self.source.read_at(self.next, buf) {
            self.failed = Some(e);
            return Err(DecodeError::Other("the byte source failed"));
        }
        self.crc.update(buf);
        self.next += buf.len() as u64;
        // Everything before `next` is decoded or copied into `block`.
        self.source.consumed(self.next);
        Ok(())
    }
}

impl<S: ByteSource + ?Sized> Reader for BlockReader<'_, S> {
    fn read(&mut self, out: &mut [u8]) -> core::result::Result<(), DecodeError> {
        let buffered = self.filled - self.pos;
        if out.len() <= buffered {
            out.copy_from_slice(&self.block[self.pos..self.pos + out.len()]);
            self.pos += out.len();
            return Ok(());
        }
        // As a slice reader: fail before consuming anything.
        let available = buffered as u64 + (self.end - self.next);
        if out.len() as u64 > available {
            return Err(DecodeError::UnexpectedEnd {
                additional: out.len() - available as usize,
            });
        }
        let (head, rest) = out.split_at_mut(buffered);
        head.copy_from_slice(&self.block[self.pos..self.filled]);
        self.pos = self.filled;
        if rest.len() >= self.block.len() {
            return self.fetch(rest);
        }
        let n = self.block.len().min((self.end - self.next) as usize);
        let mut block = core::mem::take(&mut self.block);
        let fetched = self.fetch(&mut block[..n]);
        self.block = block;
        fetched?;
        self.pos = rest.len();
        self.filled = n;
        rest.copy_from_slice(&self.block[..rest.len()]);
        Ok(())
    }

    fn peek_read(&mut self, n: usize) -> Option<&[u8]> {
        (self.filled - self.pos >= n).then(|| &self.block[self.pos..self.pos + n])
    }

    fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.filled);
    }
}

#[cfg(test)]
mod tests {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use serde_json::json;

    use super::ByteSource;
    use crate::payload::{FieldSchema, PointId};
    use crate::query::QueryRequest;
    use crate::{Collection, CollectionConfig, Error, PointData, Result, Rng};

    /// Bytes in chunks of varying sizes (`size`, `2 × size + 1`, `size`,
    /// ...), as a stream delivers them. Chunks the loader reports consumed
    /// are dropped; reading one of them again fails the test.
    struct Chunked {
        chunks: Vec<Option<Vec<u8>>>,
        starts: Vec<u64>,
        len: u64,
        consumed: u64,
        largest_read: usize,
    }

    impl Chunked {
        fn new(bytes: &[u8], size: usize) -> Self {
            let (mut chunks, mut starts) = (Vec::new(), Vec::new());
            let mut at = 0;
            while at < bytes.len() {
                let n = if chunks.len() % 2 == 0 {
                    size
                } else {
                    2 * size + 1
                };
                let end = (at + n).min(bytes.len());
                starts.push(at as u64);
                chunks.push(Some(bytes[at..end].to_vec()));
                at = end;
            }
            Chunked {
                chunks,
                starts,
                len: bytes.len() as u64,
                consumed: 0,
                largest_read: 0,
            }
        }
    }

    impl ByteSource for Chunked {
        fn len(&self) -> u64 {
            self.len
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
            assert!(offset + buf.len() as u64 <= self.len, "read beyond the end");
            self.largest_read = self.largest_read.max(buf.len());
            if buf.is_empty() {
                return Ok(());
            }
            let mut i = self.starts.partition_point(|&s| s <= offset) - 1;
            let mut done = 0;
            while done < buf.len() {
                let chunk = self.chunks[i].as_ref().expect("read of a consumed chunk");
                let from = (offset + done as u64 - self.starts[i]) as usize;
                let n = (chunk.len() - from).min(buf.len() - done);
                buf[done..done + n].copy_from_slice(&chunk[from..from + n]);
                done += n;
                i += 1;
            }
            Ok(())
        }

        fn consumed(&mut self, up_to: u64) {
            assert!(up_to >= self.consumed, "consumed went backwards");
            self.consumed = up_to;
            for (i, chunk) in self.chunks.iter_mut().enumerate() {
                let end = self.starts.get(i + 1).copied().unwrap_or(self.len);
                if end <= up_to {
                    *chunk = None;
                }
            }
        }
    }

    const SIZES: [usize; 8] = [1, 7, 24, 1000, 65_535, 65_537, 200_001, usize::MAX];

    /// Dense (int8 codes only, past the quantization threshold), with payloads.
    fn dense_codes_only() -> Collection {
        let config = CollectionConfig::from_json(
            r#"{"vectors": {"size": 16, "distance": "Cosine", "hnsw_config": {"ef_construct": 32}},
                "quantization_config": {"scalar": {"type": "int8", "keep_originals": false}}}"#,
        )
        .unwrap();
        let mut c = Collection::new(config).unwrap();
        let n = 1200;
        let mut rng = Rng::new(3);
        let vectors: Vec<f32> = (0..n * 16).map(|_| rng.next_f32_signed()).collect();
        let ids: Vec<PointId> = (0..n as u64).map(PointId::Num).collect();
        let payloads = (0..n)
            .map(|i| {
                json!({"n": i, "tag": format!("grape {i}")})
                    .as_object()
                    .unwrap()
                    .clone()
            })
            .collect();
        c.upsert_dense("", &ids, &vectors, Some(payloads)).unwrap();
        assert!(c.stats().dense[0].2 < n * 16 * 4, "originals were dropped");
        c
    }

    /// Sparse vectors, a text field, payloads and a payload index, a deletion.
    fn hybrid() -> Collection {
        let config = CollectionConfig::from_json(
            r#"{"vectors": {"size": 4, "distance": "Dot", "hnsw_config": {"ef_construct": 32}},
                "sparse_vectors": {"terms": {"modifier": "idf"}},
                "text_fields": {"body": {"stopwords": "english"}}}"#,
        )
        .unwrap();
        let mut c = Collection::new(config).unwrap();
        let words = ["grape", "vine", "cellar", "oak", "barrel", "harvest"];
        let points = (0..2000u32)
            .map(|i| {
                let f = i as f32;
                let id = if i % 7 == 0 {
                    json!(format!("00000000-0000-0000-0000-{i:012}"))
                } else {
                    json!(i)
                };
                let p = json!({
                    "id": id,
                    "vector": {"": [f.sin(), f.cos(), 1.0, f / 2000.0],
                               "terms": {"indices": [i % 50, 77], "values": [1.0, 0.25]}},
                    "payload": {"body": format!("{} {} and {}", words[i as usize % 6],
                                                words[(i as usize / 6) % 6], i),
                                "group": i % 5, "nested": {"a": [i, "x"]}},
                });
                PointData::from_value(&p, "p").unwrap()
            })
            .collect();
        c.upsert(points).unwrap();
        c.create_payload_index("group", FieldSchema::Integer)
            .unwrap();
        c.delete(&[PointId::Num(3), PointId::Num(10)]);
        c
    }

    fn empty() -> Collection {
        Collection::new(
            CollectionConfig::from_json(r#"{"vectors": {"size": 3, "distance": "Euclid"}}"#)
                .unwrap(),
        )
        .unwrap()
    }

    fn answers(c: &Collection) -> Vec<Vec<(String, u32)>> {
        let requests = [
            r#"{"query": [0.5, 0.5, 1.0, 0.1], "limit": 5}"#,
            r#"{"query": {"text": "grape cellar"}, "using": "body", "limit": 5}"#,
            r#"{"query": {"indices": [7, 77], "values": [1.0, 1.0]}, "using": "terms", "limit": 5,
                "filter": {"must": [{"key": "group", "match": {"value": 2}}]}}"#,
        ];
        requests
            .iter()
            .filter_map(|r| c.query(&QueryRequest::from_json(r).unwrap()).ok())
            .map(|hits| {
                hits.iter()
                    .map(|h| (h.id.to_string(), h.score.to_bits()))
                    .collect()
            })
            .collect()
    }

    #[test]
    fn from_source_loads_what_from_bytes_loads() {
        for c in [dense_codes_only(), hybrid(), empty()] {
            let bytes = c.to_bytes();
            let want = Collection::from_bytes(&bytes).unwrap();
            assert_eq!(want.to_bytes(), bytes);
            for size in SIZES {
                let mut source = Chunked::new(&bytes, size.min(bytes.len()));
                let got = Collection::from_source(&mut source)
                    .unwrap_or_else(|e| panic!("chunks of {size}: {e}"));
                assert_eq!(got.to_bytes(), bytes, "chunks of {size}");
                assert_eq!(got.len(), want.len());
                assert_eq!(answers(&got), answers(&want), "chunks of {size}");
                // Everything was released, nothing was read twice in pass 2.
                assert_eq!(source.consumed, bytes.len() as u64);
                assert!(source.chunks.iter().all(Option::is_none));
            }
            let got = Collection::from_source(&mut &bytes[..]).unwrap();
            assert_eq!(got.to_bytes(), bytes);
        }
        let q = dense_codes_only();
        let hits = |c: &Collection| {
            c.query(
                &QueryRequest::from_json(&format!(
                    "{{\"query\": {:?}, \"limit\": 10}}",
                    [0.3f32; 16]
                ))
                .unwrap(),
            )
            .unwrap()
        };
        let back = Collection::from_source(&mut Chunked::new(&q.to_bytes(), 333)).unwrap();
        assert_eq!(hits(&back), hits(&q));
    }

    /// Large reads (the codes) go straight from the source: the loader
    /// buffers one 64 KiB block and asks for no more at a time otherwise.
    #[test]
    fn reads_blocks_of_64_kib() {
        let bytes = hybrid().to_bytes();
        assert!(bytes.len() > 2 * super::BLOCK, "{} bytes", bytes.len());
        let mut source = Chunked::new(&bytes, 4096);
        Collection::from_source(&mut source).unwrap();
        assert_eq!(source.largest_read, super::BLOCK);
    }

    /// Re-seals a body with a valid header and checksum.
    fn seal(body: &[u8]) -> Vec<u8> {
        let mut out = bytes_header(body.len() as u64, crc32fast::hash(body));
        out.extend_from_slice(body);
        out
    }

    fn bytes_header(len: u64, crc: u32) -> Vec<u8> {
        let mut out = crate::MAGIC.to_vec();
        out.extend_from_slice(&crate::FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }

    #[test]
    fn damage_gives_the_errors_of_from_bytes() {
        let good = hybrid().to_bytes();
        let body = &good[24..];
        let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
        for n in [0, 1, 5, 8, 12, 23, 24, 25, 100, good.len() - 1] {
            cases.push(("truncated", good[..n].to_vec()));
        }
        cases.push(("bad magic", b"GRAPEIDY".to_vec()));
        cases.push(("bad magic, short", b"XY".to_vec()));
        let mut v = good.clone();
        v[0] = b'g';
        cases.push(("bad magic, whole", v));
        let mut v = good.clone();
        v[8] = 99;
        cases.push(("version", v));
        let mut v = good.clone();
        v[8..10].copy_from_slice(&0u16.to_le_bytes());
        cases.push(("version 0", v));
        let mut v = good.clone();
        v[10] = 1;
        cases.push(("reserved", v));
        let mut v = good.clone();
        v.extend_from_slice(&[0, 0, 0]);
        cases.push(("trailing bytes", v));
        let mut v = good.clone();
        let at = v.len() - 3;
        v[at] ^= 0xff;
        cases.push(("checksum", v));
        let mut v = good.clone();
        v[20] ^= 1;
        cases.push(("checksum field", v));
        let mut v = good.clone();
        v[12..20].copy_from_slice(&u64::MAX.to_le_bytes());
        cases.push(("huge length", v));
        // Valid header and checksum, body not as written.
        let mut b = body.to_vec();
        b.push(0);
        cases.push(("body trailing bytes", seal(&b)));
        cases.push(("body cut short", seal(&body[..body.len() - 10])));
        cases.push(("body garbage", seal(&[0xff; 300])));
        cases.push(("body empty", seal(&[])));
        cases.push(("an index, not a collection", {
            let mut h = crate::FlatIndex::new(2, crate::Metric::Dot).unwrap();
            crate::VectorIndex::upsert(&mut h, 1, &[1.0, 2.0]).unwrap();
            crate::VectorIndex::to_bytes(&h)
        }));
        let mut v = good.clone();
        v[8..10].copy_from_slice(&1u16.to_le_bytes());
        let v1 = seal(&v[24..]);
        let mut v1 = v1;
        v1[8..10].copy_from_slice(&1u16.to_le_bytes());
        cases.push(("a version-2 body as version 1", v1));
        for (what, bytes) in &cases {
            let want = Collection::from_bytes(bytes).unwrap_err();
            for size in [1, 5, 4096, usize::MAX] {
                let size = size.min(bytes.len()).max(1);
                let got = Collection::from_source(&mut Chunked::new(bytes, size)).unwrap_err();
                assert_eq!(got, want, "{what}, chunks of {size}");
            }
            let got = Collection::from_source(&mut &bytes[..]).unwrap_err();
            assert_eq!(got, want, "{what}, one slice");
        }
        // Every kind of damage is covered.
        let mut codes: Vec<&str> = cases
            .iter()
            .map(|(_, b)| Collection::from_bytes(b).unwrap_err().code())
            .collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(
            codes,
            [
                "bad_magic",
                "checksum_mismatch",
                "corrupted",
                "truncated",
                "unsupported_version"
            ]
        );
        // Spot checks of the kinds.
        let kind = |i: usize| Collection::from_bytes(&cases[i].1).unwrap_err();
        assert_eq!(
            kind(0),
            Error::Truncated {
                expected: 24,
                got: 0
            }
        );
        assert!(matches!(kind(9), Error::Truncated { .. }));
        assert_eq!(kind(10), Error::BadMagic);
    }

    /// A source whose bytes change after the checksum pass.
    struct Changing {
        bytes: Vec<u8>,
        flip: usize,
        ends: usize,
    }

    impl ByteSource for Changing {
        fn len(&self) -> u64 {
            self.bytes.len() as u64
        }

        fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
            let at = offset as usize;
            buf.copy_from_slice(&self.bytes[at..at + buf.len()]);
            if at + buf.len() == self.bytes.len() {
                self.ends += 1;
                if self.ends == 1 {
                    self.bytes[self.flip] ^= 0x01;
                }
            }
            Ok(())
        }
    }

    #[test]
    fn a_source_that_changes_between_the_passes_is_rejected() {
        let bytes = hybrid().to_bytes();
        // A letter in a payload: the body still decodes, the checksum differs.
        let flip = bytes
            .windows(6)
            .position(|w| w == b"cellar")
            .expect("a payload string");
        let mut source = Changing {
            bytes: bytes.clone(),
            flip,
            ends: 0,
        };
        let e = Collection::from_source(&mut source).unwrap_err();
        assert!(
            matches!(&e, Error::Corrupted(m) if m.contains("changed")),
            "{e:?}"
        );
        assert_eq!(e.code(), "corrupted");
    }

    /// A source error reaches the caller unchanged, in either pass.
    #[test]
    fn source_errors_are_passed_on() {
        struct Failing<'a>(&'a [u8], u64);
        impl ByteSource for Failing<'_> {
            fn len(&self) -> u64 {
                self.0.len() as u64
            }
            fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<()> {
                if self.1 == 0 {
                    return Err(Error::InvalidQuery("gone".into()));
                }
                self.1 -= 1;
                (&mut &self.0[..]).read_at(offset, buf)
            }
        }
        let bytes = hybrid().to_bytes();
        let blocks = bytes.len().div_ceil(super::BLOCK) as u64;
        for reads in [0, 1, blocks, blocks + 1, blocks + 2] {
            let e = Collection::from_source(&mut Failing(&bytes, reads)).unwrap_err();
            assert_eq!(e, Error::InvalidQuery("gone".into()), "after {reads} reads");
        }
    }
}
