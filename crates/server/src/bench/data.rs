//! The benchmark's data: TEXMEX `.fvecs` / `.ivecs` files, and an exact
//! cosine top-k for runs on a prefix of the base.

use std::path::Path;

/// One ANN dataset: base vectors, queries and each query's exact
/// neighbours (row numbers of the base, best first).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Dimension of every vector.
    pub dim: usize,
    /// Base vectors, row after row (`n × dim`).
    pub base: Vec<f32>,
    /// Query vectors, row after row.
    pub queries: Vec<f32>,
    /// Exact neighbours of each query by cosine similarity, best first.
    pub truth: Vec<Vec<u32>>,
}

impl Dataset {
    /// Number of base vectors.
    pub fn len(&self) -> usize {
        self.base.len() / self.dim.max(1)
    }

    /// Whether the base is empty.
    pub fn is_empty(&self) -> bool {
        self.base.is_empty()
    }

    /// Number of queries.
    pub fn query_count(&self) -> usize {
        self.queries.len() / self.dim.max(1)
    }

    /// Base vector `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        &self.base[i * self.dim..(i + 1) * self.dim]
    }

    /// Query `i`.
    pub fn query(&self, i: usize) -> &[f32] {
        &self.queries[i * self.dim..(i + 1) * self.dim]
    }

    /// Reads `<dir>/<name>.{base,query}.fvecs` and `<name>.gt100.ivecs`.
    /// With `limit_base`, keeps the first `limit_base` base vectors and
    /// recomputes the exact top-`k` by brute force; with `limit_queries`,
    /// keeps the first queries.
    pub fn load(
        dir: &Path,
        name: &str,
        limit_base: Option<usize>,
        limit_queries: Option<usize>,
        k: usize,
    ) -> Result<Self, String> {
        let file = |suffix: &str| dir.join(format!("{name}.{suffix}"));
        let (dim, mut base) = read_fvecs(&file("base.fvecs"))?;
        let (qdim, mut queries) = read_fvecs(&file("query.fvecs"))?;
        if qdim != dim {
            return Err(format!("queries have dimension {qdim}, the base {dim}"));
        }
        let mut truth = read_ivecs(&file("gt100.ivecs"))?;
        if truth.len() != queries.len() / dim {
            return Err(format!(
                "{} ground-truth rows for {} queries",
                truth.len(),
                queries.len() / dim
            ));
        }
        if let Some(q) = limit_queries {
            queries.truncate(q * dim);
            truth.truncate(q);
        }
        if let Some(n) = limit_base.filter(|&n| n < base.len() / dim) {
            base.truncate(n * dim);
            truth = exact_top_k(&base, &queries, dim, k);
        }
        if truth.iter().any(|t| t.len() < k) {
            return Err(format!("a ground-truth row has fewer than {k} ids"));
        }
        Ok(Dataset {
            dim,
            base,
            queries,
            truth,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))
}

/// Splits a TEXMEX file into rows of 4-byte words: each row is a
/// little-endian `i32` count followed by that many words.
fn rows(bytes: &[u8], path: &Path) -> Result<Vec<Vec<[u8; 4]>>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    let word = |i: usize| -> [u8; 4] { [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]] };
    while at < bytes.len() {
        if at + 4 > bytes.len() {
            return Err(format!("{}: truncated row header", path.display()));
        }
        let d = i32::from_le_bytes(word(at));
        let d = usize::try_from(d).map_err(|_| format!("{}: negative count", path.display()))?;
        at += 4;
        if at + 4 * d > bytes.len() {
            return Err(format!("{}: truncated row", path.display()));
        }
        out.push((0..d).map(|j| word(at + 4 * j)).collect());
        at += 4 * d;
    }
    Ok(out)
}

/// Reads an `.fvecs` file: (dimension, vectors row after row).
pub fn read_fvecs(path: &Path) -> Result<(usize, Vec<f32>), String> {
    let rows = rows(&read(path)?, path)?;
    let dim = rows.first().map_or(0, Vec::len);
    if rows.iter().any(|r| r.len() != dim) {
        return Err(format!("{}: rows of different dimensions", path.display()));
    }
    let flat = rows
        .iter()
        .flat_map(|r| r.iter().map(|w| f32::from_le_bytes(*w)))
        .collect();
    Ok((dim, flat))
}

/// Reads an `.ivecs` file: one `Vec<u32>` per row.
pub fn read_ivecs(path: &Path) -> Result<Vec<Vec<u32>>, String> {
    rows(&read(path)?, path)?
        .iter()
        .map(|r| {
            r.iter()
                .map(|w| {
                    u32::try_from(i32::from_le_bytes(*w))
                        .map_err(|_| format!("{}: negative id", path.display()))
                })
                .collect()
        })
        .collect()
}

fn normalized(v: &[f32]) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm == 0.0 {
        v.to_vec()
    } else {
        v.iter().map(|x| x / norm).collect()
    }
}

/// The exact top-`k` of each query by cosine similarity (brute force;
/// ties go to the lower row number).
pub fn exact_top_k(base: &[f32], queries: &[f32], dim: usize, k: usize) -> Vec<Vec<u32>> {
    let base: Vec<Vec<f32>> = base.chunks_exact(dim).map(normalized).collect();
    queries
        .chunks_exact(dim)
        .map(|q| {
            let q = normalized(q);
            let mut scored: Vec<(f32, u32)> = base
                .iter()
                .enumerate()
                .map(|(i, b)| (q.iter().zip(b).map(|(x, y)| x * y).sum::<f32>(), i as u32))
                .collect();
            scored.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            scored.iter().take(k).map(|&(_, i)| i).collect()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fvecs(rows: &[&[f32]]) -> Vec<u8> {
        let mut out = Vec::new();
        for r in rows {
            out.extend_from_slice(&(r.len() as i32).to_le_bytes());
            for x in *r {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out
    }

    #[test]
    fn reads_texmex_files_and_rejects_truncated_ones() {
        let dir = std::env::temp_dir().join(format!("grape-bench-data-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("a.fvecs");
        std::fs::write(&f, fvecs(&[&[1.0, 2.0], &[3.0, -4.5]])).unwrap();
        assert_eq!(read_fvecs(&f).unwrap(), (2, vec![1.0, 2.0, 3.0, -4.5]));
        let i = dir.join("a.ivecs");
        let mut bytes = Vec::new();
        for w in [3i32, 7, 0, 2, 1, 9] {
            bytes.extend_from_slice(&w.to_le_bytes());
        }
        std::fs::write(&i, &bytes).unwrap();
        assert_eq!(read_ivecs(&i).unwrap(), vec![vec![7, 0, 2], vec![9]]);
        std::fs::write(&i, &bytes[..bytes.len() - 2]).unwrap();
        assert!(read_ivecs(&i).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn exact_top_k_is_cosine_with_ties_to_the_lower_row() {
        let base = [1.0, 0.0, 0.0, 1.0, 2.0, 0.0, 1.0, 1.0];
        // Rows 0 and 2 point the same way as the query (a tie: row 0
        // first), row 3 is at 45 degrees, row 1 orthogonal.
        let truth = exact_top_k(&base, &[3.0, 0.0], 2, 3);
        assert_eq!(truth, vec![vec![0, 2, 3]]);
    }
}
