//! grape-db's public-API tests, one binary; generated data only.

mod api;
mod common;
mod concurrency;
mod errors;
mod reopen;
