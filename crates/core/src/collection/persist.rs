//! Collection <-> the portable byte format: every dense index as its graph
//! (and codes), sparse vectors and payloads as records, text indexes as
//! their own encoding, payload indexes by schema (rebuilt on load).

use alloc::collections::BTreeMap;
use alloc::string::String;
use alloc::vec::Vec;

use super::{Collection, CollectionConfig, DenseQuantization, TextConfig};
use crate::error::{Error, Result};
use crate::format;
use crate::hnsw::Hnsw;
use crate::hnsw::persist::HnswBody;
use crate::index::{Body, body_of, open_body};
use crate::payload::{FieldSchema, Payload, PayloadStore, PointId};
use crate::quant::Quantization;
use crate::sparse::{Modifier, SparseIndex, SparseVector};
use crate::stream::{ByteSource, SourceBody};
use crate::text::TextIndex;

/// One stored sparse vector: offset, indices, values.
type SparseRecord = (u32, Vec<u32>, Vec<f32>);

#[derive(bincode::Encode, bincode::Decode)]
pub(crate) struct CollectionBody {
    dense: Vec<(String, HnswBody, Option<QuantConfigBody>)>,
    /// Per sparse vector: name, modifier (0 none, 1 idf), `(offset, indices, values)`.
    sparse: Vec<(String, u8, Vec<SparseRecord>)>,
    text: Vec<(String, TextIndex)>,
    /// `(offset, id, payload as JSON)` of every point, by offset.
    points: Vec<(u32, IdBody, String)>,
    /// Payload indexes: field and schema number (see `schema_number`).
    payload_indexes: Vec<(String, u8)>,
    free: Vec<u32>,
    next: u32,
}

#[derive(bincode::Encode, bincode::Decode)]
enum IdBody {
    Num(u64),
    Uuid(u128),
}

/// A dense vector's quantization setting (the trained codes live in its
/// `HnswBody`).
#[derive(bincode::Encode, bincode::Decode)]
struct QuantConfigBody {
    kind: u8,
    quantile: f32,
    m: u32,
    keep_originals: bool,
}

const SCHEMAS: [FieldSchema; 5] = [
    FieldSchema::Keyword,
    FieldSchema::Integer,
    FieldSchema::Float,
    FieldSchema::Bool,
    FieldSchema::Datetime,
];

fn bad(msg: impl Into<String>) -> Error {
    Error::Corrupted(msg.into())
}

impl Collection {
    /// The collection in Grape's portable byte format: the same bytes on
    /// every target, loadable by [`Collection::from_bytes`] anywhere.
    pub fn to_bytes(&self) -> Vec<u8> {
        let dense = self
            .dense
            .iter()
            .map(|(name, h)| {
                let q = self.config.quantization.get(name).map(|d| {
                    let (kind, quantile, m) = match d.quantization {
                        Quantization::Scalar { quantile } => (0, quantile, 0),
                        Quantization::Binary => (1, 0.0, 0),
                        Quantization::Product { m } => (2, 0.0, m as u32),
                    };
                    QuantConfigBody {
                        kind,
                        quantile,
                        m,
                        keep_originals: d.keep_originals,
                    }
                });
                (name.clone(), h.to_body(), q)
            })
            .collect();
        let sparse = self
            .sparse
            .iter()
            .map(|(name, index)| {
                let modifier = u8::from(index.modifier() == Modifier::Idf);
                let mut records: Vec<SparseRecord> = index
                    .iter()
                    .map(|(o, v)| (o, v.indices.clone(), v.values.clone()))
                    .collect();
                records.sort_unstable_by_key(|r| r.0);
                (name.clone(), modifier, records)
            })
            .collect();
        let text = self
            .text
            .iter()
            .map(|(n, t)| (n.clone(), t.clone()))
            .collect();
        let points = self
            .payloads
            .iter()
            .map(|(o, id, payload)| {
                let id = match *id {
                    PointId::Num(n) => IdBody::Num(n),
                    PointId::Uuid(u) => IdBody::Uuid(u),
                };
                let json = serde_json::to_string(payload).expect("payload maps serialise");
                (o, id, json)
            })
            .collect();
        let payload_indexes = self
            .payload_index_fields()
            .into_iter()
            .map(|(f, s)| {
                let n = SCHEMAS.iter().position(|&x| x == s).expect("known schema");
                (f, n as u8)
            })
            .collect();
        format::seal(&Body::Collection(CollectionBody {
            dense,
            sparse,
            text,
            points,
            payload_indexes,
            free: self.free.clone(),
            next: self.next,
        }))
    }

    /// Loads a collection written by [`Collection::to_bytes`]; any damage
    /// gives an error ([`Error::Corrupted`] and the format errors).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        Collection::from_checked(open_body(bytes)?)
    }

    /// Loads a collection from bytes read in pieces: the same checks and
    /// errors as [`Collection::from_bytes`] (the header, then the checksum
    /// of the whole body before anything is decoded), with one 64 KiB block
    /// of the bytes in memory at a time besides the decoded collection.
    /// The source is read twice (checksum, then decoding; a source whose
    /// bytes change in between is rejected as [`Error::Corrupted`]) and
    /// told in the second pass which bytes it may release.
    pub fn from_source<S: ByteSource + ?Sized>(source: &mut S) -> Result<Self> {
        Collection::from_checked(body_of(SourceBody::open(source)?)?)
    }

    fn from_checked(body: Body) -> Result<Self> {
        match body {
            Body::Collection(b) => Collection::from_body(b),
            _ => Err(bad("bytes hold an index, not a collection")),
        }
    }

    fn from_body(b: CollectionBody) -> Result<Self> {
        // Payloads first: their records (a list of JSON strings) are freed
        // before the indexes' maps are built, which lowers the peak memory
        // of a load (wasm memory never shrinks).
        let CollectionBody {
            dense: dense_bodies,
            sparse: sparse_bodies,
            text: text_bodies,
            points,
            payload_indexes,
            free,
            next,
        } = b;
        let mut payloads = PayloadStore::new();
        // Every offset below `next` is a point's or free (checked below);
        // an absurd `next` must not allocate.
        let slots = (next as usize).min(points.len() + free.len());
        payloads.reserve_exact(slots, points.len());
        for (offset, id, json) in points {
            if offset >= next {
                return Err(bad("point offset beyond the collection"));
            }
            let id = match id {
                IdBody::Num(n) => PointId::Num(n),
                IdBody::Uuid(u) => PointId::Uuid(u),
            };
            if payloads.internal_id(&id).is_some() {
                return Err(bad(alloc::format!("point id {id} stored twice")));
            }
            let payload: Payload = serde_json::from_str(&json)
                .map_err(|e| bad(alloc::format!("payload of point {id}: {e}")))?;
            payloads.set(offset, id, payload);
        }
        for (field, schema) in payload_indexes {
            let schema = *SCHEMAS
                .get(schema as usize)
                .ok_or_else(|| bad(alloc::format!("unknown payload index schema {schema}")))?;
            payloads
                .create_index(&field, schema)
                .map_err(|e| bad(alloc::format!("{e}")))?;
        }
        if free.iter().any(|&f| f >= next || payloads.get(f).is_some()) {
            return Err(bad("free offset in use"));
        }
        let mut config = CollectionConfig::default();
        let mut dense = BTreeMap::new();
        for (name, body, q) in dense_bodies {
            let h = Hnsw::from_body(body)?;
            config.dense.insert(name.clone(), *h.config());
            if let Some(q) = q {
                let quantization = match q.kind {
                    0 => Quantization::Scalar {
                        quantile: q.quantile,
                    },
                    1 => Quantization::Binary,
                    2 => Quantization::Product { m: q.m as usize },
                    k => return Err(bad(alloc::format!("unknown quantization kind {k}"))),
                };
                let dim = h.config().dim;
                quantization
                    .check(dim, h.config().metric)
                    .map_err(|e| bad(alloc::format!("{e}")))?;
                config.quantization.insert(
                    name.clone(),
                    DenseQuantization {
                        quantization,
                        keep_originals: q.keep_originals,
                    },
                );
            }
            dense.insert(name, h);
        }
        let mut sparse = BTreeMap::new();
        for (name, modifier, records) in sparse_bodies {
            let modifier = match modifier {
                0 => Modifier::None,
                1 => Modifier::Idf,
                m => return Err(bad(alloc::format!("unknown sparse modifier {m}"))),
            };
            config.sparse.insert(name.clone(), modifier);
            let mut index = SparseIndex::new(modifier);
            for (offset, indices, values) in records {
                let v =
                    SparseVector::new(indices, values).map_err(|e| bad(alloc::format!("{e}")))?;
                index
                    .upsert(offset, &v)
                    .map_err(|e| bad(alloc::format!("{e}")))?;
            }
            sparse.insert(name, index);
        }
        let mut text = BTreeMap::new();
        for (name, index) in text_bodies {
            config.text.insert(
                name.clone(),
                TextConfig {
                    tokenizer: index.tokenizer().clone(),
                    bm25: index.params(),
                },
            );
            text.insert(name, index);
        }
        Ok(Collection {
            config,
            dense,
            sparse,
            text,
            payloads,
            free,
            next,
        })
    }
}
