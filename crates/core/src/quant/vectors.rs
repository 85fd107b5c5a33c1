//! The quantized copy of an index's vectors: one code per slot, in the same
//! slot space as the index's [`PointStore`], plus the trained quantizer.

use alloc::vec::Vec;

use super::binary::BinaryQuantizer;
use super::pq::ProductQuantizer;
use super::scalar::ScalarQuantizer;
use super::{PQ_ITERATIONS, PQ_SEED, PQ_TRAIN_MAX, Quantization};
use crate::error::{Error, Result};
use crate::metric::Metric;
use crate::store::{PointStore, permute_rows};

/// Codes of every slot and the quantizer that made them.
#[derive(Debug, Clone)]
pub(crate) enum Codes {
    Int8 {
        quantizer: ScalarQuantizer,
        /// `slots × dim` codes.
        codes: Vec<i8>,
        /// Squared norm of each decoded vector, for `Euclid` only (empty
        /// otherwise: dot and cosine estimates do not need it).
        norms: Vec<f32>,
        euclid: bool,
    },
    Binary {
        quantizer: BinaryQuantizer,
        /// `slots × words` words.
        words: Vec<u64>,
    },
    Product {
        quantizer: ProductQuantizer,
        /// `slots × m` bytes.
        codes: Vec<u8>,
    },
}

/// The quantized vectors of an index.
#[derive(Debug, Clone)]
pub(crate) struct QuantizedVectors {
    pub(crate) config: Quantization,
    pub(crate) codes: Codes,
}

impl QuantizedVectors {
    /// Trains `config` on the live vectors of `store` and encodes every slot.
    pub(crate) fn train(config: Quantization, store: &PointStore) -> Result<Self> {
        config.check(store.dim, store.metric)?;
        if !store.keeps_vectors {
            return Err(Error::InvalidParameter(
                "cannot train a quantizer: the original vectors were dropped".into(),
            ));
        }
        if store.live == 0 {
            return Err(Error::InvalidParameter(
                "cannot train a quantizer on an empty index: insert points first".into(),
            ));
        }
        let dim = store.dim;
        let live = || {
            (0..store.slot_count() as u32)
                .filter(|&s| store.is_live(s))
                .map(|s| store.vector(s))
        };
        let codes = match config {
            Quantization::Scalar { quantile } => Codes::Int8 {
                quantizer: ScalarQuantizer::train(live(), dim, quantile)?,
                codes: Vec::new(),
                norms: Vec::new(),
                euclid: store.metric == Metric::Euclid,
            },
            Quantization::Binary => Codes::Binary {
                quantizer: BinaryQuantizer::train(live(), dim)?,
                words: Vec::new(),
            },
            Quantization::Product { m } => {
                // k-means costs n · 256 · dim per round: train on an evenly
                // strided sample (deterministic, as everything in the core).
                let n = store.live;
                let step = n.div_ceil(PQ_TRAIN_MAX).max(1);
                let mut sample = Vec::with_capacity(n.min(PQ_TRAIN_MAX) * dim);
                live()
                    .step_by(step)
                    .for_each(|v| sample.extend_from_slice(v));
                Codes::Product {
                    quantizer: ProductQuantizer::train(&sample, dim, m, PQ_ITERATIONS, PQ_SEED)?,
                    codes: Vec::new(),
                }
            }
        };
        let mut out = QuantizedVectors { config, codes };
        out.reserve(store.slot_count());
        for s in 0..store.slot_count() as u32 {
            out.set(s, store.vector(s));
        }
        Ok(out)
    }

    /// Number of slots with a code.
    pub(crate) fn len(&self) -> usize {
        match &self.codes {
            Codes::Int8 {
                quantizer, codes, ..
            } => codes.len() / quantizer.dim(),
            Codes::Binary { quantizer, words } => words.len() / quantizer.words(),
            Codes::Product { quantizer, codes } => codes.len() / quantizer.m(),
        }
    }

    /// Every per-slot array of the codes with its row width (int8 norms
    /// only under `Euclid`, where they exist).
    fn arrays(&mut self) -> [Option<(&mut dyn Rows, usize)>; 2] {
        match &mut self.codes {
            Codes::Int8 {
                quantizer,
                codes,
                norms,
                euclid,
            } => [
                Some((codes as &mut dyn Rows, quantizer.dim())),
                euclid.then_some((norms as &mut dyn Rows, 1)),
            ],
            Codes::Binary { quantizer, words } => [Some((words, quantizer.words())), None],
            Codes::Product { quantizer, codes } => [Some((codes, quantizer.m())), None],
        }
    }

    pub(crate) fn reserve(&mut self, additional: usize) {
        for (rows, width) in self.arrays().into_iter().flatten() {
            rows.reserve_rows(additional, width);
        }
    }

    /// Stores the code of the prepared vector `v` for `slot`, which is an
    /// existing slot or the next new one.
    pub(crate) fn set(&mut self, slot: u32, v: &[f32]) {
        let s = slot as usize;
        debug_assert!(s <= self.len(), "slot beyond the end");
        fn put<T: Copy>(data: &mut Vec<T>, s: usize, code: &[T]) {
            let w = code.len();
            if s * w == data.len() {
                data.extend_from_slice(code);
            } else {
                data[s * w..(s + 1) * w].copy_from_slice(code);
            }
        }
        match &mut self.codes {
            Codes::Int8 {
                quantizer,
                codes,
                norms,
                euclid,
            } => {
                let code = quantizer.encode(v);
                if *euclid {
                    put(norms, s, &[quantizer.norm_sq(&code)]);
                }
                put(codes, s, &code);
            }
            Codes::Binary { quantizer, words } => put(words, s, &quantizer.encode(v)),
            Codes::Product { quantizer, codes } => {
                let code = quantizer
                    .encode(v)
                    .expect("vector length checked by the index");
                put(codes, s, &code);
            }
        }
    }

    /// Keeps the first `n` slots.
    pub(crate) fn truncate(&mut self, n: usize) {
        for (rows, width) in self.arrays().into_iter().flatten() {
            rows.truncate_rows(n, width);
        }
    }

    /// Moves the code of slot `order[i]` to slot `i`.
    pub(crate) fn permute(&mut self, order: &[u32]) {
        for (rows, width) in self.arrays().into_iter().flatten() {
            rows.permute(order, width);
        }
    }

    /// Keeps only the codes of `slots`, in that order (for writing the
    /// live points of a flat index).
    pub(crate) fn permute_keep(&mut self, slots: &[u32]) {
        for (rows, width) in self.arrays().into_iter().flatten() {
            rows.pick(slots, width);
        }
    }

    /// Bytes of one code (the quantized part of one vector).
    pub(crate) fn code_bytes(&self) -> usize {
        match &self.codes {
            Codes::Int8 {
                quantizer, euclid, ..
            } => quantizer.dim() + if *euclid { 4 } else { 0 },
            Codes::Binary { quantizer, .. } => quantizer.words() * 8,
            Codes::Product { quantizer, .. } => quantizer.m(),
        }
    }

    /// Bytes held (codes and quantizer), by capacity.
    pub(crate) fn memory_bytes(&self) -> usize {
        match &self.codes {
            Codes::Int8 {
                quantizer,
                codes,
                norms,
                ..
            } => codes.capacity() + norms.capacity() * 4 + quantizer.dim() * 8,
            Codes::Binary { quantizer, words } => words.capacity() * 8 + quantizer.dim() * 4,
            Codes::Product { quantizer, codes } => codes.capacity() + quantizer.dim() * 256 * 4,
        }
    }

    /// The persisted form.
    pub(crate) fn to_body(&self) -> QuantBody {
        let kind = match &self.codes {
            Codes::Int8 {
                quantizer, codes, ..
            } => {
                let (offsets, steps) = quantizer.parts();
                QuantKindBody::Int8 {
                    offsets: offsets.to_vec(),
                    steps: steps.to_vec(),
                    codes: codes.clone(),
                }
            }
            Codes::Binary { quantizer, words } => QuantKindBody::Binary {
                means: quantizer.means().to_vec(),
                words: words.clone(),
            },
            Codes::Product { quantizer, codes } => QuantKindBody::Product {
                quantizer: quantizer.clone(),
                codes: codes.clone(),
            },
        };
        let config = match self.config {
            Quantization::Scalar { quantile } => ConfigBody::Scalar { quantile },
            Quantization::Binary => ConfigBody::Binary,
            Quantization::Product { m } => ConfigBody::Product { m: m as u32 },
        };
        QuantBody { config, kind }
    }

    /// Loads the persisted form for an index of `slots` slots of `dim`
    /// components under `metric`; any inconsistency is [`Error::Corrupted`].
    pub(crate) fn from_body(
        b: QuantBody,
        dim: usize,
        metric: Metric,
        slots: usize,
    ) -> Result<Self> {
        let bad = |what: &str| Error::Corrupted(alloc::format!("quantized vectors: {what}"));
        let config = match b.config {
            ConfigBody::Scalar { quantile } => Quantization::Scalar { quantile },
            ConfigBody::Binary => Quantization::Binary,
            ConfigBody::Product { m } => Quantization::Product { m: m as usize },
        };
        config
            .check(dim, metric)
            .map_err(|e| bad(&alloc::format!("{e}")))?;
        let codes = match (config, b.kind) {
            (
                Quantization::Scalar { .. },
                QuantKindBody::Int8 {
                    offsets,
                    steps,
                    codes,
                },
            ) => {
                if offsets.len() != dim || steps.len() != dim {
                    return Err(bad("calibration length disagrees with the dimension"));
                }
                let finite = offsets.iter().all(|x| x.is_finite())
                    && steps.iter().all(|s| s.is_finite() && *s >= 0.0);
                if !finite {
                    return Err(bad("calibration is not finite"));
                }
                if codes.len() != slots * dim {
                    return Err(bad("code count disagrees with the point count"));
                }
                if codes.contains(&i8::MIN) {
                    return Err(bad("code out of range"));
                }
                let quantizer = ScalarQuantizer::from_parts(offsets, steps);
                let euclid = metric == Metric::Euclid;
                let norms = if euclid {
                    codes
                        .chunks_exact(dim)
                        .map(|c| quantizer.norm_sq(c))
                        .collect()
                } else {
                    Vec::new()
                };
                Codes::Int8 {
                    quantizer,
                    codes,
                    norms,
                    euclid,
                }
            }
            (Quantization::Binary, QuantKindBody::Binary { means, words }) => {
                if means.len() != dim || means.iter().any(|x| !x.is_finite()) {
                    return Err(bad("bad centre"));
                }
                let quantizer = BinaryQuantizer::with_means(means);
                if words.len() != slots * quantizer.words() {
                    return Err(bad("code count disagrees with the point count"));
                }
                Codes::Binary { quantizer, words }
            }
            (Quantization::Product { m }, QuantKindBody::Product { quantizer, codes }) => {
                quantizer.check()?;
                if quantizer.dim() != dim || quantizer.m() != m {
                    return Err(bad("quantizer shape disagrees with the index"));
                }
                if codes.len() != slots * m {
                    return Err(bad("code count disagrees with the point count"));
                }
                if codes.iter().any(|&c| c as usize >= quantizer.centroids()) {
                    return Err(bad("code names a missing centroid"));
                }
                Codes::Product { quantizer, codes }
            }
            _ => return Err(bad("codes disagree with the configuration")),
        };
        Ok(QuantizedVectors { config, codes })
    }
}

/// A flat array of fixed-width rows, one per slot.
trait Rows {
    fn reserve_rows(&mut self, additional: usize, width: usize);
    fn truncate_rows(&mut self, n: usize, width: usize);
    /// Moves row `order[i]` to row `i`.
    fn permute(&mut self, order: &[u32], width: usize);
    /// Keeps rows `slots`, in that order.
    fn pick(&mut self, slots: &[u32], width: usize);
}

impl<T: Copy> Rows for Vec<T> {
    fn reserve_rows(&mut self, additional: usize, width: usize) {
        self.reserve_exact(additional * width);
    }

    fn truncate_rows(&mut self, n: usize, width: usize) {
        self.truncate(n * width);
    }

    fn permute(&mut self, order: &[u32], width: usize) {
        permute_rows(self, width, order);
    }

    fn pick(&mut self, slots: &[u32], width: usize) {
        let mut out = Vec::with_capacity(slots.len() * width);
        for &s in slots {
            let s = s as usize;
            out.extend_from_slice(&self[s * width..(s + 1) * width]);
        }
        *self = out;
    }
}

/// Persisted quantization configuration.
#[derive(Debug, bincode::Encode, bincode::Decode)]
pub(crate) enum ConfigBody {
    Scalar { quantile: f32 },
    Binary,
    Product { m: u32 },
}

/// Persisted quantizer and codes. Int8 norms are recomputed on load.
#[derive(Debug, bincode::Encode, bincode::Decode)]
pub(crate) enum QuantKindBody {
    Int8 {
        offsets: Vec<f32>,
        steps: Vec<f32>,
        codes: Vec<i8>,
    },
    Binary {
        means: Vec<f32>,
        words: Vec<u64>,
    },
    Product {
        quantizer: ProductQuantizer,
        codes: Vec<u8>,
    },
}

/// Persisted quantized vectors.
#[derive(Debug, bincode::Encode, bincode::Decode)]
pub(crate) struct QuantBody {
    config: ConfigBody,
    kind: QuantKindBody,
}
