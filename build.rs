//! Compiles every `.proto` file under `proto/` into Rust code in `OUT_DIR`.
//!
//! The protos are parsed in pure Rust by protox, so a fresh machine needs no
//! `protoc`. The encoded descriptor sets (with source comments) are also
//! written to `OUT_DIR`: the wire API's for server reflection, and both for
//! the descriptor tests. The wire API also gets proto3 JSON serde impls from
//! pbjson-build, for the JSON Lines input of `dunghan push`. This script uses
//! no network and writes nowhere else.

use std::error::Error;
use std::path::{Path, PathBuf};

use protox::prost::Message as _;
use tonic_prost_build::FileDescriptorSet;

/// The directory that holds the proto sources; also the include root.
const PROTO_ROOT: &str = "proto";

/// The wire API's sources, below [`PROTO_ROOT`].
const WIRE_DIR: &str = "dunghan/v1";

/// The wire API's package, as pbjson-build names it (leading dot).
const WIRE_PACKAGE: &str = ".dunghan.v1";

/// The storage records' sources, below [`PROTO_ROOT`].
const STORAGE_DIR: &str = "dunghan/storage/v1";

/// The encoded descriptor set of the wire API (`dunghan.v1`) inside `OUT_DIR`.
const WIRE_DESCRIPTOR_FILE: &str = "dunghan_v1_descriptor.bin";

/// The encoded descriptor set of the storage records (`dunghan.storage.v1`)
/// inside `OUT_DIR`.
const STORAGE_DESCRIPTOR_FILE: &str = "dunghan_storage_v1_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    // A directory makes Cargo rerun this script when any file below it changes.
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);

    // The wire API and the storage records are compiled apart: reflection
    // serves only the wire API, and each set holds only what it imports.
    let wire_api = compile_dir(WIRE_DIR)?;
    let wire_descriptor_bytes = wire_api.encode_to_vec();
    std::fs::write(out_dir.join(WIRE_DESCRIPTOR_FILE), &wire_descriptor_bytes)?;
    // The wire API's well-known types come from pbjson-types rather than
    // prost-types: same fields, but they serialize per the proto3 JSON mapping
    // (RFC 3339 timestamps, "1.5s" durations), which the generated serde impls
    // of the wire messages require of their fields.
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        // Needed for the extern path below: otherwise prost-build maps
        // google.protobuf to prost-types itself and refuses a second mapping.
        // Nothing of google.protobuf is generated: the extern path wins.
        .compile_well_known_types(true)
        .extern_path(".google.protobuf", "::pbjson_types")
        .compile_fds(wire_api)?;
    // Proto3 JSON (serde) for the wire API only, written to
    // `OUT_DIR/dunghan.v1.serde.rs`; storage records are never JSON.
    pbjson_build::Builder::new()
        .register_descriptors(&wire_descriptor_bytes)?
        .out_dir(&out_dir)
        .build(&[WIRE_PACKAGE])?;

    let storage = compile_dir(STORAGE_DIR)?;
    std::fs::write(
        out_dir.join(STORAGE_DESCRIPTOR_FILE),
        storage.encode_to_vec(),
    )?;
    // Storage records are never served, so no gRPC code is generated for them.
    tonic_prost_build::configure()
        .build_server(false)
        .build_client(false)
        .compile_fds(storage)?;
    Ok(())
}

/// Compiles every `.proto` file below `PROTO_ROOT/dir`, and what they import,
/// into one descriptor set with source info.
fn compile_dir(dir: &str) -> Result<FileDescriptorSet, Box<dyn Error>> {
    let mut protos = Vec::new();
    collect_protos(&Path::new(PROTO_ROOT).join(dir), &mut protos)?;
    // Sorted so the generated code and descriptor bytes do not depend on
    // directory iteration order.
    protos.sort();
    // Source info is kept on purpose: it carries the comments that become
    // rustdoc, reflection documentation, and the lint in
    // tests/proto_descriptors.rs. Imports are kept so that reflection clients
    // can resolve the google.protobuf types.
    let descriptor_set = protox::Compiler::new([PROTO_ROOT])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(&protos)?
        .file_descriptor_set();
    Ok(descriptor_set)
}

/// Appends every `.proto` file below `dir` to `protos`, as paths relative to
/// the current directory (the package root, where Cargo runs build scripts).
fn collect_protos(dir: &Path, protos: &mut Vec<PathBuf>) -> Result<(), Box<dyn Error>> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            collect_protos(&path, protos)?;
        } else if path.extension().is_some_and(|ext| ext == "proto") {
            protos.push(path);
        }
    }
    Ok(())
}
