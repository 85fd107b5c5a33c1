//! Readers for the TEXMEX `.fvecs` / `.ivecs` formats: per row a
//! little-endian `i32` length, then that many little-endian values.

use std::fs;

/// Row-major vectors of one dimension.
pub struct Vectors {
    pub dim: usize,
    pub data: Vec<f32>,
}

impl Vectors {
    pub fn len(&self) -> usize {
        self.data.len() / self.dim
    }
    pub fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }
    pub fn truncate(&mut self, rows: usize) {
        self.data.truncate(rows * self.dim);
    }
}

fn rows(path: &str) -> Result<(usize, Vec<[u8; 4]>), String> {
    let bytes = fs::read(path).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() < 4 {
        return Err(format!("{path}: empty or truncated"));
    }
    let dim = i32::from_le_bytes(bytes[..4].try_into().unwrap());
    if dim <= 0 {
        return Err(format!("{path}: bad row length {dim}"));
    }
    let dim = dim as usize;
    let row_bytes = 4 + 4 * dim;
    if bytes.len() % row_bytes != 0 {
        return Err(format!(
            "{path}: size {} is not a multiple of the row size {row_bytes}",
            bytes.len()
        ));
    }
    let mut words = Vec::with_capacity(bytes.len() / 4);
    for (r, row) in bytes.chunks_exact(row_bytes).enumerate() {
        if row[..4] != bytes[..4] {
            return Err(format!("{path}: row {r} has a different length"));
        }
        words.extend(row[4..].chunks_exact(4).map(|w| [w[0], w[1], w[2], w[3]]));
    }
    Ok((dim, words))
}

pub fn read_fvecs(path: &str) -> Result<Vectors, String> {
    let (dim, words) = rows(path)?;
    Ok(Vectors {
        dim,
        data: words.into_iter().map(f32::from_le_bytes).collect(),
    })
}

pub fn read_ivecs(path: &str) -> Result<Vec<Vec<u32>>, String> {
    let (dim, words) = rows(path)?;
    let ids: Vec<u32> = words
        .into_iter()
        .map(|w| i32::from_le_bytes(w) as u32)
        .collect();
    Ok(ids.chunks(dim).map(<[u32]>::to_vec).collect())
}
