//! Vector quantization: scalar int8, binary and product quantizers.

pub mod binary;
pub mod pq;
pub mod scalar;
