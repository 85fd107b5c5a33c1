//! What redb stores: point ids as order-preserving keys, points as
//! versioned records (payload JSON compressed with LZ4), and the catalogue
//! entry of a collection.
//!
//! Record layout (version 1): `[1u8][flags u8][bincode body]`, where the
//! body holds the dense vectors as given (not normalised), the sparse
//! vectors and the payload JSON, LZ4-compressed (block format) when flag
//! bit 0 is set, with its uncompressed length.

use std::collections::BTreeMap;

use grape_core::payload::{FieldSchema, Payload, PointId};
use grape_core::{PointData, SparseVector};

/// Version byte of point records.
const RECORD_VERSION: u8 = 1;
/// Flag: the payload bytes are LZ4-compressed.
const FLAG_LZ4: u8 = 1;
/// Payload JSON shorter than this is stored as it is.
const COMPRESS_FROM: usize = 64;
/// Bincode decoding refuses lengths beyond this (a damaged record must not
/// allocate without bound).
const DECODE_LIMIT: usize = 1 << 30;

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

/// The key of a point id: `0` + big-endian `u64` for integers, `1` +
/// big-endian `u128` for UUIDs, so that byte order is Qdrant's id order
/// (integers first).
pub(crate) fn id_key(id: &PointId) -> Vec<u8> {
    match *id {
        PointId::Num(n) => {
            let mut k = Vec::with_capacity(9);
            k.push(0);
            k.extend_from_slice(&n.to_be_bytes());
            k
        }
        PointId::Uuid(u) => {
            let mut k = Vec::with_capacity(17);
            k.push(1);
            k.extend_from_slice(&u.to_be_bytes());
            k
        }
    }
}

/// The id of a key written by [`id_key`].
pub(crate) fn key_id(key: &[u8]) -> Result<PointId, String> {
    match key {
        [0, rest @ ..] if rest.len() == 8 => Ok(PointId::Num(u64::from_be_bytes(
            rest.try_into().expect("8 bytes"),
        ))),
        [1, rest @ ..] if rest.len() == 16 => Ok(PointId::Uuid(u128::from_be_bytes(
            rest.try_into().expect("16 bytes"),
        ))),
        _ => Err(format!("bad point key of {} bytes", key.len())),
    }
}

/// The payload comes first, so that reading it alone ([`decode_payload`])
/// skips the vectors.
#[derive(bincode::Encode, bincode::Decode)]
struct RecordBody {
    payload_len: u64,
    payload: Vec<u8>,
    dense: Vec<(String, Vec<f32>)>,
    sparse: Vec<(String, Vec<u32>, Vec<f32>)>,
}

#[derive(bincode::Decode)]
struct PayloadPrefix {
    payload_len: u64,
    payload: Vec<u8>,
}

/// Sizes seen while encoding, for the compression figures.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PayloadSizes {
    /// Bytes of payload JSON.
    pub raw: u64,
    /// Bytes stored for them.
    pub stored: u64,
}

/// A point as its record bytes.
pub(crate) fn encode_point(p: &PointData, sizes: &mut PayloadSizes) -> Vec<u8> {
    let json = serde_json::to_vec(&p.payload).expect("payload maps serialise");
    let (flags, payload) = if json.len() >= COMPRESS_FROM {
        let c = lz4_flex::block::compress(&json);
        if c.len() < json.len() {
            (FLAG_LZ4, c)
        } else {
            (0, json.clone())
        }
    } else {
        (0, json.clone())
    };
    sizes.raw += json.len() as u64;
    sizes.stored += payload.len() as u64;
    let body = RecordBody {
        payload_len: json.len() as u64,
        payload,
        dense: p
            .vectors
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect(),
        sparse: p
            .sparse
            .iter()
            .map(|(n, v)| (n.clone(), v.indices.clone(), v.values.clone()))
            .collect(),
    };
    let mut out = vec![RECORD_VERSION, flags];
    out.extend(bincode::encode_to_vec(&body, config()).expect("writing to a vec"));
    out
}

/// The point of a record written by [`encode_point`].
pub(crate) fn decode_point(id: PointId, bytes: &[u8]) -> Result<PointData, String> {
    let (flags, body) = split(id, bytes)?;
    let (body, used): (RecordBody, usize) = bincode::decode_from_slice(body, config())
        .map_err(|e| format!("record of point {id}: {e}"))?;
    if used != bytes.len() - 2 {
        return Err(format!("record of point {id} has trailing bytes"));
    }
    let payload = payload_of(id, flags, body.payload_len, body.payload)?;
    let mut sparse = BTreeMap::new();
    for (name, indices, values) in body.sparse {
        let v = SparseVector::new(indices, values)
            .map_err(|e| format!("sparse vector {name:?} of point {id}: {e}"))?;
        sparse.insert(name, v);
    }
    Ok(PointData {
        id,
        vectors: body.dense.into_iter().collect(),
        sparse,
        payload,
    })
}

/// Only the payload of a record written by [`encode_point`].
pub(crate) fn decode_payload(id: PointId, bytes: &[u8]) -> Result<Payload, String> {
    let (flags, body) = split(id, bytes)?;
    let (p, _): (PayloadPrefix, usize) = bincode::decode_from_slice(body, config())
        .map_err(|e| format!("record of point {id}: {e}"))?;
    payload_of(id, flags, p.payload_len, p.payload)
}

fn split(id: PointId, bytes: &[u8]) -> Result<(u8, &[u8]), String> {
    let [version, flags, body @ ..] = bytes else {
        return Err(format!("record of point {id} is {} bytes", bytes.len()));
    };
    if *version != RECORD_VERSION {
        return Err(format!(
            "record of point {id} has version {version}, this build reads {RECORD_VERSION}"
        ));
    }
    Ok((*flags, body))
}

fn payload_of(id: PointId, flags: u8, len: u64, stored: Vec<u8>) -> Result<Payload, String> {
    let json = if flags & FLAG_LZ4 != 0 {
        // LZ4 expands at most ~255 times: a larger claim is damage.
        let len = usize::try_from(len)
            .ok()
            .filter(|&n| n <= stored.len().saturating_mul(256) + 64)
            .ok_or_else(|| format!("record of point {id}: implausible payload length"))?;
        lz4_flex::block::decompress(&stored, len)
            .map_err(|e| format!("payload of point {id}: {e}"))?
    } else {
        stored
    };
    serde_json::from_slice(&json).map_err(|e| format!("payload of point {id}: {e}"))
}

/// A collection's catalogue entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct StoredCollection {
    /// Unique over the database's life: names the points table and is
    /// written into the index file, so that a file left by a deleted
    /// collection of the same name is never loaded.
    pub uid: u64,
    /// The create-collection JSON as given (`None` for a restored one).
    pub config_json: Option<String>,
    /// An empty collection with the configuration, in the core's portable
    /// format: the configuration of a restored collection.
    pub template: Option<Vec<u8>>,
    /// Payload indexes, in creation order.
    pub payload_indexes: Vec<(String, FieldSchema)>,
}

#[derive(bincode::Encode, bincode::Decode)]
struct CatalogueBody {
    version: u8,
    uid: u64,
    config_json: Option<String>,
    template: Option<Vec<u8>>,
    payload_indexes: Vec<(String, String)>,
}

impl StoredCollection {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let body = CatalogueBody {
            version: 1,
            uid: self.uid,
            config_json: self.config_json.clone(),
            template: self.template.clone(),
            payload_indexes: self
                .payload_indexes
                .iter()
                .map(|(f, s)| (f.clone(), schema_name(*s).to_string()))
                .collect(),
        };
        bincode::encode_to_vec(&body, config()).expect("writing to a vec")
    }

    pub(crate) fn decode(bytes: &[u8]) -> Result<Self, String> {
        let (b, used): (CatalogueBody, usize) =
            bincode::decode_from_slice(bytes, config()).map_err(|e| e.to_string())?;
        if used != bytes.len() || b.version != 1 {
            return Err(format!("catalogue entry version {} or length", b.version));
        }
        let payload_indexes = b
            .payload_indexes
            .into_iter()
            .map(|(f, s)| {
                serde_json::from_value::<FieldSchema>(serde_json::Value::String(s.clone()))
                    .map(|schema| (f, schema))
                    .map_err(|_| format!("unknown payload index schema {s:?}"))
            })
            .collect::<Result<_, _>>()?;
        Ok(StoredCollection {
            uid: b.uid,
            config_json: b.config_json,
            template: b.template,
            payload_indexes,
        })
    }
}

fn schema_name(s: FieldSchema) -> String {
    match serde_json::to_value(s) {
        Ok(serde_json::Value::String(s)) => s,
        _ => unreachable!("field schemas serialise as strings"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_order_integers_before_uuids() {
        let ids = [
            PointId::Num(0),
            PointId::Num(255),
            PointId::Num(256),
            PointId::Num(u64::MAX),
            PointId::Uuid(0),
            PointId::Uuid(1 << 100),
        ];
        let keys: Vec<Vec<u8>> = ids.iter().map(id_key).collect();
        assert!(keys.windows(2).all(|w| w[0] < w[1]));
        for (id, k) in ids.iter().zip(&keys) {
            assert_eq!(key_id(k).unwrap(), *id);
        }
        assert!(key_id(&[2, 0]).is_err());
    }

    #[test]
    fn records_round_trip_and_compress() {
        let text = "a sentence that repeats itself. ".repeat(20);
        let payload = json!({"text": text, "n": 3}).as_object().unwrap().clone();
        let mut p = PointData::dense(PointId::Num(7), vec![1.0, -2.5], payload);
        p.sparse.insert(
            "s".into(),
            SparseVector::new(vec![3, 9], vec![0.5, 1.5]).unwrap(),
        );
        let mut sizes = PayloadSizes::default();
        let bytes = encode_point(&p, &mut sizes);
        assert!(sizes.stored < sizes.raw / 4, "{sizes:?}");
        assert_eq!(decode_point(PointId::Num(7), &bytes).unwrap(), p);
        assert_eq!(decode_payload(PointId::Num(7), &bytes).unwrap(), p.payload);
        for cut in [0, 1, 2, bytes.len() / 2, bytes.len() - 1] {
            assert!(decode_point(PointId::Num(7), &bytes[..cut]).is_err());
        }
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(decode_point(PointId::Num(7), &bad).is_err());
    }
}
