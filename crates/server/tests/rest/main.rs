//! The REST server in process on 127.0.0.1:0, over real HTTP: errors in
//! Qdrant's shape that leave data unchanged, auth, metrics, and restart
//! persistence.

mod auth;
mod client;
mod errors;
mod indexes;
mod openapi;
mod restart;
mod search;
mod snapshots;
mod update;
