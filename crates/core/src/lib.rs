//! grape-core: the pure vector-search core of Grape.
#![cfg_attr(not(feature = "std"), no_std)]
#![warn(missing_docs)]

extern crate alloc;

pub mod distance;
mod error;
mod rng;

pub use error::{Error, Result};
pub use rng::Rng;
