//! The crash test's workload: batches of points generated from the batch
//! number alone, so that the child that writes them and the test that checks
//! them agree without talking. Shared by `crash-child` and `tests/crash.rs`.

use std::collections::BTreeSet;

use grape_core::PointData;
use grape_core::payload::PointId;
use serde_json::{Value, json};

/// The collection the child writes.
pub const COLLECTION: &str = "crash";
/// Dimension of its dense vectors.
pub const DIM: usize = 16;
/// Fresh batch `b` owns the ids `b * SPAN .. b * SPAN + len(b)`.
const SPAN: u64 = 256;
/// UUID ids are this plus the integer the id would otherwise have.
const UUID_BASE: u128 = 0xc4a5_0000_0000_4000_8000_0000_0000_0000;

/// The core's seeded generator (SplitMix64), with the draws the workload needs.
pub struct Rng(grape_core::Rng);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(grape_core::Rng::new(seed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    fn float(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32 * 2.0 - 1.0
    }
}

fn rng_of(batch: u64) -> Rng {
    Rng::new(batch.wrapping_mul(0xa076_1d64_78bd_642f) ^ 0x5eed)
}

/// Number of points in batch `b` (50 to 200).
pub fn batch_len(b: u64) -> usize {
    rng_of(b).range(50, 200) as usize
}

/// Whether batch `b` rewrites ids of earlier batches (about one in three,
/// from batch 2 on) instead of adding new ones.
pub fn is_replacing(b: u64) -> bool {
    b >= 2 && (rng_of(b).next_u64() >> 32).is_multiple_of(3)
}

/// Point `j` of fresh batch `owner`; every tenth is a UUID.
fn point_id(owner: u64, j: u64) -> PointId {
    let n = owner * SPAN + j;
    if j % 10 == 9 {
        PointId::Uuid(UUID_BASE + u128::from(n))
    } else {
        PointId::Num(n)
    }
}

/// The ids batch `b` writes, distinct, in the order it writes them.
pub fn batch_ids(b: u64) -> Vec<PointId> {
    let n = batch_len(b);
    let mut rng = rng_of(b);
    rng.next_u64();
    rng.next_u64();
    if !is_replacing(b) {
        return (0..n as u64).map(|j| point_id(b, j)).collect();
    }
    // Ids of earlier fresh batches (batches 0 and 1 always are).
    let mut seen = BTreeSet::new();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..4 * n {
        if ids.len() == n {
            break;
        }
        let owner = rng.next_u64() % b;
        if is_replacing(owner) {
            continue;
        }
        let j = rng.next_u64() % batch_len(owner) as u64;
        let id = point_id(owner, j);
        if seen.insert(id) {
            ids.push(id);
        }
    }
    ids
}

/// The points of batch `b`: new vectors, and a payload that names the batch
/// (the marker the test checks all-or-nothing with).
pub fn batch(b: u64) -> Vec<PointData> {
    let ids = batch_ids(b);
    let mut rng = Rng::new(rng_of(b).next_u64() ^ 0xfeed);
    let n = ids.len();
    ids.into_iter()
        .enumerate()
        .map(|(pos, id)| {
            let mut v: Vec<f32> = (0..DIM).map(|_| rng.float()).collect();
            // Never the zero vector, which cosine rejects.
            v[0] += 0.01_f32.copysign(v[0]);
            let payload = json!({
                "batch": b,
                "pos": pos,
                "size": n,
                "tag": format!("b{b}-p{pos}-{:x}", rng.next_u64() & 0xffff),
            });
            let Value::Object(payload) = payload else {
                unreachable!("json! of an object literal")
            };
            PointData::dense(id, v, payload)
        })
        .collect()
}
