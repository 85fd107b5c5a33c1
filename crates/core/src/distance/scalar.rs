//! Reference kernels: plain loops, the specification every SIMD kernel is tested against.

/// Dot product.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Squared Euclidean distance.
pub fn l2_squared(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum()
}

/// Manhattan distance.
pub fn l1(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum()
}

/// Dot products of `q` with four vectors.
pub fn dot4(q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
    v.map(|x| dot(q, x))
}

/// Squared Euclidean distances of `q` to four vectors.
pub fn l2_squared4(q: &[f32], v: [&[f32]; 4]) -> [f32; 4] {
    v.map(|x| l2_squared(q, x))
}
