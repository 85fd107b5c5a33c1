//! Shared fixtures for Grape cross-crate tests.
