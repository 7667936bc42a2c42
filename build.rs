//! Compiles every `.proto` file under `proto/` into Rust code in `OUT_DIR`.
//!
//! The protos are parsed in pure Rust by protox, so a fresh machine needs no
//! `protoc`. The encoded descriptor set (with source comments) is also written
//! to `OUT_DIR/dunghan_descriptor.bin` for server reflection and the
//! descriptor tests. This script uses no network and writes nowhere else.

use std::error::Error;
use std::path::{Path, PathBuf};

use protox::prost::Message as _;

/// The directory that holds the proto sources; also the include root.
const PROTO_ROOT: &str = "proto";

/// The file name of the encoded descriptor set inside `OUT_DIR`.
const DESCRIPTOR_FILE: &str = "dunghan_descriptor.bin";

fn main() -> Result<(), Box<dyn Error>> {
    println!("cargo:rerun-if-changed={PROTO_ROOT}");
    println!("cargo:rerun-if-changed=build.rs");

    let mut protos = Vec::new();
    collect_protos(Path::new(PROTO_ROOT), &mut protos)?;
    // Sorted so the generated code and descriptor bytes do not depend on
    // directory iteration order.
    protos.sort();
    for proto in &protos {
        println!("cargo:rerun-if-changed={}", proto.display());
    }

    // Source info is kept on purpose: it carries the comments that become
    // rustdoc, reflection documentation, and the lint in tests/proto_descriptors.rs.
    let descriptor_set = protox::Compiler::new([PROTO_ROOT])?
        .include_source_info(true)
        .include_imports(true)
        .open_files(&protos)?
        .file_descriptor_set();

    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join(DESCRIPTOR_FILE),
        descriptor_set.encode_to_vec(),
    )?;

    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptor_set)?;
    Ok(())
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
