//! grape-db's public-API tests, one binary; generated data only.

mod aliases;
mod api;
mod common;
mod concurrency;
mod errors;
mod mmap;
mod reopen;
