//! Generates the Rust code of Qdrant's gRPC protocol (`proto/*.proto`, package
//! `qdrant`) with tonic-prost-build.
//!
//! protoc comes from `protoc-bin-vendored` unless `PROTOC` names another one;
//! the well-known types (`google/protobuf/timestamp.proto`) from its include
//! directory, mapped to `prost_types`.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let protoc = match std::env::var_os("PROTOC") {
        Some(path) => PathBuf::from(path),
        None => protoc_bin_vendored::protoc_bin_path()?,
    };
    let well_known = protoc_bin_vendored::include_path()?;

    let mut config = tonic_prost_build::Config::new();
    config.protoc_executable(protoc);

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .build_transport(false)
        .compile_with_config(
            config,
            &[PathBuf::from("proto/qdrant.proto")],
            &[PathBuf::from("proto"), well_known],
        )?;
    println!("cargo:rerun-if-changed=proto");
    println!("cargo:rerun-if-env-changed=PROTOC");
    Ok(())
}
